//! A lean JSON-lines event format: one object per event with `timestamp`, `level`, `target`,
//! the event's fields flattened, and `message`. It writes straight into the line buffer with no
//! intermediate map or serializer, because the broker writes a line for every request.

use std::fmt;

use chrono::{Timelike as _, Utc};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::timefmt::{put_digits, write_date_time};

pub(super) struct JsonLines;

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ`, digit by digit (one per log line, so per request).
fn timestamp_micros(at: chrono::DateTime<Utc>) -> TimestampText {
    let mut out = *b"0000-00-00T00:00:00.000000Z";
    write_date_time(&mut out, at);
    put_digits(&mut out[20..26], at.nanosecond() / 1000 % 1_000_000);
    TimestampText(out)
}

struct TimestampText([u8; 27]);

impl TimestampText {
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("ASCII digits")
    }
}

/// Writes `s` as the contents of a JSON string (RFC 8259 §7 escapes).
fn escape(out: &mut Writer<'_>, s: &str) -> fmt::Result {
    // Most values (ids, codes, routes) need no escaping: one scan, one write.
    if !s
        .bytes()
        .any(|b| b < 0x20 || b == b'"' || b == b'\\' || b == 0x7f)
    {
        return out.write_str(s);
    }
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escaped: Option<&str> = match b {
            b'"' => Some("\\\""),
            b'\\' => Some("\\\\"),
            b'\n' => Some("\\n"),
            b'\r' => Some("\\r"),
            b'\t' => Some("\\t"),
            0..=0x1f | 0x7f => None,
            _ => continue,
        };
        out.write_str(&s[start..i])?;
        match escaped {
            Some(e) => out.write_str(e)?,
            None => write!(out, "\\u{b:04x}")?,
        }
        start = i + 1;
    }
    out.write_str(&s[start..])
}

struct Fields<'a, 'w> {
    out: &'a mut Writer<'w>,
    message: Option<String>,
    result: fmt::Result,
}

impl Fields<'_, '_> {
    fn key(&mut self, field: &Field) -> fmt::Result {
        self.out.write_str(",\"")?;
        escape(self.out, field.name())?;
        self.out.write_str("\":")
    }

    fn string(&mut self, field: &Field, value: &str) {
        if self.result.is_err() {
            return;
        }
        if field.name() == "message" {
            self.message = Some(value.to_owned());
            return;
        }
        self.result = self
            .key(field)
            .and_then(|()| self.out.write_char('"'))
            .and_then(|()| escape(self.out, value))
            .and_then(|()| self.out.write_char('"'));
    }

    fn raw(&mut self, field: &Field, value: fmt::Arguments<'_>) {
        if self.result.is_ok() {
            self.result = self.key(field).and_then(|()| self.out.write_fmt(value));
        }
    }
}

impl Visit for Fields<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.string(field, value);
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.raw(field, format_args!("{value}"));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.raw(field, format_args!("{value}"));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.raw(field, format_args!("{value}"));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        if value.is_finite() {
            self.raw(field, format_args!("{value}"));
        } else {
            self.string(field, &value.to_string());
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.string(field, &format!("{value:?}"));
    }
}

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        writer.write_str("{\"timestamp\":\"")?;
        writer.write_str(timestamp_micros(Utc::now()).as_str())?;
        writer.write_str("\",\"level\":\"")?;
        writer.write_str(meta.level().as_str())?;
        writer.write_str("\",\"target\":\"")?;
        escape(&mut writer, meta.target())?;
        writer.write_char('"')?;
        let mut fields = Fields {
            out: &mut writer,
            message: None,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        if let Some(message) = fields.message {
            writer.write_str(",\"message\":\"")?;
            escape(&mut writer, &message)?;
            writer.write_char('"')?;
        }
        writer.write_str("}\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_are_json_with_flattened_fields() {
        let buffer = Buffer::default();
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .event_format(JsonLines)
            .with_writer(move || sink.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(
                target: "audit",
                caller = "al\"ice\\\n\u{1}",
                status = 200u64,
                delta = -3i64,
                latency_ms = 1.5f64,
                ok = true,
                route = ?"/getToken",
                "credentials \"handed\" out"
            );
            tracing::warn!(nan = f64::NAN, "odd");
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect(l))
            .collect();
        assert_eq!(lines.len(), 2);
        let first = &lines[0];
        assert_eq!(first["level"], "INFO");
        assert_eq!(first["target"], "audit");
        assert_eq!(first["caller"], "al\"ice\\\n\u{1}");
        assert_eq!(first["status"], 200);
        assert_eq!(first["delta"], -3);
        assert_eq!(first["latency_ms"], 1.5);
        assert_eq!(first["ok"], true);
        assert_eq!(first["route"], "\"/getToken\"");
        assert_eq!(first["message"], "credentials \"handed\" out");
        assert!(chrono::DateTime::parse_from_rfc3339(first["timestamp"].as_str().unwrap()).is_ok());
        assert_eq!(lines[1]["nan"], "NaN");
    }
}
