use clap::Parser;

fn main() {
    let cli = cnpg_guard::cli::Cli::parse();
    std::process::exit(cnpg_guard::cli::run(cli));
}
