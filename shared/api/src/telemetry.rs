//! Logging: JSON lines for CloudWatch in Lambda, readable lines locally.

use tracing_subscriber::EnvFilter;

/// JSON logs, one object per line with the event's fields at the top level (so that a
/// CloudWatch metric filter can match `{ $.escalation = "sla_breach" }`). Level from
/// `RUST_LOG`, `info` by default.
pub fn init_json() {
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .try_init();
}

/// Compact human-readable logs (the local run), on **stderr** so that stdout carries only a
/// command's result (`local sweep … | jq .`). Colour only when stderr is a terminal and
/// `NO_COLOR` is not set (<https://no-color.org>).
pub fn init_text() {
    let _ = tracing_subscriber::fmt()
        .compact()
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_ansi(colour_on_stderr())
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .try_init();
}

/// Whether human output on stderr may use ANSI colour.
pub fn colour_on_stderr() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}
