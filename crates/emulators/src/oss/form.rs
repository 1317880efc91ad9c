//! A PostObject form as OSS reads it (protocol.md §5.2): parsed from the body by `super::multipart`,
//! fields looked up case-insensitively, and its shape checked — one `file` part, last; no field
//! given twice; field values within 2 MiB, text, not files; a non-empty `key`. It checks no
//! signature or policy; those are `super::form_signature` and `super::post_policy`.

use actix_web::HttpRequest;

use super::errors::{err, invalid_argument, OssError};
use super::header;
use super::multipart::{boundary, parse_multipart, Part};

/// protocol.md §5.2: all form-field values together.
const MAX_FIELD_VALUES_BYTES: usize = 2 * 1024 * 1024;

pub(super) struct Form {
    pub(super) parts: Vec<Part>,
}

fn malformed() -> OssError {
    err(
        400,
        "MalformedPOSTRequest",
        "The body of your POST request is not well-formed multipart/form-data.",
    )
}

impl Form {
    /// The multipart body of `req`, as parts; refused as malformed when it is not strict
    /// `multipart/form-data`.
    pub(super) fn parse(req: &HttpRequest, body: &[u8]) -> Result<Form, OssError> {
        let content_type = header(req, "content-type").unwrap_or_default();
        let boundary = boundary(&content_type).ok_or_else(malformed)?;
        Ok(Form {
            parts: parse_multipart(body, &boundary).ok_or_else(malformed)?,
        })
    }

    pub(super) fn get(&self, name: &str) -> Option<&Part> {
        self.parts
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
    }

    pub(super) fn text(&self, name: &str) -> Option<&str> {
        self.get(name)
            .and_then(|p| std::str::from_utf8(&p.value).ok())
    }

    /// Shape (protocol.md §5.2): one `file`, last; `key` before it; no duplicated fields. Returns the
    /// file part and the key.
    pub(super) fn check_shape(&self) -> Result<(&Part, String), OssError> {
        let Some(last) = self
            .parts
            .last()
            .filter(|p| p.name.eq_ignore_ascii_case("file"))
        else {
            return Err(invalid_argument(
                "The file must be the last field in the form and only one file is allowed.",
            ));
        };
        for (i, p) in self.parts.iter().enumerate() {
            if self.parts[..i]
                .iter()
                .any(|q| q.name.eq_ignore_ascii_case(&p.name))
            {
                return Err(invalid_argument(format!(
                    "The form field {} is given more than once.",
                    p.name
                )));
            }
        }
        self.check_fields()?;
        let key = self.text("key").unwrap_or_default().to_owned();
        if key.is_empty() {
            return Err(invalid_argument(
                "The bucket POST must contain the specified 'key'. If it is specified, please check the order of the fields.",
            ));
        }
        Ok((last, key))
    }

    /// The fields before the file: 2 MiB of values at most, all text, none a file.
    fn check_fields(&self) -> Result<(), OssError> {
        let fields = &self.parts[..self.parts.len() - 1];
        if fields.iter().map(|p| p.value.len()).sum::<usize>() > MAX_FIELD_VALUES_BYTES {
            return Err(err(
                400,
                "FieldItemTooLong",
                "Your form fields are too long.",
            ));
        }
        if fields
            .iter()
            .any(|p| p.filename.is_some() || std::str::from_utf8(&p.value).is_err())
        {
            return Err(malformed());
        }
        Ok(())
    }

    /// protocol.md §5.2: `x-oss-content-type` > `Content-Type` field > the file part's type.
    pub(super) fn effective_content_type(&self) -> Option<String> {
        self.text("x-oss-content-type")
            .or_else(|| self.text("content-type"))
            .map(str::to_owned)
            .or_else(|| self.get("file").and_then(|f| f.content_type.clone()))
    }
}
