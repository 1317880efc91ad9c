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
