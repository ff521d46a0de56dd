//! Structured logs (tracing) to stderr.

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Json,
    Text,
}

/// Structured logs to stderr (stdout carries output and decision records).
/// `RUST_LOG` overrides the default level (info). Text is coloured only
/// when stderr is a terminal (not in a CI log or a file). kube's client
/// logs an ERROR line for every failed request, each retry of a broken
/// watch included (several a second while the API server is down); the
/// guard logs a broken watch itself, once and then once a minute.
pub fn init_logging(format: LogFormat) {
    init_logging_with(format, "info,kube_client::client::builder=off");
}

/// As [`init_logging`], with `default` as the filter when `RUST_LOG` is unset.
pub fn init_logging_with(format: LogFormat, default: &str) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).try_init(),
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).try_init(),
    };
}
