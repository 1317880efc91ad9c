use super::*;
use crate::encoding::percent_encode;

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

// Published vectors: aliyun/alibabacloud-oss-go-sdk-v2 oss/signer/signer_test.go
// (TestV4AuthQuery, TestV4AuthQueryToken, TestV4AuthQueryWithAdditionalHeaders): ak "ak",
// sk "sk", PUT, bucket "bucket", key "1234+-/123/1.txt", the query and headers below,
// x-oss-expires 599, region cn-hangzhou. Recorded in protocol.md §16.1, where they are marked
// as re-verified independently; the expected strings are copied from there, never recomputed.
fn vector_query() -> Vec<(String, String)> {
    pairs(&[
        ("param1", "value1"),
        ("+param1", "value3"),
        ("|param1", "value4"),
        ("+param2", ""),
        ("|param2", ""),
        ("param2", ""),
    ])
}

fn vector_headers() -> Vec<(String, String)> {
    pairs(&[
        ("x-oss-head1", "value"),
        ("abc", "value"),
        ("ZAbc", "value"),
        ("XYZ", "value"),
        ("content-type", "application/octet-stream"),
    ])
}

fn at(unix: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(unix, 0).unwrap()
}

fn validity(unix: i64) -> Validity {
    Validity {
        signed_at: at(unix),
        expires: 599,
    }
}

fn key(token: Option<&'static str>) -> PresignKey<'static> {
    PresignKey {
        access_key_id: "ak",
        secret: "sk",
        security_token: token,
    }
}

/// The value of `name` in a URL's query, still encoded.
fn param<'u>(url: &'u str, name: &str) -> Option<&'u str> {
    let query = url.split_once('?')?.1;
    query
        .split('&')
        .find_map(|p| p.strip_prefix(name)?.strip_prefix('='))
}

fn vector_url(token: Option<&'static str>, additional: &[&str], signed_at: i64) -> PresignedUrl {
    let query = vector_query();
    let headers = vector_headers();
    let req = PresignRequest {
        method: "PUT",
        bucket: "bucket",
        key: "1234+-/123/1.txt",
        query: &query,
        headers: &headers,
        additional_headers: additional,
    };
    let base = "https://bucket.oss-cn-hangzhou.aliyuncs.com";
    let staged = presign(&req, &key(token), "cn-hangzhou", validity(signed_at), base).unwrap();
    // The fast composition must give the very same URL, so the vectors below check it too.
    let fast = presign_prepared(
        &req,
        &prepared(token),
        "cn-hangzhou",
        validity(signed_at),
        base,
    )
    .unwrap();
    assert_eq!(fast, staged);
    staged
}

/// [`key`] prepared, its token encoded as the credential's holder encodes it.
fn prepared(token: Option<&'static str>) -> PreparedKey<'static> {
    PreparedKey {
        access_key_id: "ak",
        secret: "sk",
        encoded_token: token.map(|t| &*Box::leak(percent_encode(t).into_boxed_str())),
    }
}

#[test]
fn published_query_vector() {
    let signed = vector_url(None, &[], 1_702_781_677);
    assert_eq!(
        param(&signed.url, "x-oss-signature"),
        Some("a39966c61718be0d5b14e668088b3fa07601033f6518ac7b523100014269c0fe")
    );
    assert_eq!(param(&signed.url, "x-oss-expires"), Some("599"));
    assert_eq!(
        param(&signed.url, "x-oss-credential"),
        Some("ak%2F20231217%2Fcn-hangzhou%2Foss%2Faliyun_v4_request")
    );
    assert_eq!(param(&signed.url, "x-oss-additional-headers"), None);
    assert_eq!(param(&signed.url, "x-oss-security-token"), None);
    assert_eq!(signed.expires_at, at(1_702_782_276));
}

#[test]
fn published_query_vector_with_token() {
    let signed = vector_url(Some("token"), &[], 1_702_785_388);
    assert_eq!(
        param(&signed.url, "x-oss-signature"),
        Some("3817ac9d206cd6dfc90f1c09c00be45005602e55898f26f5ddb06d7892e1f8b5")
    );
    assert_eq!(param(&signed.url, "x-oss-date"), Some("20231217T035628Z"));
    assert_eq!(param(&signed.url, "x-oss-security-token"), Some("token"));
}

#[test]
fn published_query_vector_with_additional_headers() {
    for additional in [
        &["ZAbc", "abc"][..],
        &["x-oss-no-exist", "abc", "x-oss-head1", "ZAbc"][..],
    ] {
        let signed = vector_url(None, additional, 1_702_783_809);
        assert_eq!(
            param(&signed.url, "x-oss-signature"),
            Some("6bd984bfe531afb6db1f7550983a741b103a8c58e5e14f83ea474c2322dfa2b7")
        );
        assert_eq!(param(&signed.url, "x-oss-date"), Some("20231217T033009Z"));
        assert_eq!(
            param(&signed.url, "x-oss-additional-headers"),
            Some("abc%3Bzabc")
        );
    }
}

#[test]
fn canonical_request_of_the_token_vector() {
    // The canonical request of TestV4AuthQueryToken as recorded in protocol.md §16.1.
    let query = vector_query();
    let headers = vector_headers();
    let req = PresignRequest {
        method: "PUT",
        bucket: "bucket",
        key: "1234+-/123/1.txt",
        query: &query,
        headers: &headers,
        additional_headers: &[],
    };
    let full = signing_query(
        &req,
        &key(Some("token")),
        "cn-hangzhou",
        validity(1_702_785_388),
    )
    .unwrap();
    assert_eq!(
        presign_canonical_request(&req, &full),
        "PUT\n/bucket/1234%2B-/123/1.txt\n\
         %2Bparam1=value3&%2Bparam2&%7Cparam1=value4&%7Cparam2&param1=value1&param2&\
         x-oss-credential=ak%2F20231217%2Fcn-hangzhou%2Foss%2Faliyun_v4_request&\
         x-oss-date=20231217T035628Z&x-oss-expires=599&x-oss-security-token=token&\
         x-oss-signature-version=OSS4-HMAC-SHA256\n\
         content-type:application/octet-stream\nx-oss-head1:value\n\n\nUNSIGNED-PAYLOAD"
    );
}

#[test]
fn url_shape_for_each_kind_of_host() {
    let query = pairs(&[("x-oss-process", "image/resize,w_200")]);
    let req = PresignRequest {
        method: "GET",
        bucket: "examplebucket",
        key: "uploads/alice/a b+c.jpg",
        query: &query,
        headers: &[],
        additional_headers: &[],
    };
    for base in [
        "https://examplebucket.oss-cn-hangzhou.aliyuncs.com",
        "https://cdn.example.com/",
        "http://127.0.0.1:9000/examplebucket",
    ] {
        let signed = presign(
            &req,
            &key(Some("tok/+=")),
            "cn-hangzhou",
            validity(1_702_785_388),
            base,
        )
        .unwrap();
        let expected_start = format!(
            "{}/uploads/alice/a%20b%2Bc.jpg?x-oss-credential=",
            base.trim_end_matches('/')
        );
        assert!(signed.url.starts_with(&expected_start), "{}", signed.url);
        assert_eq!(
            param(&signed.url, "x-oss-process"),
            Some("image%2Fresize%2Cw_200")
        );
        assert_eq!(
            param(&signed.url, "x-oss-security-token"),
            Some("tok%2F%2B%3D")
        );
        assert!(signed.url.ends_with(&format!(
            "&x-oss-signature={}",
            param(&signed.url, "x-oss-signature").unwrap()
        )));
        assert_eq!(param(&signed.url, "x-oss-signature").unwrap().len(), 64);
    }
}

#[test]
fn the_host_does_not_change_the_signature() {
    // The canonical URI is always /<bucket>/<key>, whatever host serves the URL.
    let req = PresignRequest {
        method: "GET",
        bucket: "b",
        key: "k",
        query: &[],
        headers: &[],
        additional_headers: &[],
    };
    let sig = |base: &str| {
        let url = presign(&req, &key(None), "cn-hangzhou", validity(0), base)
            .unwrap()
            .url;
        param(&url, "x-oss-signature").unwrap().to_owned()
    };
    assert_eq!(sig("https://cdn.example.com"), sig("http://127.0.0.1:1/b"));
}

#[test]
fn validity_bounds() {
    let req = PresignRequest {
        method: "GET",
        bucket: "b",
        key: "k",
        query: &[],
        headers: &[],
        additional_headers: &[],
    };
    let with = |expires| {
        presign(
            &req,
            &key(None),
            "cn-hangzhou",
            Validity {
                signed_at: at(0),
                expires,
            },
            "https://h",
        )
    };
    assert_eq!(with(0), Err(PresignError::ExpiresOutOfRange(0)));
    assert_eq!(with(604_801), Err(PresignError::ExpiresOutOfRange(604_801)));
    assert_eq!(with(604_800).unwrap().expires_at, at(604_800));
    assert_eq!(with(1).unwrap().expires_at, at(1));
}

#[test]
fn extra_parameters_cannot_shadow_signing_ones() {
    for name in ["x-oss-signature", "X-OSS-Expires", "x-oss-security-token"] {
        let query = pairs(&[(name, "1")]);
        let req = PresignRequest {
            method: "GET",
            bucket: "b",
            key: "k",
            query: &query,
            headers: &[],
            additional_headers: &[],
        };
        assert_eq!(
            presign(&req, &key(None), "cn-hangzhou", validity(0), "https://h"),
            Err(PresignError::ReservedParameter(name.to_owned()))
        );
    }
}

#[test]
fn debug_hides_the_secret_and_token() {
    let shown = format!(
        "{:?}",
        PresignKey {
            access_key_id: "STS.id",
            secret: "very-secret-value",
            security_token: Some("token-value"),
        }
    );
    assert!(shown.contains("STS.id"));
    assert!(!shown.contains("very-secret-value") && !shown.contains("token-value"));
}

#[test]
fn the_prepared_composition_signs_what_the_stages_sign() {
    // Odd keys, tokens, parameters and headers: both compositions give one URL, byte for byte.
    let keys = [
        "k",
        "uploads/alice/a b+c.jpg",
        "dir/\u{7167}\u{7247}/~x*y(1).png",
        "a//b/",
    ];
    let tokens = [None, Some("CAIS+abc/def=="), Some("t o&k=en%")];
    let queries = [
        pairs(&[]),
        pairs(&[
            ("partNumber", "7"),
            ("uploadId", "0004B9894A22E5B1888A1E29F823ABCD"),
        ]),
        pairs(&[
            ("x-oss-process", "image/resize,w_200"),
            ("bare", ""),
            ("Z", "a b"),
        ]),
        vector_query(),
    ];
    let headers = [pairs(&[]), vector_headers()];
    let additional: [&[&str]; 2] = [&[], &["ZAbc", "abc"]];
    for (i, object) in keys.iter().enumerate() {
        for token in tokens {
            for query in &queries {
                for (h, extra) in headers.iter().zip(additional) {
                    let req = PresignRequest {
                        method: if i % 2 == 0 { "GET" } else { "PUT" },
                        bucket: "examplebucket",
                        key: object,
                        query,
                        headers: h,
                        additional_headers: extra,
                    };
                    let base = "http://127.0.0.1:9000/examplebucket/";
                    let at = validity(1_702_785_388 + i as i64 * 86_400);
                    let staged = presign(&req, &key(token), "cn-hangzhou", at, base);
                    let fast = presign_prepared(&req, &prepared(token), "cn-hangzhou", at, base);
                    assert_eq!(fast, staged, "{object} {token:?} {query:?}");
                }
            }
        }
    }
}

#[test]
fn the_prepared_composition_refuses_what_the_stages_refuse() {
    let reserved = pairs(&[("X-OSS-Expires", "1")]);
    for (query, expires) in [(pairs(&[]), 0), (pairs(&[]), 604_801), (reserved, 60)] {
        let req = PresignRequest {
            method: "GET",
            bucket: "b",
            key: "k",
            query: &query,
            headers: &[],
            additional_headers: &[],
        };
        let at = Validity {
            signed_at: at(0),
            expires,
        };
        let staged = presign(&req, &key(None), "cn-hangzhou", at, "https://h");
        assert!(staged.is_err());
        assert_eq!(
            presign_prepared(&req, &prepared(None), "cn-hangzhou", at, "https://h"),
            staged
        );
    }
}

#[test]
fn prepared_debug_hides_the_secret_and_token() {
    let shown = format!(
        "{:?}",
        PreparedKey {
            access_key_id: "STS.id",
            secret: "very-secret-value",
            encoded_token: Some("token-value"),
        }
    );
    assert!(shown.contains("STS.id"));
    assert!(!shown.contains("very-secret-value") && !shown.contains("token-value"));
}
