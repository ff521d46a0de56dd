//! The instructions one review of each request of the `make bench` mix
//! takes (parse, decide, response, audit line; no HTTP/TLS), counted by
//! callgrind: exact and repeatable where timings on a shared machine move
//! by tens of per cent, so two commits compare on a single run each.
//!
//! `make review-cost` runs `review_cost NAME N` under
//! `valgrind --tool=callgrind --toggle-collect=*review_once*` for each
//! request of the mix and divides by N. Run alone it just does the work.

#[path = "../tests/support/mod.rs"]
mod support;

// The server's allocator: what a review costs includes its allocations.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(name) = args.next() else {
        // The mix's requests, one per line with its weight, for the
        // Makefile's loop.
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        for (name, _, weight) in support::bench::mix() {
            if writeln!(out, "{weight}\t{name}").is_err() {
                break;
            }
        }
        return;
    };
    let times: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(100);
    let contract = cnpg_guard::contract::Contract::embedded().expect("embedded contract");
    let mix = support::bench::mix();
    let (_, body, _) = mix.iter().find(|(n, _, _)| *n == name).expect("a request of the mix");
    for _ in 0..times {
        std::hint::black_box(support::bench::review_once(std::hint::black_box(body), &contract));
    }
}
