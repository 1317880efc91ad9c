//! The `response-content-disposition` value a signed download URL carries when the caller names
//! the file it should be saved as (protocol.md §16.4): `attachment; filename*=UTF-8''<name>` with
//! the name percent-encoded as RFC 5987 `ext-value`. Pure text; it decides nothing about keys.

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// The longest name kept, in bytes (file systems commonly allow 255).
pub const MAX_FILENAME_BYTES: usize = 255;

/// RFC 5987 §3.2.1 `attr-char`: what `ext-value` may carry unescaped.
fn is_attr_char(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte)
}

/// RFC 5987 `value-chars`: every byte of the UTF-8 name that is not an `attr-char` as `%XX`.
pub fn rfc5987_encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len() * 3);
    for &byte in name.as_bytes() {
        if is_attr_char(byte) {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
    }
    out
}

/// The name a browser should save as: what follows the last `/` or `\` (a name, never a path),
/// without control characters, trimmed, cut to [`MAX_FILENAME_BYTES`] on a character boundary.
/// `None` when nothing is left.
pub fn safe_filename(raw: &str) -> Option<String> {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or(raw);
    let cleaned: String = base.chars().filter(|c| !c.is_control()).collect();
    let trimmed = cleaned.trim();
    let mut end = trimmed.len().min(MAX_FILENAME_BYTES);
    while !trimmed.is_char_boundary(end) {
        end -= 1;
    }
    let name = trimmed[..end].trim_end();
    (!name.is_empty() && name != "." && name != "..").then(|| name.to_owned())
}

/// `attachment; filename*=UTF-8''<encoded>` for `raw` made safe by [`safe_filename`]; `None`
/// when no name is left. Only the RFC 5987 form is written: every browser in use reads it, and a
/// plain `filename=` fallback would have to be a lossy ASCII copy of the name.
pub fn attachment(raw: &str) -> Option<String> {
    safe_filename(raw).map(|name| format!("attachment; filename*=UTF-8''{}", rfc5987_encode(&name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc5987_examples() {
        // RFC 5987 §3.2.2 example: the pound sign in "£ rates" is UTF-8 C2 A3.
        assert_eq!(rfc5987_encode("£ rates"), "%C2%A3%20rates");
        // RFC 6266 §5 example: "€ rates" is E2 82 AC.
        assert_eq!(rfc5987_encode("€ rates"), "%E2%82%AC%20rates");
        assert_eq!(rfc5987_encode("a-b_c.d~e!#$&+^`|"), "a-b_c.d~e!#$&+^`|");
        assert_eq!(
            rfc5987_encode("x\"y';z,(1)*%=="),
            "x%22y%27%3Bz%2C%281%29%2A%25%3D%3D"
        );
    }

    #[test]
    fn the_header_value() {
        assert_eq!(
            attachment("report 2024.pdf").as_deref(),
            Some("attachment; filename*=UTF-8''report%202024.pdf")
        );
        assert_eq!(
            attachment("照片.jpg").as_deref(),
            Some("attachment; filename*=UTF-8''%E7%85%A7%E7%89%87.jpg")
        );
    }

    #[test]
    fn names_are_made_safe() {
        assert_eq!(safe_filename("../../etc/passwd").as_deref(), Some("passwd"));
        assert_eq!(
            safe_filename("C:\\Users\\a\\b.txt").as_deref(),
            Some("b.txt")
        );
        assert_eq!(
            safe_filename("a\r\nSet-Cookie: x").as_deref(),
            Some("aSet-Cookie: x")
        );
        assert_eq!(safe_filename("  spaced  ").as_deref(), Some("spaced"));
        for nothing in ["", "   ", "dir/", "..", ".", "\u{0}"] {
            assert_eq!(safe_filename(nothing), None, "{nothing:?}");
        }
        let long = "é".repeat(200);
        let cut = safe_filename(&long).unwrap();
        assert!(cut.len() <= MAX_FILENAME_BYTES && cut.len() == 254);
    }
}
