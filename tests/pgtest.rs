//! pgtest: what the guard admits and denies, measured on a real PostgreSQL
//! server set up as CloudNativePG 1.28.4 sets up an instance.
//!
//! `PG_BIN` names a directory holding `initdb`, `postgres` and `psql`
//! (Debian: /usr/lib/postgresql/15/bin). Without it the suite prints one
//! line saying it skipped, and succeeds.
//!
//! Each test starts its own server (fresh data directory, a free port on
//! 127.0.0.1, its socket in a temp directory, TLS with an rcgen
//! certificate), applies CR fields with the SQL CNPG issues
//! (tests/pgtest/cnpg.rs, each statement citing its source) and logs in as
//! the tenants' apps over TCP with TLS and their passwords. The server is
//! stopped when the test ends, also when it fails. Denied cases also run
//! `cnpg-guard check` on the manifest. Output follows libtest.
//!
//!     make pgtest           # or: PG_BIN=... cargo test --locked --test pgtest [-- FILTER]

#[path = "pgtest/cases.rs"]
mod cases;
#[path = "pgtest/cnpg.rs"]
mod cnpg;
#[path = "pgtest/fixture.rs"]
mod fixture;
#[allow(dead_code)]
#[path = "envtest/proc.rs"]
mod proc;
#[path = "envtest/runner.rs"]
mod runner;
#[path = "pgtest/server.rs"]
mod server;
mod support;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::time::Instant;

use fixture::Suite;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        for (name, _) in cases::TESTS {
            println!("{name}: test");
        }
        return;
    }
    let filters = runner::name_filters(&args);

    let Some(pg_bin) = std::env::var_os("PG_BIN").filter(|v| !v.is_empty()).map(PathBuf::from) else {
        println!(
            "pgtest: skipped: PG_BIN is not set (a directory with PostgreSQL's initdb, postgres and psql, e.g. PG_BIN=/usr/lib/postgresql/15/bin)"
        );
        return;
    };
    for tool in ["initdb", "postgres", "psql"] {
        if !pg_bin.join(tool).is_file() {
            println!("pgtest: FAILED: PG_BIN={} has no {tool}", pg_bin.display());
            std::process::exit(101);
        }
    }

    runner::report_panics(|_| false);

    let started = Instant::now();
    let selected: Vec<_> = cases::TESTS
        .iter()
        .filter(|(name, _)| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str())))
        .collect();
    let filtered_out = cases::TESTS.len() - selected.len();
    let version = std::process::Command::new(pg_bin.join("postgres"))
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    println!(
        "\nrunning {} tests ({version}, from {})",
        selected.len(),
        pg_bin.display()
    );

    let suite = match catch_unwind(|| Suite::prepare(pg_bin.clone())) {
        Ok(s) => s,
        Err(payload) => runner::foundation_failed(
            "admitted_setup_is_written_by_onboard",
            payload.as_ref(),
            cases::TESTS.len(),
            started,
        ),
    };
    println!("    servers run as OS user {}", suite.os.name);

    let mut passed = 0;
    let mut failures: Vec<(&str, String)> = Vec::new();
    let mut timings: Vec<String> = Vec::new();
    for (name, test) in selected {
        let t = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| test(&suite)));
        timings.push(format!("{name} {:.1}s", t.elapsed().as_secs_f64()));
        match outcome {
            Ok(()) => {
                passed += 1;
                println!("test {name} ... ok");
            }
            Err(payload) => {
                println!("test {name} ... FAILED");
                failures.push((name, runner::panic_message(payload.as_ref())));
            }
        }
    }

    println!("\ntimings: {}", timings.join(", "));
    let notes = suite.notes.lock().unwrap_or_else(|e| e.into_inner());
    if !notes.is_empty() {
        println!("\nwhat the server showed:");
        println!(
            "    {:<46} {:<16} {:<30} harm on the server",
            "case", "rule", "cnpg-guard check"
        );
        for n in notes.iter() {
            println!("    {:<46} {:<16} {:<30} {}", n.case, n.rule, n.check, n.harm);
        }
    }
    drop(notes);
    if !failures.is_empty() {
        runner::print_failures(&failures);
    }
    drop(suite);
    runner::finish(passed, &failures, 0, filtered_out, started);
}
