//! The callback body (protocol.md §9.2): `callbackBody` with its `${…}` placeholders filled in —
//! the system variables of the stored object and request, and `${x:name}` from the form's
//! `x:<name>` fields. For `application/x-www-form-urlencoded` each value is percent-encoded; for
//! `application/json` the placeholders stand unquoted and become JSON values (strings quoted and
//! escaped, `size` a number). It also computes the object facts OSS reports (`crc64`,
//! `contentMd5`). It sends nothing and never changes the text around a placeholder.

use std::collections::HashMap;

use base64::{engine::general_purpose::STANDARD as B64, Engine as _};
use md5::{Digest as _, Md5};
use serde_json::Value;

use crate::common::percent_encode;

use super::param::BodyType;

/// The values a callback body may name, for one stored object.
pub(in crate::oss) struct Variables {
    pub(in crate::oss) bucket: String,
    pub(in crate::oss) object: String,
    /// Without the quotes of the `ETag` header.
    pub(in crate::oss) etag: String,
    pub(in crate::oss) size: u64,
    pub(in crate::oss) mime_type: String,
    pub(in crate::oss) crc64: String,
    pub(in crate::oss) content_md5: String,
    pub(in crate::oss) client_ip: String,
    pub(in crate::oss) request_id: String,
    /// `x:<name>` form fields, by their full name (`x:uid`).
    pub(in crate::oss) custom: HashMap<String, String>,
    /// `${operation}`: `PostObject` or `CompleteMultipartUpload`.
    pub(in crate::oss) operation: &'static str,
}

impl Variables {
    /// A system variable or `x:` custom variable as a JSON value; `None` for a name OSS does
    /// not define, which is left as written. An `x:` variable the form lacks is empty, and so are
    /// the image facts: the emulator decodes no images, so every object counts as a non-image.
    fn value(&self, name: &str) -> Option<Value> {
        let text = |s: &str| Some(Value::String(s.to_owned()));
        match name {
            "bucket" => text(&self.bucket),
            "object" => text(&self.object),
            "etag" => text(&self.etag),
            "size" => Some(Value::from(self.size)),
            "mimeType" => text(&self.mime_type),
            "imageInfo.height" | "imageInfo.width" | "imageInfo.format" | "vpcId" => text(""),
            "crc64" => text(&self.crc64),
            "contentMd5" => text(&self.content_md5),
            "clientIp" => text(&self.client_ip),
            "reqId" => text(&self.request_id),
            "operation" => text(self.operation),
            custom if custom.starts_with("x:") => {
                text(self.custom.get(custom).map_or("", String::as_str))
            }
            _ => None,
        }
    }
}

/// protocol.md §9.2: `template` with each known `${name}` replaced, encoded for `body_type`.
pub(in crate::oss) fn render(template: &str, body_type: BodyType, vars: &Variables) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            rest = &rest[start..];
            break;
        };
        let name = &after[..end];
        match vars.value(name) {
            Some(value) => out.push_str(&encode(&value, body_type)),
            None => out.push_str(&rest[start..start + 2 + end + 1]),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

fn encode(value: &Value, body_type: BodyType) -> String {
    match (body_type, value) {
        (BodyType::Json, v) => v.to_string(),
        (BodyType::FormUrlEncoded, Value::String(s)) => percent_encode(s),
        (BodyType::FormUrlEncoded, v) => v.to_string(),
    }
}

/// Base64 of the MD5 of `body` (`Content-MD5`, `${contentMd5}`).
pub(in crate::oss) fn content_md5(body: &[u8]) -> String {
    B64.encode(Md5::digest(body))
}

/// The reflected CRC-64/ECMA-182 polynomial (0x42F0E1EBA9EA3693).
const CRC64_POLY: u64 = 0xC96C_5795_D787_0F42;

const CRC64_TABLE: [u64; 256] = {
    let mut table = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u64;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ CRC64_POLY
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// CRC-64/ECMA-182 as OSS reports it in `x-oss-hash-crc64ecma` (the reflected form, also called
/// CRC-64/XZ), in decimal.
pub(in crate::oss) fn crc64(body: &[u8]) -> String {
    let crc = body.iter().fold(!0u64, |crc, &byte| {
        CRC64_TABLE[((crc ^ u64::from(byte)) & 0xff) as usize] ^ (crc >> 8)
    });
    (!crc).to_string()
}
