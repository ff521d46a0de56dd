//! envtest: the guard against a real kube-apiserver (v1.36) and etcd, in
//! controller-runtime's envtest convention.
//!
//! `KUBEBUILDER_ASSETS` names a directory holding `kube-apiserver` and `etcd`
//! (`setup-envtest use 1.36.x -p path`, or `../shared/envtest/unpack.sh`);
//! `CNPG_CRDS` a directory with CloudNativePG's CRDs; `POLICYREPORT_CRDS`
//! (optional) the wg-policy PolicyReport CRDs. Without the first two the suite
//! prints one line saying why it skipped, and succeeds.
//!
//! One control plane for the whole suite, on free loopback ports with its own
//! PKI and data directory; the tests run in order, each under catch_unwind,
//! and every child process is killed when its guard drops, also after a
//! failure. Output follows libtest (`test NAME ... ok`, `test result: ...`).
//!
//!     make envtest          # or: cargo test --locked --test envtest [-- FILTER]

#[path = "envtest/cases.rs"]
mod cases;
#[path = "envtest/control_plane.rs"]
mod control_plane;
#[path = "envtest/fixture.rs"]
mod fixture;
#[path = "envtest/guard.rs"]
mod guard;
#[path = "envtest/proc.rs"]
mod proc;
#[path = "envtest/runner.rs"]
mod runner;
mod support;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::time::Instant;

use fixture::{Env, Skip};

fn env_dir(var: &str) -> Option<PathBuf> {
    std::env::var_os(var).filter(|v| !v.is_empty()).map(PathBuf::from)
}

enum Outcome {
    Ok,
    Failed(String),
    Ignored(String),
}

fn run_one(env: &mut Env, test: cases::Test) -> Outcome {
    match catch_unwind(AssertUnwindSafe(|| test(env))) {
        Ok(()) => Outcome::Ok,
        Err(payload) => match payload.downcast_ref::<Skip>() {
            Some(Skip(reason)) => Outcome::Ignored(reason.clone()),
            None => Outcome::Failed(runner::panic_message(payload.as_ref())),
        },
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        for (name, _, _) in cases::TESTS {
            println!("{name}: test");
        }
        return;
    }
    let filters = runner::name_filters(&args);

    let Some(assets) = env_dir("KUBEBUILDER_ASSETS") else {
        println!(
            "envtest: skipped: KUBEBUILDER_ASSETS is not set (get kube-apiserver and etcd with: setup-envtest use 1.36.x -p path)"
        );
        return;
    };
    let Some(cnpg_crds) = env_dir("CNPG_CRDS") else {
        println!(
            "envtest: skipped: CNPG_CRDS is not set (a directory with the CloudNativePG CRDs, e.g. CNPG_CRDS=../shared/cnpg-crds)"
        );
        return;
    };

    // A skip is not a failure.
    runner::report_panics(|payload| payload.downcast_ref::<Skip>().is_some());

    let started = Instant::now();
    let selected: Vec<_> = cases::TESTS
        .iter()
        .filter(|(name, _, foundation)| {
            *foundation || filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()))
        })
        .collect();
    let filtered_out = cases::TESTS.len() - selected.len();
    println!(
        "\nrunning {} tests (kube-apiserver and etcd from {})",
        selected.len(),
        assets.display()
    );

    let mut env = match catch_unwind(|| Env::start(&assets, &cnpg_crds, env_dir("POLICYREPORT_CRDS"))) {
        Ok(env) => env,
        Err(payload) => runner::foundation_failed(
            "control_plane_starts_with_the_cnpg_crds",
            payload.as_ref(),
            cases::TESTS.len(),
            started,
        ),
    };
    println!(
        "    control plane at {} (etcd 127.0.0.1:{})",
        env.cp.server(),
        env.cp.etcd_port
    );

    let (mut passed, mut ignored) = (0, 0);
    let mut failures: Vec<(&str, String)> = Vec::new();
    let mut timings: Vec<String> = Vec::new();
    for (name, test, _) in selected {
        let t = Instant::now();
        let outcome = run_one(&mut env, *test);
        timings.push(format!("{name} {:.1}s", t.elapsed().as_secs_f64()));
        match outcome {
            Outcome::Ok => {
                passed += 1;
                println!("test {name} ... ok");
            }
            Outcome::Ignored(reason) => {
                ignored += 1;
                println!("test {name} ... ignored, {reason}");
            }
            Outcome::Failed(msg) => {
                println!("test {name} ... FAILED");
                failures.push((name, msg));
            }
        }
    }

    println!("\ntimings: {}", timings.join(", "));
    if !failures.is_empty() {
        runner::print_failures(&failures);
        if let Some(g) = &env.guard {
            println!("\nlast lines of the guard's log:\n{}", g.proc.tail(15));
        }
        println!("last lines of kube-apiserver's log:\n{}", env.cp.apiserver_log_tail(10));
    }
    // Stop the guard, kube-apiserver and etcd, and remove the data directory.
    drop(env);
    runner::finish(passed, &failures, ignored, filtered_out, started);
}
