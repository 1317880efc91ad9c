//! A caller's multipart uploads against the strict OSS emulator: keys chosen under the caller's
//! `dir`, types, part URLs that work (and only for their part), limits that abort, OSS's
//! refusals as the caller's, forbid-overwrite.

use std::sync::Arc;

use broker_emulators::oss::{OssEmulator, OssEmulatorConfig};
use broker_emulators::sts::{StsEmulator, StsEmulatorConfig};
use chrono::Duration;

use super::*;
use crate::clock::SystemClock;
use crate::key_template::KeyTemplate;
use crate::oss::multipart::MultipartTarget;

const UUID: &str = "0b5e8c1a-3f2d-4c6e-9a7b-1d2e3f405162";

struct Setup {
    _sts: StsEmulator,
    oss: OssEmulator,
    client: MultipartClient,
    settings: MultipartSettings,
    http: reqwest::Client,
}

async fn setup() -> Setup {
    let sts = StsEmulator::start(StsEmulatorConfig::demo()).await.unwrap();
    let oss = OssEmulator::start(OssEmulatorConfig {
        bucket: "examplebucket".into(),
        region: "cn-hangzhou".into(),
        keys: sts.keys(),
        clock: Arc::new(SystemClock),
    })
    .await
    .unwrap();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let target = MultipartTarget {
        bucket_url: oss.bucket_url(),
        bucket: "examplebucket".into(),
        region: "cn-hangzhou".into(),
    };
    let settings = MultipartSettings {
        object_key: ObjectKeyRule::Template(KeyTemplate::parse("${date}/${uuid}${ext}").unwrap()),
        overwrite: true,
        part_url_ttl_seconds: 900,
        max_upload_bytes: 300 * 1024,
        allowed_content_types: vec!["video/mp4".into(), "text/plain".into()],
        upload_host: oss.bucket_url(),
    };
    Setup {
        client: MultipartClient::new(http.clone(), target, Arc::new(SystemClock)),
        _sts: sts,
        oss,
        settings,
        http,
    }
}

impl Setup {
    fn caller(&self, dir: &'static str) -> CallerUploads<'_> {
        CallerUploads {
            settings: &self.settings,
            client: &self.client,
            key: PresignKey {
                access_key_id: "LTAI5tDemoBrokerKey00001",
                secret: "EmuDemoSecretDoNotUseInProd001",
                security_token: None,
            },
            encoded_token: None,
            key_expires: Utc::now() + Duration::hours(1),
            dir,
        }
    }

    /// PUTs a part through a URL the caller signed; answers the status and the ETag.
    async fn put(
        &self,
        c: &CallerUploads<'_>,
        key: &str,
        id: &str,
        n: u32,
        body: Vec<u8>,
    ) -> (u16, String) {
        let signed = c.sign_part(key, id, n, Utc::now()).unwrap();
        let response = self.http.put(&signed.url).body(body).send().await.unwrap();
        let etag = response
            .headers()
            .get("etag")
            .map(|e| e.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (response.status().as_u16(), etag)
    }
}

fn refusal(f: Failure) -> Refusal {
    match f {
        Failure::Refused(r) => r,
        other => panic!("not a refusal: {other:?}"),
    }
}

#[tokio::test]
async fn a_caller_uploads_parts_under_its_own_dir() {
    let s = setup().await;
    let alice = s.caller("uploads/alice/");
    let created = alice
        .create("Trip.MP4", "video/mp4", UUID, Utc::now())
        .await
        .unwrap();
    let today = Utc::now().format("%Y/%m/%d");
    assert_eq!(created.key, format!("uploads/alice/{today}/{UUID}.mp4"));
    assert_eq!(created.bucket, "examplebucket");
    let (status, e1) = s
        .put(
            &alice,
            &created.key,
            &created.upload_id,
            1,
            vec![1; 102_400],
        )
        .await;
    assert_eq!(status, 200);
    let (_, e2) = s
        .put(&alice, &created.key, &created.upload_id, 2, vec![2; 10])
        .await;
    let listed = alice.list(&created.key, &created.upload_id).await.unwrap();
    assert_eq!(
        listed.iter().map(|p| p.size).collect::<Vec<_>>(),
        vec![102_400, 10]
    );
    let parts = vec![(1, e1), (2, e2)];
    let done = alice
        .complete(&created.key, &created.upload_id, parts, None)
        .await
        .unwrap();
    assert_eq!(done.key, created.key);
    assert!(
        done.location.starts_with(&s.oss.bucket_url()),
        "{}",
        done.location
    );
    assert_eq!((done.callback, done.callback_error), (None, None));
    let stored = s.oss.object(&created.key).unwrap();
    assert_eq!(stored.body.len(), 102_410);
    assert_eq!(stored.content_type, "video/mp4");

    // Another caller can do nothing with alice's key.
    let bob = s.caller("uploads/bob/");
    assert_eq!(bob.check_key(&created.key), Err(Refusal::KeyOutsidePrefix));
    let e = bob
        .sign_part(&created.key, &created.upload_id, 1, Utc::now())
        .unwrap_err();
    assert_eq!(refusal(e), Refusal::KeyOutsidePrefix);
    for e in [
        bob.list(&created.key, &created.upload_id)
            .await
            .unwrap_err(),
        bob.abort(&created.key, &created.upload_id)
            .await
            .unwrap_err(),
        bob.complete(&created.key, &created.upload_id, vec![], None)
            .await
            .unwrap_err(),
    ] {
        assert_eq!(refusal(e), Refusal::KeyOutsidePrefix);
    }
}

#[tokio::test]
async fn types_keys_and_part_numbers_are_checked_first() {
    let s = setup().await;
    let alice = s.caller("uploads/alice/");
    let e = alice
        .create("a.png", "image/png", UUID, Utc::now())
        .await
        .unwrap_err();
    assert_eq!(refusal(e), Refusal::ContentTypeNotAllowed);
    let e = alice
        .create("a", "nonsense", UUID, Utc::now())
        .await
        .unwrap_err();
    assert_eq!(refusal(e), Refusal::InvalidContentType);
    assert_eq!(s.oss.open_upload_count(), 0);
    for key in [
        "uploads/alice2/x",
        "uploads/alice/../bob/x",
        "uploads/alice/",
    ] {
        assert!(alice.check_key(key).is_err(), "{key}");
    }
    for n in [0, 10_001] {
        let e = alice
            .sign_part("uploads/alice/x", "ID", n, Utc::now())
            .unwrap_err();
        assert_eq!(refusal(e), Refusal::Parts(PartsError::PartNumber(n)));
    }
    let e = alice.list("uploads/alice/x", "NOPE").await.unwrap_err();
    assert_eq!(refusal(e), Refusal::NoSuchUpload);
}

#[tokio::test]
async fn part_urls_expire_with_the_credential_and_bind_their_part() {
    let s = setup().await;
    let mut alice = s.caller("uploads/alice/");
    let created = alice
        .create("a.txt", "text/plain", UUID, Utc::now())
        .await
        .unwrap();
    let signed = alice
        .sign_part(&created.key, &created.upload_id, 3, Utc::now())
        .unwrap();
    assert_eq!(signed.expires, 900);
    assert!(signed.url.contains("partNumber=3") && signed.url.contains("x-oss-expires=900"));
    // Pointed at part 4, the URL no longer verifies.
    let moved = signed.url.replace("partNumber=3", "partNumber=4");
    assert_eq!(
        s.http.put(moved).body("x").send().await.unwrap().status(),
        403
    );
    alice.key_expires = Utc::now() + Duration::seconds(120);
    let capped = alice
        .sign_part(&created.key, &created.upload_id, 1, Utc::now())
        .unwrap();
    assert!((119..=120).contains(&capped.expires), "{}", capped.expires);
    alice.key_expires = Utc::now();
    let e = alice
        .sign_part(&created.key, &created.upload_id, 1, Utc::now())
        .unwrap_err();
    assert!(matches!(e, Failure::CredentialExpiring));
}

#[tokio::test]
async fn an_upload_over_the_limit_is_aborted_and_refused() {
    let s = setup().await;
    let alice = s.caller("uploads/alice/");
    let created = alice
        .create("big.mp4", "video/mp4", UUID, Utc::now())
        .await
        .unwrap();
    for n in 1..=3 {
        s.put(
            &alice,
            &created.key,
            &created.upload_id,
            n,
            vec![0; 102_401],
        )
        .await;
    }
    let e = alice
        .complete(&created.key, &created.upload_id, vec![], None)
        .await
        .unwrap_err();
    assert_eq!(
        refusal(e),
        Refusal::TooLarge {
            total: 307_203,
            max: 307_200
        }
    );
    assert_eq!(s.oss.open_upload_count(), 0);
    assert!(s.oss.object(&created.key).is_none());
}

#[tokio::test]
async fn oss_refusals_of_the_parts_are_the_callers() {
    let s = setup().await;
    let alice = s.caller("uploads/alice/");
    let created = alice
        .create("a.txt", "text/plain", UUID, Utc::now())
        .await
        .unwrap();
    let (_, e1) = s
        .put(
            &alice,
            &created.key,
            &created.upload_id,
            1,
            b"small".to_vec(),
        )
        .await;
    let (_, e2) = s
        .put(
            &alice,
            &created.key,
            &created.upload_id,
            2,
            b"last".to_vec(),
        )
        .await;
    let e = alice
        .complete(
            &created.key,
            &created.upload_id,
            vec![(1, e1.clone()), (2, e2)],
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(refusal(e), Refusal::Oss(r) if r.code == "EntityTooSmall"));
    let e = alice
        .complete(
            &created.key,
            &created.upload_id,
            vec![(1, "\"00\"".into())],
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(refusal(e), Refusal::Oss(r) if r.code == "InvalidPart"));
    // Empty list: every uploaded part (here too small again); then a list of one works.
    let done = alice
        .complete(&created.key, &created.upload_id, vec![(1, e1)], None)
        .await;
    assert!(done.is_ok(), "{done:?}");
    let e = alice
        .abort(&created.key, &created.upload_id)
        .await
        .unwrap_err();
    assert_eq!(refusal(e), Refusal::NoSuchUpload);
}

#[tokio::test]
async fn without_overwrite_an_existing_object_stays() {
    let mut s = setup().await;
    s.settings.object_key = ObjectKeyRule::Template(KeyTemplate::parse("avatar${ext}").unwrap());
    s.settings.overwrite = false;
    let alice = s.caller("uploads/alice/");
    let first = alice
        .create("me.txt", "text/plain", UUID, Utc::now())
        .await
        .unwrap();
    let second = alice
        .create("me.txt", "text/plain", UUID, Utc::now())
        .await
        .unwrap();
    assert_eq!(first.key, "uploads/alice/avatar.txt");
    let (_, e) = s
        .put(&alice, &first.key, &first.upload_id, 1, b"one".to_vec())
        .await;
    alice
        .complete(&first.key, &first.upload_id, vec![(1, e)], None)
        .await
        .unwrap();
    let (_, e) = s
        .put(&alice, &second.key, &second.upload_id, 1, b"two".to_vec())
        .await;
    let refused = alice
        .complete(&second.key, &second.upload_id, vec![(1, e)], None)
        .await;
    assert_eq!(refusal(refused.unwrap_err()), Refusal::ObjectExists);
    assert_eq!(s.oss.object(&first.key).unwrap().body, b"one");
    let e = alice
        .create("me.txt", "text/plain", UUID, Utc::now())
        .await
        .unwrap_err();
    assert_eq!(refusal(e), Refusal::ObjectExists);
}

#[tokio::test]
async fn a_token_held_encoded_signs_the_url_a_token_encoded_per_url_signs() {
    let s = setup().await;
    let token = "CAIS+tok/en==";
    let mut c = s.caller("uploads/alice/");
    c.key.security_token = Some(token);
    let at = Utc::now();
    let per_url = c.sign_part("uploads/alice/v.mp4", "ID", 2, at).unwrap();
    c.encoded_token = Some("CAIS%2Btok%2Fen%3D%3D");
    let held = c.sign_part("uploads/alice/v.mp4", "ID", 2, at).unwrap();
    assert_eq!(held.url, per_url.url);
    assert!(
        held.url
            .contains("&x-oss-security-token=CAIS%2Btok%2Fen%3D%3D&"),
        "{}",
        held.url
    );
}
