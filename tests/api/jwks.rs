//! The JWKS client under a slow identity provider and behind a proxy from the environment: a
//! token signed with a known key is answered at once while a key-set fetch is under way, at most
//! one fetch runs at a time, and the key set is fetched directly, never through `HTTP_PROXY`.

use std::future::IntoFuture as _;
use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpResponse, HttpServer};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::Algorithm;
use sts_broker::clock::ManualClock;

use crate::auth::expect_401;
use crate::harness::{BrokerCommand, Sts, TestApp};
use crate::jwt_support::*;

/// How long the slow identity provider takes to answer a key-set request.
const SLOW: Duration = Duration::from_secs(4);
/// A request that waited for a fetch takes at least `SLOW`; one that did not, far less.
const FAST: Duration = Duration::from_millis(1500);

/// A JWKS endpoint on loopback that answers after a delay the test sets, counting requests as
/// they arrive (before the delay).
struct SlowJwks {
    url: String,
    keys: Arc<Mutex<Vec<Jwk>>>,
    delay_ms: Arc<AtomicU64>,
    hits: Arc<AtomicUsize>,
}

impl SlowJwks {
    async fn start(keys: Vec<Jwk>) -> Self {
        let keys = Arc::new(Mutex::new(keys));
        let delay_ms = Arc::new(AtomicU64::new(0));
        let hits = Arc::new(AtomicUsize::new(0));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        let (k, d, h) = (keys.clone(), delay_ms.clone(), hits.clone());
        let server = HttpServer::new(move || {
            let (k, d, h) = (k.clone(), d.clone(), h.clone());
            App::new().route(
                "/jwks.json",
                web::get().to(move || {
                    let (k, d, h) = (k.clone(), d.clone(), h.clone());
                    async move {
                        h.fetch_add(1, Ordering::SeqCst);
                        let delay = Duration::from_millis(d.load(Ordering::SeqCst));
                        tokio::time::sleep(delay).await;
                        let set = JwkSet {
                            keys: k.lock().unwrap().clone(),
                        };
                        HttpResponse::Ok().json(set)
                    }
                }),
            )
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        Self {
            url,
            keys,
            delay_ms,
            hits,
        }
    }

    fn slow_down(&self, delay: Duration) {
        self.delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    fn set_keys(&self, keys: Vec<Jwk>) {
        *self.keys.lock().unwrap() = keys;
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// Waits until `n` requests have arrived (a fetch is then under way).
    async fn wait_for_hits(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.hits() < n {
            assert!(Instant::now() < deadline, "no JWKS request arrived");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// The status of `/getToken` with `token`, and how long the answer took.
async fn timed(app: &TestApp, token: &str) -> (u16, Duration) {
    let started = Instant::now();
    let status = app.get_token().bearer(token).await.status().as_u16();
    (status, started.elapsed())
}

#[tokio::test]
async fn an_unknown_kid_refetch_on_a_slow_idp_never_delays_tokens_with_known_keys() {
    let (ra, rb) = (rsa(RSA_A), rsa(RSA_B));
    let jwks = SlowJwks::start(vec![public_jwk(&ra, Algorithm::RS256, "a")]).await;
    let clock = ManualClock::new(chrono::Utc::now());
    let app = TestApp::builder()
        .clock(clock.clone())
        .vars(|vars| {
            jwt_vars(vars, Some(&jwks.url));
            vars.remove("BROKER_JWT_HS256_SECRET");
        })
        .spawn()
        .await;
    let token_a = mint(Algorithm::RS256, &ra, Some("a"), &claims("alice"));
    assert_eq!(timed(&app, &token_a).await.0, 200);
    assert_eq!(jwks.hits(), 1);

    // Past the refetch interval, one unauthenticated token with a made-up kid starts a refetch,
    // which the IdP answers slowly; that request (and only it) waits for it, then gets 401.
    clock.advance(chrono::Duration::seconds(31));
    jwks.slow_down(SLOW);
    let unknown = mint(Algorithm::RS256, &rb, Some("made-up"), &claims("mallory"));
    let started = Instant::now();
    let waiting = tokio::spawn(app.get_token().bearer(&unknown).into_future());
    jwks.wait_for_hits(2).await;

    // While that fetch is under way, a valid token is answered at once, every time.
    for _ in 0..3 {
        let (status, took) = timed(&app, &token_a).await;
        assert_eq!(status, 200);
        assert!(
            took < FAST,
            "a known key waited {took:?} for the JWKS fetch"
        );
    }
    // More unknown kids start no second fetch while one runs.
    let more: Vec<_> = (0..10)
        .map(|i| {
            let token = mint(Algorithm::RS256, &rb, Some(&format!("x-{i}")), &claims("x"));
            tokio::spawn(app.get_token().bearer(&token).into_future())
        })
        .collect();
    expect_401(waiting.await.unwrap()).await;
    assert!(started.elapsed() >= SLOW - Duration::from_millis(100));
    for refused in more {
        expect_401(refused.await.unwrap()).await;
    }
    assert_eq!(
        jwks.hits(),
        2,
        "one fetch at a time, at most one per interval"
    );
    assert_eq!(timed(&app, &token_a).await.0, 200);
}

#[tokio::test]
async fn a_stale_key_set_is_refreshed_in_the_background_one_fetch_at_a_time() {
    let (ra, rb) = (rsa(RSA_A), rsa(RSA_B));
    let jwks = SlowJwks::start(vec![public_jwk(&ra, Algorithm::RS256, "a")]).await;
    let clock = ManualClock::new(chrono::Utc::now());
    let app = TestApp::builder()
        .clock(clock.clone())
        .vars(|vars| {
            jwt_vars(vars, Some(&jwks.url));
            vars.insert("BROKER_JWT_JWKS_MAX_AGE_SECONDS".into(), "10".into());
            vars.insert("BROKER_JWT_JWKS_MIN_REFETCH_SECONDS".into(), "1".into());
        })
        .spawn()
        .await;
    let token_a = mint(Algorithm::RS256, &ra, Some("a"), &claims("alice"));
    assert_eq!(timed(&app, &token_a).await.0, 200);
    assert_eq!(jwks.hits(), 1);

    // The set is now due for a refresh, and the IdP is slow: the token that notices it is
    // answered with the keys at hand; the refresh runs in the background.
    jwks.slow_down(SLOW);
    jwks.set_keys(vec![
        public_jwk(&ra, Algorithm::RS256, "a"),
        public_jwk(&rb, Algorithm::RS256, "b"),
    ]);
    clock.advance(chrono::Duration::seconds(11));
    let (status, took) = timed(&app, &token_a).await;
    assert_eq!(status, 200);
    assert!(took < FAST, "a known key waited {took:?} for a refresh");
    jwks.wait_for_hits(2).await;

    // The refetch interval has passed, but the refresh is still under way: a token with the
    // new kid waits for that fetch (no second one) and is then accepted.
    clock.advance(chrono::Duration::seconds(2));
    let token_b = mint(Algorithm::RS256, &rb, Some("b"), &claims("bob"));
    let waiting = tokio::spawn(app.get_token().bearer(&token_b).into_future());
    let (status, took) = timed(&app, &token_a).await;
    assert_eq!(status, 200);
    assert!(took < FAST, "a known key waited {took:?} for a refresh");
    let answer = waiting.await.unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    assert_eq!(
        jwks.hits(),
        2,
        "the token with the new kid joined the fetch under way"
    );
}

/// A "proxy" that counts the connections it gets and answers each with `502`.
fn fake_proxy() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().map_while(Result::ok) {
            counted.fetch_add(1, Ordering::SeqCst);
            let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
            let _ = stream.read(&mut [0u8; 4096]);
            let _ = stream.write_all(
                b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            );
        }
    });
    (url, connections)
}

#[tokio::test]
async fn the_jwks_is_fetched_directly_never_through_a_proxy_from_the_environment() {
    let ra = rsa(RSA_A);
    let jwks = JwksServer::start(vec![public_jwk(&ra, Algorithm::RS256, "a")]).await;
    let (proxy, connections) = fake_proxy();
    let sts = Sts::demo().await;
    let mut vars = sts.broker_vars();
    jwt_vars(&mut vars, Some(&jwks.url));
    let mut command = BrokerCommand::new().envs(&vars);
    for name in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ] {
        command = command.env(name, proxy.clone());
    }
    let broker = command.serve().await;
    let token = mint(Algorithm::RS256, &ra, Some("a"), &claims("alice"));
    let answer = broker.get_token().bearer(&token).await;
    assert_eq!(answer.status().as_u16(), 200);
    assert_eq!(
        jwks.hits(),
        1,
        "the key set came straight from the JWKS URL"
    );
    assert_eq!(
        connections.load(Ordering::SeqCst),
        0,
        "nothing went to the proxy"
    );
}
