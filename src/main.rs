use clap::Parser;

/// jemalloc instead of the C library's allocator: it keeps freed pages for
/// reuse instead of returning and faulting them in again on every large
/// AdmissionReview, which cost glibc more CPU per review (measured:
/// docs/benchmarks-history.md, "The first rounds").
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    let cli = cnpg_guard::cli::Cli::parse();
    std::process::exit(cnpg_guard::cli::run(cli));
}
