//! The RPC "signature V1" (HMAC-SHA1, `SignatureVersion=1.0`) as pure stages: percent-encode →
//! canonical query → string-to-sign → signature. No I/O, no clock, no randomness: callers pass
//! every parameter in, so each stage can be pinned to published vectors.

pub use crate::encoding::{hmac_sha1_base64, percent_encode};

/// Sorts the parameters by name (byte order) and joins `enc(name)=enc(value)` with `&`.
/// Empty values are kept as `name=` (protocol.md §2.3, V-PY). `Signature` must not be among them.
pub fn canonical_query<'a, I>(params: I) -> String
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    let mut encoded: Vec<(String, String)> = params
        .into_iter()
        .map(|(name, value)| (percent_encode(name), percent_encode(value)))
        .collect();
    encoded.sort();
    let mut out = String::new();
    for (i, (name, value)) in encoded.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
    out
}

/// `METHOD&%2F&enc(canonical_query)` (protocol.md §2.1 step 4: the query is encoded a second time).
pub fn string_to_sign(method: &str, canonical_query: &str) -> String {
    format!(
        "{method}&{}&{}",
        percent_encode("/"),
        percent_encode(canonical_query)
    )
}

/// Base64 of HMAC-SHA1 keyed with `secret + "&"` (protocol.md §2.1 step 5).
pub fn signature(access_key_secret: &str, string_to_sign: &str) -> String {
    let mut key = Vec::with_capacity(access_key_secret.len() + 1);
    key.extend_from_slice(access_key_secret.as_bytes());
    key.push(b'&');
    hmac_sha1_base64(&key, string_to_sign.as_bytes())
}

/// All stages at once: the signature for `params` sent with `method`.
pub fn sign<'a, I>(method: &str, params: I, access_key_secret: &str) -> String
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    signature(
        access_key_secret,
        &string_to_sign(method, &canonical_query(params)),
    )
}

#[cfg(test)]
mod tests {
    //! Every expected value below is a literal copied from an independent, published source
    //! (named beside it), never recomputed with this module.
    use super::*;

    // V-DOC: Alibaba "Request signature" page (RPC signature V2 doc), DescribeRegions example.
    const V_DOC: [(&str, &str); 8] = [
        ("AccessKeyId", "testid"),
        ("Action", "DescribeRegions"),
        ("Format", "XML"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
        ("SignatureVersion", "1.0"),
        ("Timestamp", "2016-02-23T12:46:24Z"),
        ("Version", "2014-05-26"),
    ];

    #[test]
    fn percent_encoding_matches_credentials_java_table() {
        // credentials-java AcsURLEncoderTest.java
        assert_eq!(
            percent_encode("123abc!@#$%^&*()-=_+ ~|\\/"),
            "123abc%21%40%23%24%25%5E%26%2A%28%29-%3D_%2B%20~%7C%5C%2F"
        );
        // protocol.md §2.4 (computed independently in Python and Java)
        assert_eq!(
            percent_encode("a b*c~d+e/f=g:h@i"),
            "a%20b%2Ac~d%2Be%2Ff%3Dg%3Ah%40i"
        );
        // Multi-byte UTF-8 becomes one escape per byte (UTF-8 of U+4E2D U+6587).
        assert_eq!(percent_encode("中文"), "%E4%B8%AD%E6%96%87");
    }

    #[test]
    fn v_doc_get_stages() {
        let sts = string_to_sign("GET", &canonical_query(V_DOC));
        assert_eq!(
            sts,
            "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26"
        );
        assert_eq!(
            signature("testsecret", &sts),
            "OLeaidS1JvxuMvnyHOwuJ+uX5qY="
        );
    }

    #[test]
    fn v_doc_post_and_order_independence() {
        // Same parameters with POST: value asserted in several third-party test suites (protocol.md §2.3).
        let mut reversed = V_DOC;
        reversed.reverse();
        assert_eq!(
            sign("POST", reversed, "testsecret"),
            "MxbnVAM4w6sft9xjVpe/GCKueuk="
        );
    }

    #[test]
    fn v_oau_empty_method() {
        // alibabacloud-go/openapi-util service_test.go Test_GetRPCSignature
        let sts = string_to_sign("", &canonical_query([("test", "ok")]));
        assert_eq!(sts, "&%2F&test%3Dok");
        assert_eq!(
            signature("accessKeySecret", &sts),
            "jHx/oHoHNrbVfhncHEvPdHXZwHU="
        );
    }

    #[test]
    fn v_py_keeps_empty_values() {
        // aliyun-python-sdk-core tests/test_request.py test_rpc_request_get_url (swapped mocks).
        let params = [
            ("Action", "action_name"),
            ("Version", "version"),
            ("Format", "None"),
            ("RegionId", "regionid"),
            ("Timestamp", "7e1c7d12-7551-4856-8abb-1938ccac6bcc"),
            ("SignatureNonce", "2018-12-04T04:03:12Z"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureType", ""),
            ("SignatureVersion", "1.0"),
            ("AccessKeyId", "accesskeyid"),
        ];
        assert!(canonical_query(params).contains("&SignatureType=&"));
        assert_eq!(
            sign("GET", params, "secret"),
            "Ej4GsaOI7FJyN00E5OpDHHCx2vk="
        );
    }

    #[test]
    fn other_published_stage_values() {
        // aliyun-java-sdk-core RpcSignatureComposerTest
        assert_eq!(
            string_to_sign(
                "GET",
                &canonical_query([("queryKey2", "queryValue2"), ("queryKey1", "queryValue1")])
            ),
            "GET&%2F&queryKey1%3DqueryValue1%26queryKey2%3DqueryValue2"
        );
        // credentials-python tests/test_util.py
        assert_eq!(string_to_sign("GET", &canonical_query([])), "GET&%2F&");
    }

    #[test]
    fn raw_hmac_sha1_primitives() {
        // credentials-go utils_test.go, aliyun-python-sdk-core test_sha_hmac1.py,
        // credentials-java ParameterHelperTest.java, credentials-python test_util.py
        let table = [
            ("secret", "source", "Jv4yi8SobFhg5t1C7nWLbhBSFZQ="),
            ("secret", "中文unicode", "szlfHs3WVaO/HgY3Cg7/uyXDaRw="),
            ("secret", "中文", "CqCYIa39h9SSWuXnTz8F5hh9UPA="),
            ("sk#$!~~~", "abc~!@#", "7eV3A584uvdgKVk8Ck8r9ukg1gE="),
            ("secret", "123", "sU6S6xf2t47FogXuDhqyIPt/htc="),
        ];
        for (key, data, expected) in table {
            assert_eq!(hmac_sha1_base64(key.as_bytes(), data.as_bytes()), expected);
        }
    }

    const ASSUME_ROLE: [(&str, &str); 12] = [
        ("AccessKeyId", "testid"),
        ("Action", "AssumeRole"),
        ("DurationSeconds", "3600"),
        ("Format", "JSON"),
        (
            "Policy",
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":["oss:PutObject"],"Resource":["acs:oss:*:*:examplebucket/uploads/*"]}]}"#,
        ),
        ("RoleArn", "acs:ram::1234567890123456:role/upload-role"),
        ("RoleSessionName", "user-42@mini.app"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureNonce", "6a3e1b5c-0d2f-4c1e-9f4b-123456789abc"),
        ("SignatureVersion", "1.0"),
        ("Timestamp", "2024-01-01T00:00:00Z"),
        ("Version", "2015-04-01"),
    ];

    #[test]
    fn assume_role_shaped_vectors() {
        // protocol.md §2.4: computed independently with Python and with Java's URLEncoder recipe.
        assert_eq!(
            string_to_sign("POST", &canonical_query(ASSUME_ROLE)),
            "POST&%2F&AccessKeyId%3Dtestid%26Action%3DAssumeRole%26DurationSeconds%3D3600%26Format%3DJSON%26Policy%3D%257B%2522Version%2522%253A%25221%2522%252C%2522Statement%2522%253A%255B%257B%2522Effect%2522%253A%2522Allow%2522%252C%2522Action%2522%253A%255B%2522oss%253APutObject%2522%255D%252C%2522Resource%2522%253A%255B%2522acs%253Aoss%253A%252A%253A%252A%253Aexamplebucket%252Fuploads%252F%252A%2522%255D%257D%255D%257D%26RoleArn%3Dacs%253Aram%253A%253A1234567890123456%253Arole%252Fupload-role%26RoleSessionName%3Duser-42%2540mini.app%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D6a3e1b5c-0d2f-4c1e-9f4b-123456789abc%26SignatureVersion%3D1.0%26Timestamp%3D2024-01-01T00%253A00%253A00Z%26Version%3D2015-04-01"
        );
        assert_eq!(
            sign("GET", ASSUME_ROLE, "testsecret"),
            "YwBvvjIJGRBfVGhKUrdSTbHhIUI="
        );
        assert_eq!(
            sign("POST", ASSUME_ROLE, "testsecret"),
            "bB0/BZwLmIWhgoF90UX1c5G54YE="
        );
        let with_token = ASSUME_ROLE
            .into_iter()
            .chain([("SecurityToken", "CAIS+abc/def==")]);
        assert_eq!(
            sign("POST", with_token, "testsecret"),
            "JmK5ujqHJpW0IXG37CpujIBvFYI="
        );
    }

    #[test]
    fn get_caller_identity_vector() {
        // protocol.md §2.4
        let params = [
            ("AccessKeyId", "testid"),
            ("Action", "GetCallerIdentity"),
            ("Format", "JSON"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "0c7a5f0e-1111-2222-3333-444455556666"),
            ("SignatureVersion", "1.0"),
            ("Timestamp", "2024-01-01T00:00:00Z"),
            ("Version", "2015-04-01"),
        ];
        assert_eq!(
            sign("POST", params, "testsecret"),
            "tnk2WpHWeFxb1NHFLHuKaBK2eEM="
        );
    }
}
