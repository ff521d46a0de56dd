//! `make soak`: minutes of steady load on a release `cnpg-guard serve` over
//! loopback TLS, valid reviews interleaved with 10 % malformed and oversize
//! ones. Fails (exit 1) on any error answering a valid review, on memory that
//! keeps growing, or on leaked file descriptors. Not part of `make test`.
//!
//! Usage: target/release/examples/soak [--seconds 180] [--rate 200]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;

#[path = "../tests/support/mod.rs"]
mod support;
use support::bench::{open_fds, proc_status_kib};
use support::{bench_client as client, spawn_guard, write_pki};

#[derive(Parser)]
struct Args {
    /// Total duration (bounded: at most 30 minutes).
    #[arg(long, default_value_t = 180, value_parser = clap::value_parser!(u64).range(10..=1800))]
    seconds: u64,
    /// Requests per second, all kinds together.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..=5000))]
    rate: u64,
}

fn main() {
    let args = Args::parse();
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = write_pki(dir.path(), "").ca;
    let (mut child, port, _) = spawn_guard(dir.path(), &["--max-body-bytes".into(), "262144".into()]);
    let pid = child.id();
    let valid: Vec<Vec<u8>> = std::fs::read_dir(Path::new("tests/fixtures/reviews"))
        .expect("fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json") && !p.ends_with("mismatch-kind.json"))
        .map(|p| std::fs::read(p).expect("fixture"))
        .collect();
    let malformed: Vec<Vec<u8>> = vec![
        b"not json".to_vec(),
        br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#.to_vec(),
        valid[0][..valid[0].len() / 2].to_vec(),
    ];
    let oversize = vec![b' '; 300 * 1024];

    let client = client(&ca, true);
    let url = format!("https://localhost:{port}/validate?timeout=10s");
    let (valid_errors, sent) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let first_errors: Arc<std::sync::Mutex<Vec<String>>> = Default::default();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let mut samples: Vec<(u64, u64, usize)> = Vec::new();
    let started = Instant::now();
    rt.block_on(async {
        let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / args.rate));
        let mut i: u64 = 0;
        let mut next_sample = Instant::now();
        while started.elapsed() < Duration::from_secs(args.seconds) {
            tick.tick().await;
            i += 1;
            let (body, expect) = match i % 20 {
                0 => (oversize.clone(), 413),
                10 => (malformed[(i / 20) as usize % malformed.len()].clone(), 400),
                _ => (valid[i as usize % valid.len()].clone(), 200),
            };
            let (client, url, errors, sent) = (client.clone(), url.clone(), valid_errors.clone(), sent.clone());
            let first = first_errors.clone();
            tokio::spawn(async move {
                sent.fetch_add(1, Ordering::Relaxed);
                let outcome = match client.post(&url).body(body).send().await {
                    Ok(r) if r.status().as_u16() == expect => r.bytes().await.map(|_| ()).map_err(|e| format!("{e:?}")),
                    Ok(r) => Err(format!("HTTP {} (expected {expect})", r.status())),
                    Err(e) => Err(format!("{e:?}")),
                };
                if let Err(e) = outcome
                    && expect == 200
                {
                    errors.fetch_add(1, Ordering::Relaxed);
                    let mut f = first.lock().unwrap_or_else(|p| p.into_inner());
                    if f.len() < 5 {
                        f.push(e);
                    }
                }
            });
            if Instant::now() >= next_sample {
                samples.push((
                    started.elapsed().as_secs(),
                    proc_status_kib(pid, "VmRSS:"),
                    open_fds(pid),
                ));
                next_sample += Duration::from_secs(5);
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    });
    // The client's idle connections are closed before the last sample, so
    // it counts what the server holds by itself, not the client's pool
    // (which at a high rate grows with the client's concurrency).
    drop(client);
    rt.block_on(async { tokio::time::sleep(Duration::from_millis(500)).await });
    samples.push((
        started.elapsed().as_secs(),
        proc_status_kib(pid, "VmRSS:"),
        open_fds(pid),
    ));
    let _ = child.kill();
    let _ = child.wait();

    println!("second  rss_kib  fds");
    for (t, rss, fds) in &samples {
        println!("{t:>6}  {rss:>7}  {fds:>3}");
    }
    // Compare the second quarter (warmed up) with the end.
    let warm = &samples[samples.len() / 4];
    let last = samples.last().expect("samples");
    let errors = valid_errors.load(Ordering::Relaxed);
    let grew = last.1 as f64 > warm.1 as f64 * 1.25 + 2048.0;
    let leaked = last.2 > warm.2 + 8;
    println!(
        "{} requests in {} s; errors on valid reviews: {errors}; RSS {} -> {} KiB; fds {} -> {}",
        sent.load(Ordering::Relaxed),
        args.seconds,
        warm.1,
        last.1,
        warm.2,
        last.2
    );
    for e in first_errors.lock().unwrap_or_else(|p| p.into_inner()).iter() {
        println!("error: {e}");
    }
    if errors > 0 || grew || leaked {
        println!("SOAK FAILED (errors: {errors}, memory growing: {grew}, fd leak: {leaked})");
        std::process::exit(1);
    }
    println!("soak passed");
}
