//! `make attack`: hostile clients against a release
//! `cnpg-guard serve` on 127.0.0.1 (free ports, shipped defaults), each on a
//! fresh server while valid reviews are sent at 20/s (small ones, HTTP/1.1)
//! and at 4/s (1.2 MB Secret CREATEs over one HTTP/2 connection, as the API
//! server sends them), and at 5/s each on a new connection (HTTP/1.1). Per attack: each valid load's p50/p99 and errors,
//! peak RSS (VmHWM), the most open fds, and how long RSS takes to come back
//! near idle afterwards. First, the working memory of one large review (the
//! multiplier of the memory bound).
//!
//! Traffic goes to 127.0.0.1 only; every attack and every wait is bounded.
//!
//! Usage (from the repository root, after a release build):
//!   target/release/examples/attack [--seconds 10] [--only NAME]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;

#[path = "../../tests/support/mod.rs"]
mod support;

mod attacks;
mod bodies;

use attacks::{Tally, Target};
use support::bench::{open_fds, proc_status_kib};
use support::{bench_client, rustls_config, spawn_guard, write_pki};

const MIB: usize = 1024 * 1024;

#[derive(Parser)]
struct Args {
    /// Seconds each attack lasts.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(2..=60))]
    seconds: u64,
    /// Run only the attacks whose name contains this.
    #[arg(long)]
    only: Option<String>,
    /// Longest wait for RSS to come back near idle after an attack (seconds).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=120))]
    settle: u64,
}

/// A reqwest client speaking HTTP/2 only (one connection, many streams).
fn h2_client(ca: &str) -> reqwest::Client {
    let mut config = rustls_config(ca, None);
    config.alpn_protocols = vec![b"h2".to_vec()];
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .http2_prior_knowledge()
        .timeout(Duration::from_secs(15))
        .build()
        .expect("client")
}

fn h1_client(ca: &str) -> reqwest::Client {
    bench_client(ca, true)
}

/// Latencies of the valid reviews (ms), when each failed one was sent (s
/// after the load began), the first error.
type Outcomes = (Vec<f64>, Vec<f64>, Option<String>);

/// `reviews` in turn, one every `every`, until `stop`, with the shipped
/// webhook's 5 s timeout. An overloaded answer (a denial of an allowed
/// review) counts as an error.
async fn valid_load(
    client: reqwest::Client,
    reviews: Vec<(Vec<u8>, bool)>,
    every: Duration,
    t: Target,
    stop: Arc<AtomicBool>,
) -> Outcomes {
    let reviews: Vec<(bytes::Bytes, bool)> = reviews
        .into_iter()
        .map(|(body, allowed)| (bytes::Bytes::from(body), allowed))
        .collect();
    let results: Arc<std::sync::Mutex<Outcomes>> = Default::default();
    let mut tick = tokio::time::interval(every);
    let begun = Instant::now();
    let mut tasks = Vec::new();
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let (body, allowed) = reviews[i % reviews.len()].clone();
        i += 1;
        let (client, url, results) = (client.clone(), t.valid_url(), results.clone());
        tasks.push(tokio::spawn(async move {
            let started = Instant::now();
            let outcome = match client.post(&url).body(body).send().await {
                Ok(r) if r.status() == 200 => match r.json::<serde_json::Value>().await {
                    Ok(v) if v["response"]["allowed"] == allowed => Ok(()),
                    Ok(v) => Err(format!(
                        "allowed={} ({})",
                        v["response"]["allowed"], v["response"]["status"]["code"]
                    )),
                    Err(e) => Err(format!("{e}")),
                },
                Ok(r) => Err(format!("HTTP {}", r.status())),
                Err(e) => Err(format!("{e:?}").chars().take(400).collect()),
            };
            let mut r = results.lock().unwrap_or_else(|p| p.into_inner());
            match outcome {
                Ok(()) => r.0.push(started.elapsed().as_secs_f64() * 1000.0),
                Err(e) => {
                    r.1.push(started.duration_since(begun).as_secs_f64());
                    r.2.get_or_insert(e);
                }
            }
        }));
    }
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(12), task).await;
    }
    let r = results.lock().unwrap_or_else(|p| p.into_inner());
    r.clone()
}

/// One line of a valid load's outcomes.
fn report(what: &str, outcomes: Outcomes) {
    let (mut latencies, failed_at, first_error) = outcomes;
    latencies.sort_by(f64::total_cmp);
    println!(
        "  {what}: {} ok, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; errors {}{}",
        latencies.len(),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(f64::NAN),
        failed_at.len(),
        first_error
            .map(|e| {
                let at: Vec<String> = failed_at.iter().take(8).map(|t| format!("{t:.2}")).collect();
                format!(" (sent at {} s; first: {e})", at.join(", "))
            })
            .unwrap_or_default()
    );
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

struct Guard {
    child: std::process::Child,
    port: u16,
    pid: u32,
    _dir: tempfile::TempDir,
    ca: String,
}

impl Guard {
    fn start() -> Guard {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = write_pki(dir.path(), "").ca;
        let (child, port, _) = spawn_guard(dir.path(), &[]);
        let pid = child.id();
        Guard {
            child,
            port,
            pid,
            _dir: dir,
            ca,
        }
    }

    fn rss_mib(&self) -> f64 {
        proc_status_kib(self.pid, "VmRSS:") as f64 / 1024.0
    }

    fn hwm_mib(&self) -> f64 {
        proc_status_kib(self.pid, "VmHWM:") as f64 / 1024.0
    }

    fn target(&self, seconds: u64) -> Target {
        Target {
            port: self.port,
            ca: self.ca.clone(),
            until: Instant::now() + Duration::from_secs(seconds),
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The working memory of one review: peak RSS above idle on a fresh server.
async fn calibrate() {
    println!("one review on a fresh server: peak RSS above idle (VmHWM), as a multiple of the body");
    let cases: [(&str, Vec<u8>); 4] = [
        ("Secret UPDATE 3 MiB", bodies::secret_update(3 * MIB)),
        ("Secret UPDATE 7 MiB", bodies::secret_update(7 * MIB - 64 * 1024)),
        (
            "Cluster UPDATE 3 MiB, array of numbers removed",
            bodies::array_update(3 * MIB),
        ),
        (
            "Cluster UPDATE 7 MiB, array of numbers removed",
            bodies::array_update(7 * MIB - 64 * 1024),
        ),
    ];
    for (name, body) in cases {
        let guard = Guard::start();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let before = guard.hwm_mib();
        let size = body.len() as f64 / MIB as f64;
        let started = Instant::now();
        let r = h1_client(&guard.ca)
            .post(guard.target(0).url())
            .body(body)
            .send()
            .await
            .map(|r| r.status().as_u16());
        let took = started.elapsed();
        let added = guard.hwm_mib() - before;
        println!(
            "  {name:<48} {size:>5.2} MiB body: +{added:>6.1} MiB = {:>4.1} x body ({:?} in {} ms)",
            added / size,
            r.unwrap_or(0),
            took.as_millis()
        );
    }
}

type Attack = fn(Target, Tally) -> futures::future::BoxFuture<'static, ()>;

fn attacks() -> Vec<(&'static str, Attack)> {
    use futures::FutureExt;
    vec![
        ("h1-max-bodies: 24 connections posting 7 MiB UPDATEs", |t, tally| {
            let clients = (0..24).map(|_| h1_client(&t.ca)).collect();
            attacks::bodies(t, clients, 1, bodies::secret_update(7 * MIB - 64 * 1024), tally).boxed()
        }),
        (
            "h2-max-bodies: 2 connections x 16 streams of 7 MiB UPDATEs",
            |t, tally| {
                let clients = (0..2).map(|_| h2_client(&t.ca)).collect();
                attacks::bodies(t, clients, 16, bodies::secret_update(7 * MIB - 64 * 1024), tally).boxed()
            },
        ),
        ("slow-body: 200 connections, 16 KiB announced, 1 byte/s", |t, tally| {
            attacks::slow_bodies(t, 200, 16 * 1024, 1, tally).boxed()
        }),
        ("slow-body-max: 8 connections, 7 MiB announced, 1 byte/s", |t, tally| {
            attacks::slow_bodies(t, 8, 7 * MIB, 1, tally).boxed()
        }),
        (
            "paced-body: 24 connections, 1 MiB announced, sent at 300 KiB/s (just above the minimum rate)",
            |t, tally| attacks::slow_bodies(t, 24, MIB, 300 * 1024, tally).boxed(),
        ),
        (
            "paced-small: 96 connections, 256 KiB announced, sent at 300 KiB/s (28 MiB/s in all)",
            |t, tally| attacks::slow_bodies(t, 96, 256 * 1024, 300 * 1024, tally).boxed(),
        ),
        ("silent: 600 TCP connections (past the cap), no bytes", |t, tally| {
            attacks::silent(t, 600, tally).boxed()
        }),
        (
            "handshake-flood: 400 clients completing TLS handshakes as fast as they can, each connection then silent",
            |t, tally| attacks::handshake_flood(t, 400, tally).boxed(),
        ),
        ("preface-only: 300 h2 connections sending 'P'", |t, tally| {
            attacks::preface_only(t, 300, tally).boxed()
        }),
        (
            "headers-only-h2: 1 connection x 16 streams announcing 7 MiB, no byte sent",
            |t, tally| attacks::headers_only(t, 1, 7 * MIB, tally).boxed(),
        ),
        (
            "headers-only-h2-x8: 8 connections x 16 streams announcing 7 MiB, no byte sent",
            |t, tally| attacks::headers_only(t, 8, 7 * MIB, tally).boxed(),
        ),
        ("idle-h2: 300 h2 connections, SETTINGS then idle", |t, tally| {
            attacks::idle_h2(t, 300, tally).boxed()
        }),
        (
            "pipeliner: 20 h1 connections, 3000 reviews each, never read",
            |t, tally| {
                let review = bodies::valid().swap_remove(1).0;
                attacks::pipeliners(t, 20, review, tally).boxed()
            },
        ),
        ("cpu-heavy: 4 clients, 6.5 MiB UPDATEs removing an array", |t, tally| {
            let clients = (0..4).map(|_| h1_client(&t.ca)).collect();
            attacks::bodies(t, clients, 1, bodies::array_update(6 * MIB + MIB / 2), tally).boxed()
        }),
        ("burst: 16 concurrent 4 MiB Secret CREATEs x 3", |t, tally| {
            async move {
                let client = h1_client(&t.ca);
                let body = bytes::Bytes::from(bodies::secret_create(4 * MIB));
                for _ in 0..3 {
                    let round: Vec<_> = (0..16)
                        .map(|_| {
                            let (client, url, body, tally) = (client.clone(), t.url(), body.clone(), tally.clone());
                            tokio::spawn(async move {
                                match client.post(url).body(body).send().await {
                                    Ok(r) => tally.add(format!("HTTP {}", r.status().as_u16())),
                                    Err(_) => tally.add("error"),
                                }
                            })
                        })
                        .collect();
                    for task in round {
                        let _ = task.await;
                    }
                }
            }
            .boxed()
        }),
    ]
}

async fn run(name: &str, attack: Attack, args: &Args) {
    let guard = Guard::start();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = guard.rss_mib();
    let stop = Arc::new(AtomicBool::new(false));
    let valid = tokio::spawn(valid_load(
        h1_client(&guard.ca),
        bodies::valid(),
        Duration::from_millis(50),
        guard.target(0),
        stop.clone(),
    ));
    let large = tokio::spawn(valid_load(
        h2_client(&guard.ca),
        bodies::valid_large(),
        Duration::from_millis(250),
        guard.target(0),
        stop.clone(),
    ));
    let fresh = tokio::spawn(valid_load(
        bench_client(&guard.ca, false),
        bodies::valid(),
        Duration::from_millis(200),
        guard.target(0),
        stop.clone(),
    ));
    // Sample RSS and fds while attacking.
    let (peak_rss, peak_fds) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let sampler = {
        let (pid, stop, peak_rss, peak_fds) = (guard.pid, stop.clone(), peak_rss.clone(), peak_fds.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                peak_rss.fetch_max(proc_status_kib(pid, "VmRSS:"), Ordering::Relaxed);
                peak_fds.fetch_max(open_fds(pid) as u64, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let tally = Tally::default();
    let target = guard.target(args.seconds);
    let started = Instant::now();
    let _ = tokio::time::timeout(Duration::from_secs(args.seconds + 20), attack(target, tally.clone())).await;
    let attacked = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let _ = sampler.await;
    let valid = valid.await.unwrap_or_default();
    let large = large.await.unwrap_or_default();
    let fresh = fresh.await.unwrap_or_default();
    let peak = guard.hwm_mib();
    let at_end = guard.rss_mib();
    // Back near idle: within 5 MiB of the idle RSS, or 1.25 x idle.
    let near = (idle + 5.0).max(idle * 1.25);
    let settle_started = Instant::now();
    let mut trace = Vec::new();
    let settled = loop {
        let rss = guard.rss_mib();
        trace.push(format!("{:.0}s {rss:.0}", settle_started.elapsed().as_secs_f64()));
        if rss <= near {
            break Some(settle_started.elapsed());
        }
        if settle_started.elapsed() >= Duration::from_secs(args.settle) {
            break None;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    println!("{name}");
    report("valid reviews", valid);
    report("large reviews (1.2 MB, HTTP/2)", large);
    report("reviews on new connections (HTTP/1.1)", fresh);
    println!(
        "  RSS idle {idle:.1} MiB, peak {peak:.1} MiB (VmHWM; sampled {:.1}), {at_end:.1} at the end; most fds {}; attack {:.1} s",
        peak_rss.load(Ordering::Relaxed) as f64 / 1024.0,
        peak_fds.load(Ordering::Relaxed),
        attacked.as_secs_f64()
    );
    println!(
        "  back near idle (<= {near:.1} MiB): {} [{}]",
        settled.map_or_else(
            || format!("not within {} s", args.settle),
            |d| format!("after {:.0} s", d.as_secs_f64())
        ),
        trace.join(", ")
    );
    println!("  attack's own requests: {}", tally.summary());
}

fn main() {
    let args = Args::parse();
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let started = Instant::now();
    runtime.block_on(async {
        if args.only.is_none() {
            calibrate().await;
        }
        for (name, attack) in attacks() {
            if args.only.as_ref().is_some_and(|o| !name.contains(o.as_str())) {
                continue;
            }
            run(name, attack, &args).await;
        }
    });
    println!("total {:.0} s", started.elapsed().as_secs_f64());
    runtime.shutdown_timeout(Duration::from_secs(1));
}
