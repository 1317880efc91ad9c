//! Log output set-up: JSON lines or a human format, levels from `RUST_LOG`. Installs the
//! subscriber only; what gets logged is decided where it happens.

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber. Lines are written by a background thread so request
/// handling never waits on stderr; the writer is lossless (it applies back-pressure rather
/// than dropping audit lines). Keep the guard alive until exit: dropping it flushes.
pub fn init(format: LogFormat, default_filter: &str) -> Option<WorkerGuard> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .finish(std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    let result = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
    // A second initialisation (tests) keeps the first subscriber.
    result.ok().map(|()| guard)
}
