//! Timestamps as Alibaba writes them (`YYYY-MM-DDTHH:MM:SSZ`, protocol.md §1.3, §1.5), written
//! digit by digit: the `/getToken` body, STS requests, OSS forms and every JSON log line use
//! them. Pure functions; no clock.

use chrono::{DateTime, Utc};

/// `YYYY-MM-DDTHH:MM:SSZ`, the timestamp shape of STS (protocol.md §1.3, §1.5).
pub fn format_timestamp(at: DateTime<Utc>) -> String {
    let mut out = String::with_capacity(20);
    push_timestamp(&mut out, at);
    out
}

/// Appends `YYYY-MM-DDTHH:MM:SSZ` to `out`, with no string of its own.
pub fn push_timestamp(out: &mut String, at: DateTime<Utc>) {
    let mut text = *b"0000-00-00T00:00:00Z";
    write_date_time(&mut text, at);
    out.push_str(std::str::from_utf8(&text).expect("ASCII digits"));
}

/// Writes `YYYY-MM-DDTHH:MM:SS` into the first 19 bytes of `out`, which must already hold the
/// separators. Digit by digit: this runs several times per `/getToken` (and once per log line),
/// and both chrono's `format` and `write!` cost more than the rest of the rendering.
pub fn write_date_time(out: &mut [u8], at: DateTime<Utc>) {
    use chrono::{Datelike as _, Timelike as _};
    put_digits(&mut out[0..4], at.year().clamp(0, 9999) as u32);
    put_digits(&mut out[5..7], at.month());
    put_digits(&mut out[8..10], at.day());
    put_digits(&mut out[11..13], at.hour());
    put_digits(&mut out[14..16], at.minute());
    put_digits(&mut out[17..19], at.second());
}

/// Fills `out` with the last `out.len()` decimal digits of `value`.
pub fn put_digits(out: &mut [u8], mut value: u32) {
    for digit in out.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_have_second_precision_and_a_literal_z() {
        let at = DateTime::parse_from_rfc3339("2015-04-09T11:52:19.987Z")
            .unwrap()
            .to_utc();
        assert_eq!(format_timestamp(at), "2015-04-09T11:52:19Z");
        let early = DateTime::parse_from_rfc3339("0999-01-02T03:04:05Z")
            .unwrap()
            .to_utc();
        assert_eq!(format_timestamp(early), "0999-01-02T03:04:05Z");
        let mut appended = String::from("at ");
        push_timestamp(&mut appended, at);
        assert_eq!(appended, "at 2015-04-09T11:52:19Z");
    }
}
