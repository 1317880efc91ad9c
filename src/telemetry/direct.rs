//! Lines written straight into the log buffer, byte for byte what [`super::json::JsonLines`]
//! writes for the same event, for the line the broker writes on every credential handed out.
//! The general path (a tracing event, its fields visited one by one through `dyn` calls and
//! `fmt::Write`) costs more than the rest of a warm `/getToken`; this one appends known fields
//! into a per-thread buffer and copies the finished line into the shared buffer in one call.
//! Whether the line is wanted at all stays with `RUST_LOG`: the caller asks `tracing` first.

use std::cell::{Cell, RefCell};
use std::io::Write as _;
use std::sync::OnceLock;

use super::BufferedStderr;
use crate::timefmt::{put_digits, write_date_time};

/// The broker's own log buffer, once `telemetry::init` installed the JSON-lines format.
static SINK: OnceLock<BufferedStderr> = OnceLock::new();

pub(super) fn install(sink: BufferedStderr) {
    let _ = SINK.set(sink);
}

thread_local! {
    static LINE: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(1024));
    /// The second last rendered and its `YYYY-MM-DDTHH:MM:SS` text.
    static SECOND: Cell<(i64, [u8; 19])> = const { Cell::new((i64::MIN, [0; 19])) };
}

/// The fields of one line, appended in order after `timestamp`, `level` and `target`.
pub struct Line<'a>(&'a mut Vec<u8>);

impl Line<'_> {
    fn key(&mut self, name: &str) {
        self.0.extend_from_slice(b",\"");
        escape_into(self.0, name);
        self.0.extend_from_slice(b"\":");
    }

    /// A string field, escaped as JSON.
    pub fn str(&mut self, name: &str, value: &str) {
        self.key(name);
        self.0.push(b'"');
        escape_into(self.0, value);
        self.0.push(b'"');
    }

    /// A string field that is left out when absent (as `tracing` records `None`).
    pub fn opt_str(&mut self, name: &str, value: Option<&str>) {
        if let Some(value) = value {
            self.str(name, value);
        }
    }

    /// A value's `Display` text as a string field (as `tracing` records `field::display`),
    /// left out when absent.
    pub fn opt_display(&mut self, name: &str, value: Option<&impl std::fmt::Display>) {
        let Some(value) = value else {
            return;
        };
        self.key(name);
        self.0.push(b'"');
        let start = self.0.len();
        let _ = write!(self.0, "{value}");
        if self.0[start..].iter().any(|&b| escaped(b)) {
            let raw = self.0.split_off(start);
            escape_into(self.0, &String::from_utf8_lossy(&raw));
        }
        self.0.push(b'"');
    }

    /// Fields rendered beforehand by [`render_fields`], appended as they are.
    pub fn rendered(&mut self, fields: &str) {
        self.0.extend_from_slice(fields.as_bytes());
    }

    /// An IP address as a string field, as [`Self::opt_display`] writes it; an IPv4 address
    /// without the general-purpose formatter.
    pub fn opt_ip(&mut self, name: &str, value: Option<std::net::IpAddr>) {
        match value {
            Some(std::net::IpAddr::V4(v4)) => {
                self.key(name);
                self.0.push(b'"');
                for (i, octet) in v4.octets().into_iter().enumerate() {
                    if i > 0 {
                        self.0.push(b'.');
                    }
                    put_u64(self.0, u64::from(octet));
                }
                self.0.push(b'"');
            }
            other => self.opt_display(name, other.as_ref()),
        }
    }

    /// An unsigned number.
    pub fn u64(&mut self, name: &str, value: u64) {
        self.key(name);
        put_u64(self.0, value);
    }

    /// Whole microseconds as milliseconds, exactly as `f64`'s `Display` writes
    /// `micros as f64 / 1000.0`: `0.071`, `1.5`, `2`.
    pub fn millis_of_micros(&mut self, name: &str, micros: u64) {
        self.key(name);
        put_u64(self.0, micros / 1000);
        let fraction = micros % 1000;
        if fraction != 0 {
            let mut digits = [0u8; 3];
            put_digits(&mut digits, fraction as u32);
            let len = 3 - digits.iter().rev().take_while(|&&d| d == b'0').count();
            self.0.push(b'.');
            self.0.extend_from_slice(&digits[..len]);
        }
    }
}

fn put_u64(out: &mut Vec<u8>, mut value: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// String fields as [`Line::str`] appends them (`,"name":"value"`), rendered once for lines
/// that repeat them.
pub fn render_fields(fields: &[(&str, &str)]) -> String {
    let mut out = Vec::new();
    let mut line = Line(&mut out);
    for (name, value) in fields {
        line.str(name, value);
    }
    String::from_utf8(out).expect("escaped UTF-8 stays UTF-8")
}

/// Whether JSON-lines output escapes `b`.
fn escaped(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\' || b == 0x7f
}

/// Appends `s` as the contents of a JSON string, with the escapes of `JsonLines`.
fn escape_into(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    // Most values need no escape: one scan, then one copy.
    if !bytes.iter().any(|&b| escaped(b)) {
        out.extend_from_slice(bytes);
        return;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escaped: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f | 0x7f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if escaped.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.extend_from_slice(escaped);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ`; the date and time of day are rendered once per second.
fn put_timestamp(out: &mut Vec<u8>, at: chrono::DateTime<chrono::Utc>) {
    let second = at.timestamp();
    let (cached, mut text) = SECOND.get();
    if cached != second {
        text = *b"0000-00-00T00:00:00";
        write_date_time(&mut text, at);
        SECOND.set((second, text));
    }
    let mut micros = *b".000000Z";
    put_digits(&mut micros[1..7], at.timestamp_subsec_micros() % 1_000_000);
    out.extend_from_slice(&text);
    out.extend_from_slice(&micros);
}

/// Writes one `INFO` line of `target` into the broker's log buffer: `fill` appends the event's
/// fields, then `message` ends it. Returns `false`, writing nothing, when the broker's own
/// JSON-lines output is not installed (another subscriber, the human format): the caller then
/// logs through `tracing`. The caller checks that `RUST_LOG` enables the line.
pub fn write_info(target: &str, message: &str, fill: impl FnOnce(&mut Line<'_>)) -> bool {
    let Some(sink) = SINK.get() else {
        return false;
    };
    render_info(chrono::Utc::now(), target, message, fill, |line| {
        let _ = sink.lock().write_all(line);
    });
    true
}

fn render_info(
    at: chrono::DateTime<chrono::Utc>,
    target: &str,
    message: &str,
    fill: impl FnOnce(&mut Line<'_>),
    emit: impl FnOnce(&[u8]),
) {
    LINE.with(|cell| {
        let mut buf = cell.borrow_mut();
        buf.clear();
        buf.extend_from_slice(b"{\"timestamp\":\"");
        put_timestamp(&mut buf, at);
        buf.extend_from_slice(b"\",\"level\":\"INFO\",\"target\":\"");
        escape_into(&mut buf, target);
        buf.push(b'"');
        fill(&mut Line(&mut buf));
        buf.extend_from_slice(b",\"message\":\"");
        escape_into(&mut buf, message);
        buf.extend_from_slice(b"\"}\n");
        emit(&buf);
    });
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

    /// The client address of a test line: none, IPv6 or IPv4, by the client request id.
    fn address(client: Option<&str>) -> Option<std::net::IpAddr> {
        match client {
            None => None,
            Some("abc-1") => Some("2001:db8::7".parse().unwrap()),
            Some(_) => Some("192.0.2.250".parse().unwrap()),
        }
    }

    /// The line `JsonLines` writes for the same event, with its timestamp cut out.
    fn through_tracing(micros: u64, client: Option<&str>, caller: &str) -> String {
        let ip = address(client);
        let buffer = Buffer::default();
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .event_format(super::super::json::JsonLines)
            .with_writer(move || sink.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(
                target: "audit",
                request_id = "f0e1",
                client_request_id = client,
                status = 200u16,
                latency_ms = micros as f64 / 1000.0,
                client_ip = ip.map(tracing::field::display),
                odd = tracing::field::display("a\"b"),
                caller,
                role = caller,
                "credentials \"handed\" out"
            );
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        text[text.find("\",\"level").unwrap()..].to_owned()
    }

    fn direct(micros: u64, client: Option<&str>, caller: &str) -> (String, String) {
        let at = chrono::DateTime::parse_from_rfc3339("2026-03-04T05:06:07.000089Z")
            .unwrap()
            .to_utc();
        let mut out = String::new();
        let fill = |line: &mut Line<'_>| {
            line.str("request_id", "f0e1");
            line.opt_str("client_request_id", client);
            line.u64("status", 200);
            line.millis_of_micros("latency_ms", micros);
            line.opt_ip("client_ip", address(client));
            line.opt_display("odd", Some(&"a\"b"));
            line.str("caller", caller);
            // Rendered once, appended as it is.
            line.rendered(&render_fields(&[("role", caller)]));
        };
        render_info(at, "audit", "credentials \"handed\" out", fill, |l| {
            out = String::from_utf8(l.to_vec()).unwrap();
        });
        let rest = out[out.find("\",\"level").unwrap()..].to_owned();
        (out, rest)
    }

    #[test]
    fn direct_lines_are_the_lines_of_the_json_format() {
        for micros in [0, 1, 70, 71, 999, 1000, 1500, 2000, 123_456, 10_000_001] {
            for client in [None, Some("abc-1"), Some("v4-0")] {
                for caller in ["alice", "al\"ice\\\n\t\r\u{1}\u{7f}é"] {
                    let (_, rest) = direct(micros, client, caller);
                    assert_eq!(rest, through_tracing(micros, client, caller), "{micros}");
                }
            }
        }
    }

    #[test]
    fn direct_lines_carry_a_microsecond_timestamp_and_are_json() {
        let (line, _) = direct(71, None, "alice");
        assert!(line.starts_with("{\"timestamp\":\"2026-03-04T05:06:07.000089Z\""));
        assert!(line.ends_with("}\n"));
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["latency_ms"], 0.071);
        // The second's text is reused, the microseconds are not.
        let later = chrono::DateTime::parse_from_rfc3339("2026-03-04T05:06:07.5Z")
            .unwrap()
            .to_utc();
        let mut again = Vec::new();
        put_timestamp(&mut again, later);
        assert_eq!(again, b"2026-03-04T05:06:07.500000Z");
        let next = later + chrono::Duration::seconds(1);
        again.clear();
        put_timestamp(&mut again, next);
        assert_eq!(again, b"2026-03-04T05:06:08.500000Z");
    }

    #[test]
    fn nothing_is_written_without_the_brokers_own_output() {
        // Tests never install the broker's subscriber in this process.
        if SINK.get().is_none() {
            assert!(!write_info("audit", "m", |_| panic!("not called")));
        }
    }
}
