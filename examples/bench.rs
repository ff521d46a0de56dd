//! `make bench`: drives `cnpg-guard serve` and the floor (`bench_baseline`)
//! with the same load over loopback TLS, and prints throughput, latency
//! percentiles, the ratio to the floor, peak RSS and cold start, then the
//! same at 10,000-object scale.
//!
//! `--compare` (`make peer-bench`) runs instead the same load against the
//! guard, the floor, a guard built from another commit (`--old-guard`) and
//! a Go webhook that only decodes the review (`--peer`, examples/peer-go),
//! in alternating rounds, and prints each server's CPU per review and the
//! ratios between them.
//!
//! Traffic goes to 127.0.0.1 only; every run is bounded in time.
//!
//! Usage (from the repository root, after a release build):
//!   target/release/examples/bench [--seconds 4] [--quick]
//!   target/release/examples/bench --compare [--old-guard PATH] [--peer PATH]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use hdrhistogram::Histogram;
use serde_json::json;

#[path = "../tests/support/mod.rs"]
mod support;
use support::bench::{proc_cpu, proc_status_kib};
use support::{admin_ok, bench_client as client, free_port, serve_command, spawn_guard, write_pki};

#[derive(Parser)]
struct Args {
    /// Seconds of measured load per cell (after a short warm-up).
    #[arg(long, default_value_t = 4)]
    seconds: u64,
    /// Alternating rounds of floor and guard per cell (evens out drift on a
    /// shared machine); each round runs `--seconds`.
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// Only concurrency 16, keep-alive (a quick look).
    #[arg(long)]
    quick: bool,
    /// Skip the 10,000-object scale run.
    #[arg(long)]
    no_scale: bool,
    /// The fixed request rate (req/s, over 16 keep-alive connections) of
    /// the latency run below the saturation table; 0 skips it.
    #[arg(long, default_value_t = 2000)]
    rate: u32,
    /// Compare servers' CPU per review instead (keep-alive and a new TLS
    /// handshake per request, concurrency 16): the guard, the floor, and
    /// `--old-guard` and `--peer` where given.
    #[arg(long)]
    compare: bool,
    /// `--compare`: a `cnpg-guard` binary of another commit, served with
    /// the same flags as the guard.
    #[arg(long, requires = "compare")]
    old_guard: Option<PathBuf>,
    /// `--compare`: a peer webhook taking `--listen`, `--tls-cert` and
    /// `--tls-key` like the floor (target/peer-go).
    #[arg(long, requires = "compare")]
    peer: Option<PathBuf>,
    /// The mix without its 1 MiB Secret: small reviews only, as most
    /// writes are (a server whose cost grows faster with the body's size
    /// than another's gains most from the large one).
    #[arg(long)]
    small_only: bool,
}

/// Requests in weighted round-robin order.
fn sequence(work: &[(&'static str, Vec<u8>, u32)]) -> Vec<bytes::Bytes> {
    let mut seq = Vec::new();
    for (_, body, weight) in work {
        let body = bytes::Bytes::from(body.clone());
        for _ in 0..*weight {
            seq.push(body.clone());
        }
    }
    // Interleave deterministically (a fixed stride over the 100 slots).
    let n = seq.len();
    (0..n).map(|i| seq[(i * 37) % n].clone()).collect()
}

struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the guard; returns it and the time from spawn to `/readyz` 200.
fn start_guard(dir: &Path, extra: &[String]) -> (Server, Duration) {
    let (child, port, ready) = spawn_guard(dir, extra);
    (Server { child, port }, ready)
}

/// Starts a `cnpg-guard` binary other than this tree's (`--old-guard`),
/// with the flags [`start_guard`] gives.
fn start_guard_bin(bin: &Path, dir: &Path) -> Server {
    let (port, admin) = (free_port(), free_port());
    let child = serve_command(bin, port, admin, &dir.join("tls.crt"), &dir.join("tls.key"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
    let deadline = Instant::now() + Duration::from_secs(60);
    while !admin_ok(admin, "/readyz") {
        assert!(Instant::now() < deadline, "{} did not become ready", bin.display());
        std::thread::sleep(Duration::from_millis(2));
    }
    Server { child, port }
}

fn start_baseline(dir: &Path) -> Server {
    start_plain(Path::new("target/release/examples/bench_baseline"), dir)
}

/// Starts a server taking `--listen`, `--tls-cert` and `--tls-key` (the
/// floor, the Go peer) and waits for its port.
fn start_plain(bin: &Path, dir: &Path) -> Server {
    let port = free_port();
    let child = Command::new(bin)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .arg("--tls-cert")
        .arg(dir.join("tls.crt"))
        .arg("--tls-key")
        .arg(dir.join("tls.key"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{} did not start", bin.display());
        std::thread::sleep(Duration::from_millis(2));
    }
    Server { child, port }
}

/// One measured run against one server.
struct Run {
    hist: Histogram<u64>,
    /// The 1 MiB Secret's requests only.
    big: Histogram<u64>,
    seconds: f64,
    errors: u64,
    peak_rss_kib: u64,
    cpu: Duration,
}

/// Runs merged into one row.
struct Cell {
    rps: f64,
    p50: f64,
    p99: f64,
    p999: f64,
    max: f64,
    /// p99 of all requests but the 1 MiB Secret's.
    p99_small: f64,
    /// p50 of the 1 MiB Secret's requests.
    big_p50: f64,
    peak_rss_mib: f64,
    errors: u64,
    /// Server CPU (user + system) per request, µs.
    cpu_us: f64,
}

impl Cell {
    fn of(runs: &[Run]) -> Cell {
        let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
        let mut big = hist.clone();
        for r in runs {
            let _ = hist.add(&r.hist);
            let _ = big.add(&r.big);
        }
        let mut small = hist.clone();
        let _ = small.subtract(&big);
        let seconds: f64 = runs.iter().map(|r| r.seconds).sum();
        let cpu: Duration = runs.iter().map(|r| r.cpu).sum();
        Cell {
            rps: hist.len() as f64 / seconds,
            p50: hist.value_at_quantile(0.50) as f64 / 1000.0,
            p99: hist.value_at_quantile(0.99) as f64 / 1000.0,
            p999: hist.value_at_quantile(0.999) as f64 / 1000.0,
            max: hist.max() as f64 / 1000.0,
            p99_small: small.value_at_quantile(0.99) as f64 / 1000.0,
            big_p50: big.value_at_quantile(0.50) as f64 / 1000.0,
            peak_rss_mib: runs.iter().map(|r| r.peak_rss_kib).max().unwrap_or(0) as f64 / 1024.0,
            errors: runs.iter().map(|r| r.errors).sum(),
            cpu_us: cpu.as_secs_f64() * 1e6 / hist.len().max(1) as f64,
        }
    }
}

/// Runs `concurrency` loops against `server` for `seconds` (after a warm-up).
/// Closed loop (each loop sends its next request when the last is answered)
/// unless `rate` (req/s over all loops) is given: then each loop sends on a
/// fixed schedule, and a request sent late because the previous one was
/// slow is timed from when it was due (no coordinated omission).
#[allow(clippy::too_many_arguments)]
fn run_cell(
    rt: &tokio::runtime::Runtime,
    server: &Server,
    ca: &str,
    keep_alive: bool,
    concurrency: usize,
    seconds: u64,
    seq: &[bytes::Bytes],
    rate: Option<f64>,
) -> Run {
    let url = format!("https://localhost:{}/validate?timeout=10s", server.port);
    let client = client(ca, keep_alive);
    let pid = server.child.id();
    let stop = Arc::new(AtomicBool::new(false));
    let measuring = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (stop, peak) = (stop.clone(), peak.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(proc_status_kib(pid, "VmRSS:"), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let (hist, big, cpu) = rt.block_on(async {
        let mut tasks = Vec::new();
        for t in 0..concurrency {
            let (client, url, stop, measuring, errors) = (
                client.clone(),
                url.clone(),
                stop.clone(),
                measuring.clone(),
                errors.clone(),
            );
            let seq: Vec<bytes::Bytes> = seq.to_vec();
            // Each loop's share of a fixed rate, loops offset within a period.
            let period = rate.map(|r| Duration::from_secs_f64(concurrency as f64 / r));
            tasks.push(tokio::spawn(async move {
                let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
                let mut hb = h.clone();
                let mut i = t * 7;
                let mut due = period.map(|p| Instant::now() + p * t as u32 / concurrency as u32);
                while !stop.load(Ordering::Relaxed) {
                    let body = seq[i % seq.len()].clone();
                    let is_big = body.len() > 512 * 1024;
                    i += 1;
                    let started = match (&mut due, period) {
                        (Some(due), Some(p)) => {
                            let at = *due;
                            *due += p;
                            if Instant::now() < at {
                                // On time: timed from the send (the timer's
                                // wake-up slop is the load generator's, not
                                // the server's).
                                tokio::time::sleep_until(at.into()).await;
                                Instant::now()
                            } else {
                                at
                            }
                        }
                        _ => Instant::now(),
                    };
                    let ok = match client
                        .post(&url)
                        .header("Content-Type", "application/json")
                        .body(body)
                        .send()
                        .await
                    {
                        Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                        Err(_) => false,
                    };
                    if measuring.load(Ordering::Relaxed) {
                        if ok {
                            let us = started.elapsed().as_micros().max(1) as u64;
                            let _ = h.record(us);
                            if is_big {
                                let _ = hb.record(us);
                            }
                        } else {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                (h, hb)
            }));
        }
        tokio::time::sleep(Duration::from_millis(700)).await;
        let cpu_before = proc_cpu(pid);
        measuring.store(true, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        measuring.store(false, Ordering::Relaxed);
        let cpu = proc_cpu(pid).saturating_sub(cpu_before);
        stop.store(true, Ordering::Relaxed);
        let mut total = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
        let mut big = total.clone();
        for t in tasks {
            if let Ok((h, hb)) = t.await {
                let _ = total.add(h);
                let _ = big.add(hb);
            }
        }
        (total, big, cpu)
    });
    stop.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    Run {
        hist,
        big,
        seconds: seconds as f64,
        errors: errors.load(Ordering::Relaxed),
        peak_rss_kib: peak.load(Ordering::Relaxed),
        cpu,
    }
}

/// A contract with `n` consumers (plus vergabe), and facts: a Cluster with
/// `n` managed roles and `n` Database CRs.
fn scale_files(dir: &Path, n: usize) -> (PathBuf, PathBuf) {
    let mut extra = String::new();
    for i in 0..n {
        extra.push_str(&format!(
            "      - {{namespace: app-{i}, role: app_{i}, databases: [app_{i}_db]}}\n"
        ));
    }
    let contract = cnpg_guard::contract::EMBEDDED_CONTRACT.replace(
        "        databases: [vergabe_db]\n",
        &format!("        databases: [vergabe_db]\n{extra}"),
    );
    let contract_path = dir.join("contract-scale.yaml");
    std::fs::write(&contract_path, contract).expect("write contract");
    let mut facts = String::new();
    let mut roles = vec![json!({"name": "vergabe", "login": true})];
    roles.extend((0..n).map(|i| json!({"name": format!("app_{i}"), "login": true})));
    let cluster = json!({"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster",
        "metadata": {"name": "apps-pg", "namespace": "databases", "labels": {"railiance.io/role": "shared-apps-database"}},
        "spec": {"bootstrap": {"initdb": {"database": "apps_meta", "owner": "apps_admin", "secret": {"name": "apps-pg-credentials"}}},
                 "managed": {"roles": roles}}});
    facts.push_str(&serde_json::to_string(&cluster).expect("json"));
    facts.push('\n');
    for i in 0..n {
        facts.push_str("---\n");
        facts.push_str(
            &json!({"apiVersion": "postgresql.cnpg.io/v1", "kind": "Database",
                "metadata": {"name": format!("app-{i}-db"), "namespace": "databases"},
                "spec": {"name": format!("app_{i}_db"), "owner": format!("app_{i}"), "cluster": {"name": "apps-pg"}}})
            .to_string(),
        );
        facts.push('\n');
    }
    let facts_path = dir.join("facts-scale.yaml");
    std::fs::write(&facts_path, facts).expect("write facts");
    (contract_path, facts_path)
}

/// CPU µs per answered review of each round of a server.
fn cpu_per_review(runs: &[Run]) -> Vec<f64> {
    runs.iter()
        .map(|r| r.cpu.as_secs_f64() * 1e6 / r.hist.len().max(1) as f64)
        .collect()
}

/// Mean and range of a few readings, as `mean (min–max)`.
fn spread(v: &[f64], decimals: usize) -> String {
    let mean = v.iter().sum::<f64>() / v.len().max(1) as f64;
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{mean:.decimals$} ({min:.decimals$}–{max:.decimals$})")
}

/// `--compare`: every server under the same closed-loop load (concurrency
/// 16), one round each in turn (each round starting one server later), for
/// `--rounds` rounds per cell. Prints each server's req/s and latency over
/// all its rounds and its CPU per review round by round; then the ratios of
/// CPU per review, taken within each round (the servers of one round ran
/// within seconds of each other), as mean and range.
fn compare(args: &Args, rt: &tokio::runtime::Runtime, dir: &Path, ca: &str, seq: &[bytes::Bytes]) {
    const CONCURRENCY: usize = 16;
    let modes: &[bool] = if args.quick { &[true] } else { &[true, false] };
    let mut ratios = Vec::new();
    println!();
    println!(
        "## servers compared: concurrency {CONCURRENCY}, {} alternating rounds",
        args.rounds
    );
    println!();
    println!("| connections | server | req/s | p50 ms | p99 ms | CPU µs/review: mean (range) | each round | errors |");
    println!("|---|---|---|---|---|---|---|---|");
    for &keep_alive in modes {
        let mode = if keep_alive {
            "keep-alive"
        } else {
            "new TLS per request"
        };
        let mut servers = vec![("floor", start_baseline(dir)), ("guard", start_guard(dir, &[]).0)];
        if let Some(bin) = &args.old_guard {
            servers.push(("old guard", start_guard_bin(bin, dir)));
        }
        if let Some(bin) = &args.peer {
            servers.push(("peer", start_plain(bin, dir)));
        }
        let n = servers.len();
        let mut runs: Vec<Vec<Run>> = (0..n).map(|_| Vec::new()).collect();
        for round in 0..args.rounds.max(1) as usize {
            for i in (0..n).map(|k| (round + k) % n) {
                let run = run_cell(rt, &servers[i].1, ca, keep_alive, CONCURRENCY, args.seconds, seq, None);
                runs[i].push(run);
            }
        }
        let cpu: Vec<Vec<f64>> = runs.iter().map(|r| cpu_per_review(r)).collect();
        for (i, (name, _)) in servers.iter().enumerate() {
            let cell = Cell::of(&runs[i]);
            let each: Vec<String> = cpu[i].iter().map(|c| format!("{c:.0}")).collect();
            println!(
                "| {mode} | {name} | {:.0} | {:.3} | {:.3} | {} | {} | {} |",
                cell.rps,
                cell.p50,
                cell.p99,
                spread(&cpu[i], 0),
                each.join(", "),
                cell.errors
            );
        }
        let of = |name: &str| servers.iter().position(|(n, _)| *n == name);
        for (a, b) in [
            ("guard", "peer"),
            ("old guard", "peer"),
            ("guard", "old guard"),
            ("guard", "floor"),
        ] {
            if let (Some(a_i), Some(b_i)) = (of(a), of(b)) {
                let per_round: Vec<f64> = cpu[a_i].iter().zip(&cpu[b_i]).map(|(x, y)| x / y).collect();
                ratios.push(format!("| {mode} | {a} / {b} | {} |", spread(&per_round, 2)));
            }
        }
    }
    println!();
    println!("CPU per review, one server's over another's, within each round:");
    println!();
    println!("| connections | ratio | mean (range) |");
    println!("|---|---|---|");
    for line in ratios {
        println!("{line}");
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let args = Args::parse();
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = write_pki(dir.path(), "").ca;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut work = support::bench::mix();
    if args.small_only {
        work.retain(|(_, body, _)| body.len() <= 512 * 1024);
    }
    let seq = sequence(&work);

    println!(
        "# cnpg-guard bench ({} alternating rounds of {} s per cell and server, loopback TLS, HTTP/1.1)",
        args.rounds, args.seconds
    );
    println!(
        "mix: {}",
        work.iter()
            .map(|(n, b, w)| format!("{n} {w}% ({} KiB)", b.len() / 1024))
            .collect::<Vec<_>>()
            .join(", ")
    );

    if args.compare {
        compare(&args, &rt, dir.path(), &ca, &seq);
        return;
    }

    let cold: Vec<Duration> = (0..5).map(|_| start_guard(dir.path(), &[]).1).collect();
    println!(
        "cold start to ready (spawn -> /readyz 200), median of 5: {:.1} ms",
        median(cold).as_secs_f64() * 1000.0
    );

    let concurrencies: &[usize] = if args.quick { &[16] } else { &[1, 16, 64] };
    let modes: &[bool] = if args.quick { &[true] } else { &[true, false] };
    println!();
    println!(
        "| connections | concurrency | server | req/s | ratio | p50 ms | p99 ms | p99.9 ms | peak RSS MiB | CPU µs/req | errors |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for &keep_alive in modes {
        for &c in concurrencies {
            let base = start_baseline(dir.path());
            let (guard, _) = start_guard(dir.path(), &[]);
            let (mut b_runs, mut g_runs) = (Vec::new(), Vec::new());
            for _ in 0..args.rounds.max(1) {
                b_runs.push(run_cell(&rt, &base, &ca, keep_alive, c, args.seconds, &seq, None));
                g_runs.push(run_cell(&rt, &guard, &ca, keep_alive, c, args.seconds, &seq, None));
            }
            let hwm = proc_status_kib(guard.child.id(), "VmHWM:") as f64 / 1024.0;
            let base_hwm = proc_status_kib(base.child.id(), "VmHWM:") as f64 / 1024.0;
            drop(guard);
            drop(base);
            let (b, g) = (Cell::of(&b_runs), Cell::of(&g_runs));
            let mode = if keep_alive {
                "keep-alive"
            } else {
                "new TLS per request"
            };
            for (name, cell, peak) in [
                ("baseline", &b, base_hwm.max(b.peak_rss_mib)),
                ("cnpg-guard", &g, hwm.max(g.peak_rss_mib)),
            ] {
                println!(
                    "| {mode} | {c} | {name} | {:.0} | {:.2} | {:.3} | {:.3} | {:.3} | {:.1} | {:.0} | {} |",
                    cell.rps,
                    cell.rps / b.rps,
                    cell.p50,
                    cell.p99,
                    cell.p999,
                    peak,
                    cell.cpu_us,
                    cell.errors
                );
            }
        }
    }

    if args.rate > 0 {
        let rate = f64::from(args.rate);
        let base = start_baseline(dir.path());
        let (guard, _) = start_guard(dir.path(), &[]);
        let (mut b_runs, mut g_runs) = (Vec::new(), Vec::new());
        for _ in 0..args.rounds.max(1) {
            b_runs.push(run_cell(&rt, &base, &ca, true, 16, args.seconds, &seq, Some(rate)));
            g_runs.push(run_cell(&rt, &guard, &ca, true, 16, args.seconds, &seq, Some(rate)));
        }
        drop(guard);
        drop(base);
        println!();
        println!("## latency at a fixed rate: {rate:.0} req/s offered over 16 keep-alive connections");
        println!();
        println!(
            "| server | req/s answered | p50 ms | p99 ms | p99.9 ms | max ms | p99 ms without the 1 MiB Secret | 1 MiB Secret p50 ms | CPU µs/req | errors |"
        );
        println!("|---|---|---|---|---|---|---|---|---|---|");
        for (name, runs) in [("baseline", &b_runs), ("cnpg-guard", &g_runs)] {
            let cell = Cell::of(runs);
            println!(
                "| {name} | {:.0} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.0} | {} |",
                cell.rps,
                cell.p50,
                cell.p99,
                cell.p999,
                cell.max,
                cell.p99_small,
                cell.big_p50,
                cell.cpu_us,
                cell.errors
            );
        }
    }

    if !args.no_scale {
        let n = 10_000;
        let (contract, facts) = scale_files(dir.path(), n);
        let extra = vec![
            "--contract".to_owned(),
            contract.display().to_string(),
            "--facts-from".to_owned(),
            facts.display().to_string(),
        ];
        let (idle_default, _) = start_guard(dir.path(), &[]);
        std::thread::sleep(Duration::from_millis(200));
        let rss_default = proc_status_kib(idle_default.child.id(), "VmRSS:") as f64 / 1024.0;
        drop(idle_default);
        let (scaled, ready) = start_guard(dir.path(), &extra);
        std::thread::sleep(Duration::from_millis(200));
        let rss_scaled_idle = proc_status_kib(scaled.child.id(), "VmRSS:") as f64 / 1024.0;
        let s = Cell::of(&[run_cell(&rt, &scaled, &ca, true, 16, args.seconds, &seq, None)]);
        let hwm = proc_status_kib(scaled.child.id(), "VmHWM:") as f64 / 1024.0;
        drop(scaled);
        let objects = 3 * n; // consumers + managed roles + Database CRs
        println!();
        println!(
            "## scale: {n} consumers, a Cluster with {n} managed roles, {n} Database CRs (offline facts from a file)"
        );
        println!(
            "ready in {:.0} ms (parsing {} objects)",
            ready.as_secs_f64() * 1000.0,
            objects
        );
        println!(
            "keep-alive, concurrency 16: {:.0} req/s, p50 {:.3} ms, p99 {:.3} ms, p99.9 {:.3} ms, peak RSS {:.1} MiB, CPU {:.0} µs/req, errors {}",
            s.rps,
            s.p50,
            s.p99,
            s.p999,
            hwm.max(s.peak_rss_mib),
            s.cpu_us,
            s.errors
        );
        println!(
            "idle RSS: default contract {:.1} MiB, at scale {:.1} MiB: {:.2} MiB per 1,000 objects",
            rss_default,
            rss_scaled_idle,
            (rss_scaled_idle - rss_default) / (objects as f64 / 1000.0)
        );
    }
}
