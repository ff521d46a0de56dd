use clap::Parser;

/// jemalloc instead of the C library's allocator: it keeps freed pages for
/// reuse instead of returning and faulting them in again on every large
/// AdmissionReview, which cost glibc a third more CPU per review (and musl,
/// in the container image, more). Measured in BENCHMARKS.md.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    let cli = cnpg_guard::cli::Cli::parse();
    std::process::exit(cnpg_guard::cli::run(cli));
}
