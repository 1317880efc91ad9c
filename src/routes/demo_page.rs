//! The demo page (`GET /demo`) and the files it loads: the upload kit from `clients/js/src` and the
//! vendored crypto-js, embedded at build time. Only `sts-broker demo` registers these routes; the
//! served broker never does. Static text only: no state, no credentials.

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

/// Adds the page's routes; `Application::build_with_routes` calls it in demo mode only.
pub fn configure(cfg: &mut web::ServiceConfig) {
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
