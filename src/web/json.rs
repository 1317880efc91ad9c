//! JSON text written by hand for the answers that carry long signed URLs: a string that needs no
//! escaping (a presigned URL is percent-encoded) is copied as it is after one branch-free scan,
//! instead of going byte by byte through the general serialiser. Any other string is escaped by
//! `serde_json`, so the output is always what `serde_json` would write.

/// Appends `s` as a JSON string literal.
pub fn push_str(out: &mut String, s: &str) {
    // The bytes JSON requires escaped (RFC 8259 §7): control characters, `"` and `\`. A fold
    // without an early exit lets the compiler scan many bytes at a time.
    let plain = s
        .bytes()
        .fold(true, |ok, b| ok & (b >= 0x20) & (b != b'"') & (b != b'\\'));
    if plain {
        out.reserve(s.len() + 2);
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        out.push_str(&serde_json::to_string(s).expect("a string serialises"));
    }
}

/// Appends `,"<name>":` and then `s` as a JSON string (`name` is a fixed field name).
pub fn push_field(out: &mut String, name: &str, s: &str) {
    out.push_str(",\"");
    out.push_str(name);
    out.push_str("\":");
    push_str(out, s);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_written_as_serde_json_writes_them() {
        let cases = [
            "",
            "https://h/k%20a?x-oss-signature=ab",
            "a\"b\\c",
            "line\nbreak\ttab\u{1}",
            "\u{7f}\u{e9}\u{7167}/",
        ];
        for s in cases {
            let mut out = String::from("[");
            push_str(&mut out, s);
            assert_eq!(out[1..], serde_json::to_string(s).unwrap(), "{s:?}");
        }
        let mut out = String::from("{\"a\":1");
        push_field(&mut out, "url", "x\"y");
        out.push('}');
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&out).unwrap()["url"],
            "x\"y"
        );
    }
}
