//! Log output set-up: JSON lines or a human format (coloured only on a terminal), levels from
//! `RUST_LOG`, written to stderr through a shared buffer; and, when an OTLP endpoint is
//! configured, trace export (`otel`). Installs the subscriber only; what gets logged or traced
//! is decided where it happens.

use std::io::{BufWriter, IsTerminal as _, Stderr, Write};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::filter::{filter_fn, FilterExt as _, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

/// How log lines are written (`BROKER_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

mod direct;
mod json;
mod otel;

pub use otel::TracingSettings;

pub use direct::{render_fields, write_info, Line};

/// How long a log line may sit in the buffer before it reaches stderr.
const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// Stderr behind a buffer that a background thread flushes every [`FLUSH_EVERY`]. Each line is
/// copied into the buffer under a short lock; nothing waits on the terminal or pipe, no thread
/// is woken per line, and no line is dropped (a full buffer is written out by the line that
/// fills it).
#[derive(Clone)]
pub struct BufferedStderr(Arc<Mutex<BufWriter<Stderr>>>);

impl BufferedStderr {
    fn lock(&self) -> MutexGuard<'_, BufWriter<Stderr>> {
        // A panic while holding the lock leaves a usable buffer.
        crate::sync::lock(&self.0)
    }

    pub fn flush(&self) {
        let _ = self.lock().flush();
    }
}

pub struct LineWriter<'a>(MutexGuard<'a, BufWriter<Stderr>>);

impl Write for LineWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

impl<'a> MakeWriter<'a> for BufferedStderr {
    type Writer = LineWriter<'a>;
    fn make_writer(&'a self) -> Self::Writer {
        LineWriter(self.lock())
    }
}

/// Flushes the log buffer when dropped; keep it alive until the process exits. With tracing
/// on, [`LogGuard::shutdown`] exports the spans still queued first.
pub struct LogGuard(BufferedStderr, Option<SdkTracerProvider>);

impl LogGuard {
    /// Exports the spans still queued (bounded by the exporter's timeout) and stops tracing.
    pub async fn shutdown(mut self) {
        if let Some(provider) = self.1.take() {
            crate::trace::set_enabled(false);
            let done = tokio::task::spawn_blocking(move || provider.shutdown()).await;
            if let Ok(Err(error)) = done {
                tracing::warn!(error = %error, "spans could not be flushed at shutdown");
            }
        }
    }
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.0.flush();
    }
}

/// Colour codes only for a person at a terminal: never into a pipe or a file (a container's
/// log, a test, `demo 2>log`), and never with `NO_COLOR` set (<https://no-color.org>).
fn colours(stderr_is_terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// Installs the global subscriber and starts the flusher thread; with `tracing`, also the
/// trace exporter (inside the tokio runtime).
pub fn init(
    format: LogFormat,
    default_filter: &str,
    tracing: Option<&TracingSettings>,
) -> Option<LogGuard> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let writer = BufferedStderr(Arc::new(Mutex::new(BufWriter::with_capacity(
        64 * 1024,
        std::io::stderr(),
    ))));
    let ansi = colours(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR"),
    );
    let provider = match tracing {
        None => None,
        Some(settings) => match otel::provider(settings) {
            Ok(found) => Some(found),
            Err(error) => {
                eprintln!("sts-broker: warning: traces are not exported: {error}");
                None
            }
        },
    };
    let installed = match provider {
        // Without tracing, the subscriber of old: one global filter, no per-layer state.
        None => {
            let builder = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_ansi(ansi)
                .with_writer(writer.clone());
            match format {
                LogFormat::Json => builder.event_format(json::JsonLines).try_init().is_ok(),
                LogFormat::Pretty => builder.try_init().is_ok(),
            }
        }
        Some((_, ref tracer)) => {
            // Log lines stay as they are: the log layer sees events only, never the spans.
            let events = filter.and(filter_fn(|meta| meta.is_event()));
            let log = tracing_subscriber::fmt::layer()
                .with_ansi(ansi)
                .with_writer(writer.clone());
            let log = match format {
                LogFormat::Json => log
                    .event_format(json::JsonLines)
                    .with_filter(events)
                    .boxed(),
                LogFormat::Pretty => log.with_filter(events).boxed(),
            };
            let spans = tracing_opentelemetry::layer()
                .with_tracer(tracer.clone())
                .with_filter(Targets::new().with_target("sts_broker", tracing::Level::INFO));
            tracing_subscriber::registry()
                .with(log)
                .with(spans)
                .try_init()
                .is_ok()
        }
    };
    // A second initialisation (tests) keeps the first subscriber.
    if !installed {
        return None;
    }
    if format == LogFormat::Json {
        direct::install(writer.clone());
    }
    let provider = provider.map(|(provider, _)| provider);
    if let (Some(settings), Some(_)) = (tracing, &provider) {
        crate::trace::set_sampler(settings.sampler);
    }
    crate::trace::set_enabled(provider.is_some());
    let flusher = writer.clone();
    std::thread::Builder::new()
        .name("log-flush".into())
        .spawn(move || loop {
            std::thread::sleep(FLUSH_EVERY);
            flusher.flush();
        })
        .ok()?;
    Some(LogGuard(writer, provider))
}

#[cfg(test)]
mod tests {
    use super::colours;

    #[test]
    fn colours_only_on_a_terminal_without_no_color() {
        assert!(colours(true, None));
        assert!(colours(true, Some("".into())));
        assert!(!colours(true, Some("1".into())));
        assert!(!colours(false, None));
    }
}
