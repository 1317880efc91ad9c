//! Benchmark baseline: the same framework and worker count as the broker, answering every
//! request (any path, any method, the body read and dropped) with a precomputed body of a given
//! size. What the broker's warm `/getToken` and its download URLs are compared to.
//!
//! usage: bench-baseline <listen address> <body bytes>

use actix_web::{web, App, HttpResponse, HttpServer};

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:18090".into());
    let size: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(1600);
    // A JSON-shaped body of exactly `size` bytes.
    let filler = size.saturating_sub(12);
    let body = web::Bytes::from(format!("{{\"Body\":\"{}\"}}", "x".repeat(filler)));
    HttpServer::new(move || {
        let body = body.clone();
        App::new().default_service(web::to(move |_request: web::Bytes| {
            let body = body.clone();
            async move {
                HttpResponse::Ok()
                    .insert_header(("Cache-Control", "no-store"))
                    .content_type("application/json")
                    .body(body)
            }
        }))
    })
    .bind(listen)?
    .run()
    .await
}
