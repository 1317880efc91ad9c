//! The demo page (`GET /demo`) and the files it loads: the upload kit from `clients/js/src`, the
//! vendored crypto-js and the icon, embedded at build time. Only `sts-broker demo` registers
//! these routes; the served broker never does. Static files only: no state, no credentials.

use actix_web::{web, HttpResponse};

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

/// Path, content type and body of every file the page needs.
pub const ASSETS: &[(&str, &str, &str)] = &[
    (
        "/demo",
        HTML,
        include_str!("../../clients/js/demo/index.html"),
    ),
    (
        "/demo/app.js",
        JS,
        include_str!("../../clients/js/demo/app.js"),
    ),
    (
        "/demo/kit/index.js",
        JS,
        include_str!("../../clients/js/src/index.js"),
    ),
    (
        "/demo/kit/client.js",
        JS,
        include_str!("../../clients/js/src/client.js"),
    ),
    (
        "/demo/kit/sign.js",
        JS,
        include_str!("../../clients/js/src/sign.js"),
    ),
    (
        "/demo/kit/errors.js",
        JS,
        include_str!("../../clients/js/src/errors.js"),
    ),
    (
        "/demo/kit/multipart.js",
        JS,
        include_str!("../../clients/js/src/multipart.js"),
    ),
    (
        "/demo/kit/upload.js",
        JS,
        include_str!("../../clients/js/src/upload.js"),
    ),
    (
        "/demo/vendor/crypto-js.js",
        JS,
        include_str!("../../clients/js/demo/vendor/crypto-js.js"),
    ),
    (
        "/demo/vendor/crypto-js.mjs",
        JS,
        include_str!("../../clients/js/demo/vendor/crypto-js.mjs"),
    ),
];

/// The page's icon (16 and 32 pixels). Browsers ask for `/favicon.ico` on the broker's origin for
/// every page they show, the JSON answers too, so it is served there; without it every page
/// view logged a refused request.
pub const FAVICON: &[u8] = include_bytes!("../../clients/js/demo/favicon.ico");

/// Adds the page's routes; `Application::build_with_routes` calls it in demo mode only.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/demo/uploaded", web::post().to(received));
    cfg.route(
        "/favicon.ico",
        web::get().to(|| async {
            HttpResponse::Ok()
                .content_type("image/x-icon")
                .insert_header(("Cache-Control", "no-cache"))
                .insert_header(("X-Content-Type-Options", "nosniff"))
                .body(FAVICON)
        }),
    );
    for &(path, content_type, body) in ASSETS {
        cfg.route(
            path,
            web::get().to(move || async move {
                HttpResponse::Ok()
                    .content_type(content_type)
                    // Rebuilt binaries serve new files; never let a browser keep an old kit.
                    .insert_header(("Cache-Control", "no-cache"))
                    .insert_header(("X-Content-Type-Options", "nosniff"))
                    .insert_header(("Referrer-Policy", "no-referrer"))
                    .body(body)
            }),
        );
    }
    cfg.route(
        "/demo/",
        web::get().to(|| async {
            HttpResponse::Found()
                .insert_header(("Location", "/demo"))
                .finish()
        }),
    );
}

/// The demo's own app: the profile `with-callback` forwards verified callbacks here. It checks
/// the broker's signature as an app must (docs/callbacks.md), prints the upload, and answers
/// the JSON OSS hands to the uploader.
async fn received(
    state: web::Data<crate::web::state::AppState>,
    req: actix_web::HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    // Read as every body is: within the deadline, bounded (the broker's own forward is small).
    let body = match state
        .bodies
        .read(payload, crate::routes::oss_callback::MAX_BODY)
        .await
    {
        Ok(body) => body,
        Err(e) => return HttpResponse::from_error(e),
    };
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let (Some(config), Some(timestamp), Some(given)) = (
        state.services.callbacks.as_ref().map(|c| &c.config),
        header("x-broker-timestamp").and_then(|t| t.parse::<i64>().ok()),
        header("x-broker-signature"),
    ) else {
        return HttpResponse::Forbidden().finish();
    };
    let expected = crate::callback::forward_signature(&config.secret, timestamp, &body);
    if !bool::from(subtle::ConstantTimeEq::ct_eq(
        expected.as_bytes(),
        given.as_bytes(),
    )) {
        return HttpResponse::Forbidden().finish();
    }
    let upload: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let text = |k: &str| upload[k].as_str().unwrap_or("?").to_owned();
    println!(
        "callback: {} ({} bytes, {}) uploaded by {} with profile {}",
        text("key"),
        upload["size"],
        text("mime_type"),
        text("caller"),
        text("profile")
    );
    HttpResponse::Ok().json(serde_json::json!({
        "received": true,
        "key": upload["key"],
        "caller": upload["caller"],
        "size": upload["size"],
    }))
}
