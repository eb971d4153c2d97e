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

/// Compact human-readable logs (the local run).
pub fn init_text() {
    let _ = tracing_subscriber::fmt()
        .compact()
        .with_target(false)
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .try_init();
}
