//! Multipart uploads on the OSS emulator, with requests signed here by hand (OSS V4 in the
//! header, and presigned URLs): initiate, parts, ListParts paging, complete with a parts list or
//! `x-oss-complete-all`, abort, and OSS's refusals (EntityTooSmall, InvalidPart,
//! InvalidPartOrder, NoSuchUpload, FileAlreadyExists).

mod support;

use chrono::Utc;
use reqwest::Method;
use support::multipart::*;
use support::start;

/// A completion body, its headers, and OSS's answer.
type Case = (String, Vec<(&'static str, &'static str)>, u16, &'static str);

#[tokio::test]
async fn parts_signed_both_ways_complete_into_the_object() {
    let em = start().await;
    let key = "uploads/big video.mp4";
    let id = initiate(&em, key, &[("content-type", "video/mp4")], &long_term()).await;
    assert_eq!(em.oss.open_upload_count(), 1);
    let (a, b, c) = (bytes(PART, 1), bytes(PART + 7, 2), bytes(10, 3));
    let e1 = put_part(&em, key, &id, 1, &a).await;
    // Part 2 through a presigned URL, as a browser sends it: no header but the body.
    let url = presigned(
        &em,
        "PUT",
        key,
        &[("partNumber", "2"), ("uploadId", &id)],
        &long_term(),
        Utc::now(),
        900,
    );
    let response = client().put(url).body(b.clone()).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let e2 = response.headers()["etag"].to_str().unwrap().to_owned();
    let e3 = put_part(&em, key, &id, 3, &c).await;
    assert!(e1.starts_with('"') && e1.ends_with('"'), "{e1}");
    assert_eq!(em.oss.upload_parts(&id), Some(vec![1, 2, 3]));

    let response = complete(
        &em,
        key,
        &id,
        parts_xml(&[(1, &e1), (2, &e2), (3, &e3)]),
        &[],
    )
    .await;
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    assert_eq!(tag(&body, "Key"), key);
    let object = em.oss.object(key).expect("stored");
    assert_eq!(object.body, [a, b, c].concat());
    assert_eq!(object.content_type, "video/mp4");
    assert_eq!(em.oss.open_upload_count(), 0);
    // Completed: the upload id is gone.
    let (status, code) = code_of(complete(&em, key, &id, parts_xml(&[(1, &e1)]), &[]).await).await;
    assert_eq!((status, code.as_str()), (404, "NoSuchUpload"));
}

#[tokio::test]
async fn complete_refuses_as_oss_does_and_keeps_the_upload() {
    let em = start().await;
    let key = "uploads/x.bin";
    let id = initiate(&em, key, &[], &long_term()).await;
    let e1 = put_part(&em, key, &id, 1, &bytes(PART - 1, 1)).await;
    let e2 = put_part(&em, key, &id, 2, &bytes(PART, 2)).await;
    let cases: Vec<Case> = vec![
        (
            parts_xml(&[(1, &e1), (2, &e2)]),
            vec![],
            400,
            "EntityTooSmall",
        ),
        (
            parts_xml(&[(2, &e2), (1, &e1)]),
            vec![],
            400,
            "InvalidPartOrder",
        ),
        (
            parts_xml(&[(2, &e2), (2, &e2)]),
            vec![],
            400,
            "InvalidPartOrder",
        ),
        (
            parts_xml(&[(1, e1.trim_matches('"'))]),
            vec![],
            400,
            "InvalidPart",
        ),
        (parts_xml(&[(3, &e2)]), vec![], 400, "InvalidPart"),
        (parts_xml(&[(10001, &e2)]), vec![], 400, "InvalidArgument"),
        (
            "<CompleteMultipartUpload></CompleteMultipartUpload>".into(),
            vec![],
            400,
            "MalformedXML",
        ),
        ("not xml".into(), vec![], 400, "MalformedXML"),
        (
            parts_xml(&[(2, &e2)]),
            vec![("x-oss-complete-all", "yes")],
            400,
            "InvalidArgument",
        ),
        (
            String::new(),
            vec![("x-oss-complete-all", "yes")],
            400,
            "EntityTooSmall",
        ),
    ];
    for (body, headers, status, code) in cases {
        let response = complete(&em, key, &id, body.clone(), &headers).await;
        assert_eq!(
            code_of(response).await,
            (status, code.to_owned()),
            "{body} {headers:?}"
        );
    }
    assert_eq!(em.oss.open_upload_count(), 1);
    assert!(em.oss.object(key).is_none());
    // A part listed alone is its own last part: no minimum.
    let response = complete(&em, key, &id, parts_xml(&[(1, &e1)]), &[]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(em.oss.object(key).unwrap().body, bytes(PART - 1, 1));
}

#[tokio::test]
async fn complete_all_joins_every_part_in_order() {
    let em = start().await;
    let key = "uploads/all.bin";
    let id = initiate(&em, key, &[], &long_term()).await;
    put_part(&em, key, &id, 2, &bytes(5, 2)).await;
    put_part(&em, key, &id, 1, &bytes(PART, 9)).await;
    // The same part number again replaces the part.
    put_part(&em, key, &id, 1, &bytes(PART, 1)).await;
    let response = complete(
        &em,
        key,
        &id,
        String::new(),
        &[("x-oss-complete-all", "yes")],
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        em.oss.object(key).unwrap().body,
        [bytes(PART, 1), bytes(5, 2)].concat()
    );
}

#[tokio::test]
async fn list_parts_pages_with_the_marker() {
    let em = start().await;
    let key = "uploads/list.bin";
    let id = initiate(&em, key, &[], &long_term()).await;
    for n in [1, 2, 3, 5, 8] {
        put_part(&em, key, &id, n, &bytes(n as usize, 0)).await;
    }
    let list = |query: Vec<(&'static str, String)>| {
        let mut q: Vec<(&str, &str)> = vec![("uploadId", id.as_str())];
        q.extend(query.iter().map(|(k, v)| (*k, v.as_str())));
        signed(&em, Method::GET, key, &q, &[], &long_term()).send()
    };
    let first = list(vec![("max-parts", "2".into())])
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(tag(&first, "IsTruncated"), "true");
    assert_eq!(tag(&first, "NextPartNumberMarker"), "2");
    assert_eq!(first.matches("<Part>").count(), 2);
    let rest = list(vec![("part-number-marker", "2".into())])
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(tag(&rest, "IsTruncated"), "false");
    assert_eq!(tag(&rest, "PartNumberMarker"), "2");
    assert_eq!(tag(&rest, "PartNumber"), "3");
    assert_eq!(rest.matches("<Part>").count(), 3);
    assert_eq!(tag(&rest, "Size"), "3");
    for bad in [
        ("max-parts", "0"),
        ("max-parts", "1001"),
        ("part-number-marker", "x"),
    ] {
        let response = list(vec![(bad.0, bad.1.into())]).await.unwrap();
        assert_eq!(
            code_of(response).await,
            (400, "InvalidArgument".into()),
            "{bad:?}"
        );
    }
}

#[tokio::test]
async fn part_numbers_upload_ids_and_abort() {
    let em = start().await;
    let key = "uploads/p.bin";
    let id = initiate(&em, key, &[], &long_term()).await;
    let other = initiate(&em, "uploads/other.bin", &[], &long_term()).await;
    for number in ["0", "10001", "01", "-1", "x"] {
        let query = [("partNumber", number), ("uploadId", id.as_str())];
        let response = signed(&em, Method::PUT, key, &query, &[], &long_term())
            .body("x")
            .send()
            .await
            .unwrap();
        assert_eq!(
            code_of(response).await,
            (400, "InvalidArgument".into()),
            "{number}"
        );
    }
    for upload_id in ["0123", other.as_str()] {
        let query = [("partNumber", "1"), ("uploadId", upload_id)];
        let response = signed(&em, Method::PUT, key, &query, &[], &long_term())
            .body("x")
            .send()
            .await
            .unwrap();
        assert_eq!(code_of(response).await, (404, "NoSuchUpload".into()));
    }
    put_part(&em, key, &id, 10000, b"last").await;
    let abort = signed(
        &em,
        Method::DELETE,
        key,
        &[("uploadId", &id)],
        &[],
        &long_term(),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(abort.status(), 204);
    let again = signed(
        &em,
        Method::DELETE,
        key,
        &[("uploadId", &id)],
        &[],
        &long_term(),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(code_of(again).await, (404, "NoSuchUpload".into()));
    assert_eq!(em.oss.open_upload_count(), 1);
}

#[tokio::test]
async fn forbid_overwrite_on_initiate_and_complete() {
    let em = start().await;
    let key = "uploads/kept.txt";
    assert_eq!(
        support::Upload::new(key, b"original")
            .post(&em.oss)
            .await
            .status(),
        204
    );
    let response = signed(
        &em,
        Method::POST,
        key,
        &[("uploads", "")],
        &[("x-oss-forbid-overwrite", "true")],
        &long_term(),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(code_of(response).await, (409, "FileAlreadyExists".into()));
    let id = initiate(&em, key, &[], &long_term()).await;
    let e1 = put_part(&em, key, &id, 1, b"new").await;
    let forbid = [("x-oss-forbid-overwrite", "true")];
    let response = complete(&em, key, &id, parts_xml(&[(1, &e1)]), &forbid).await;
    assert_eq!(code_of(response).await, (409, "FileAlreadyExists".into()));
    assert_eq!(em.oss.object(key).unwrap().body, b"original");
    assert_eq!(em.oss.open_upload_count(), 1);
    // Without the header the object is replaced.
    assert_eq!(
        complete(&em, key, &id, parts_xml(&[(1, &e1)]), &[])
            .await
            .status(),
        200
    );
    assert_eq!(em.oss.object(key).unwrap().body, b"new");
}
