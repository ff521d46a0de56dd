//! What the harness-less suites (envtest, pgtest) share with libtest: the
//! name filters they take, how a test's panic reads, and the closing lines.

use std::time::Instant;

/// A panic's message, whatever its payload.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(panic without a message)".into()
    }
}

/// Name filters, as libtest takes them; libtest's own flags (and the value
/// of those that take one) are accepted and ignored.
pub fn name_filters(args: &[String]) -> Vec<&String> {
    let mut filters = Vec::new();
    let mut takes_value = false;
    for a in args {
        if std::mem::take(&mut takes_value) {
            continue;
        }
        if a.starts_with('-') {
            takes_value = !a.contains('=')
                && [
                    "--test-threads",
                    "--skip",
                    "--format",
                    "--color",
                    "--logfile",
                    "-Z",
                    "--shuffle-seed",
                ]
                .contains(&a.as_str());
        } else {
            filters.push(a);
        }
    }
    filters
}

/// Test panics are reported once, under the test's name (printed where the
/// panic happens), except those `quiet` says are not failures (a skip).
pub fn report_panics(quiet: fn(&(dyn std::any::Any + Send)) -> bool) {
    std::panic::set_hook(Box::new(move |info| {
        if quiet(info.payload()) {
            return;
        }
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        println!(
            "    panicked{at}:\n{}",
            crate::proc::indent(&panic_message(info.payload()))
        );
    }));
}

/// What every test stands on (`name`) failed: reported as libtest reports
/// a failed test, every one of the `total` tests left out; exit 101.
pub fn foundation_failed(name: &str, payload: &(dyn std::any::Any + Send), total: usize, started: Instant) -> ! {
    println!("test {name} ... FAILED");
    println!("{}", crate::proc::indent(&panic_message(payload)));
    println!(
        "\ntest result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; {total} filtered out; finished in {:.2}s\n",
        started.elapsed().as_secs_f64()
    );
    std::process::exit(101);
}

/// libtest's `failures:` block: each failure's message under its name.
pub fn print_failures(failures: &[(&str, String)]) {
    println!("\nfailures:");
    for (name, msg) in failures {
        println!("\n---- {name} ----\n{}", crate::proc::indent(msg));
    }
}

/// libtest's closing lines: the failed tests' names, then the result line;
/// exit 101 if any failed.
pub fn finish(passed: usize, failures: &[(&str, String)], ignored: usize, filtered_out: usize, started: Instant) {
    if !failures.is_empty() {
        println!("\nfailures:");
        for (name, _) in failures {
            println!("    {name}");
        }
    }
    let failed = failures.len();
    println!(
        "\ntest result: {}. {passed} passed; {failed} failed; {ignored} ignored; 0 measured; {filtered_out} filtered out; finished in {:.2}s\n",
        if failed == 0 { "ok" } else { "FAILED" },
        started.elapsed().as_secs_f64()
    );
    if failed > 0 {
        std::process::exit(101);
    }
}
