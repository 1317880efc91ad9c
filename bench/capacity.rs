//! Capacity benchmark parts (driven by `bench/capacity.sh`):
//!
//! - `bench-capacity sts <listen>`: the STS emulator alone, so the broker's memory can be
//!   measured without it. Prints `ready <url>`.
//! - `bench-capacity drive <broker url> <first caller> <callers> <concurrency> <path>`: asks
//!   `<path>` (`/getToken` or `/getPostObjectParams`) once for each of `<callers>` distinct
//!   callers (named by the trusted header `X-User`, numbered from `<first caller>`), then once
//!   more for each, and prints one line: `handouts=… cold_503=… cold_429=… cold_p99_ms=…
//!   warm_p99_ms=… sts_assume_role=…` (the last read from the broker's `/metrics`).
//! - `bench-capacity fleet <callers> <url> <url> …`: each caller asks `/getToken` of one
//!   replica (its first load), then of each other replica (a local miss there); prints the
//!   AssumeRole calls of all replicas per 1,000 callers and the latency of the first load
//!   against that of the other replicas' local misses. With `FLEET_MISS_IDS=<file>`, also
//!   writes the `X-Request-Id` of every such miss there, one a line, so the replicas' audit
//!   lines (`latency_ms`) give the server-side latency of exactly those requests.

use std::time::{Duration, Instant};

use broker_emulators::sts::{StsEmulator, StsEmulatorConfig};
use futures_util::stream::{self, StreamExt as _};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("sts") => {
            let listen = args.get(1).map_or("127.0.0.1:18095", String::as_str);
            let listener = std::net::TcpListener::bind(listen)?;
            let sts = StsEmulator::start_on(StsEmulatorConfig::demo(), listener).await?;
            println!("ready {}", sts.endpoint());
            std::future::pending::<()>().await;
            Ok(())
        }
        Some("fleet") if args.len() >= 3 => {
            let callers = args[1].parse::<usize>().expect("a number");
            fleet(callers, &args[2..]).await;
            Ok(())
        }
        Some("drive") if args.len() == 6 => {
            let number = |i: usize| args[i].parse::<usize>().expect("a number");
            drive(&args[1], number(2), number(3), number(4), &args[5]).await;
            Ok(())
        }
        _ => {
            eprintln!("usage: bench-capacity sts <listen> | drive <broker url> <first> <callers> <concurrency> <path>");
            std::process::exit(2)
        }
    }
}

/// One round over every caller: status counts and latencies.
async fn round(
    http: &reqwest::Client,
    url: &str,
    callers: std::ops::Range<usize>,
    concurrency: usize,
) -> (Vec<u16>, Vec<Duration>) {
    let results: Vec<(u16, Duration)> = stream::iter(callers)
        .map(|n| {
            let (http, url) = (http.clone(), url.to_owned());
            async move {
                let started = Instant::now();
                let status = http
                    .get(&url)
                    .header("X-User", format!("caller-{n}"))
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0);
                (status, started.elapsed())
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    results.into_iter().unzip()
}

fn p99_ms(mut latencies: Vec<Duration>) -> f64 {
    latencies.sort();
    let index = (latencies.len() * 99).div_ceil(100).saturating_sub(1);
    latencies
        .get(index)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

async fn assume_role_calls(http: &reqwest::Client, broker: &str) -> f64 {
    let text = http
        .get(format!("{broker}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with("sts_broker_sts_requests_total{action=\"AssumeRole\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn drive(broker: &str, first: usize, callers: usize, concurrency: usize, path: &str) {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .unwrap();
    let url = format!("{broker}{path}");
    let range = first..first + callers;
    let (cold, cold_latency) = round(&http, &url, range.clone(), concurrency).await;
    let (warm, warm_latency) = round(&http, &url, range, concurrency).await;
    let handouts = cold.iter().chain(&warm).filter(|s| **s == 200).count();
    let count = |s: u16| cold.iter().filter(|c| **c == s).count();
    println!(
        "handouts={handouts} cold_503={} cold_429={} warm_non200={} cold_p99_ms={:.2} warm_p99_ms={:.2} sts_assume_role={}",
        count(503),
        count(429),
        warm.iter().filter(|s| **s != 200).count(),
        p99_ms(cold_latency),
        p99_ms(warm_latency),
        assume_role_calls(&http, broker).await
    );
}

fn percentile_ms(latencies: &mut [Duration], percent: usize) -> f64 {
    latencies.sort();
    let index = (latencies.len() * percent).div_ceil(100).saturating_sub(1);
    latencies
        .get(index)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

async fn fleet(callers: usize, replicas: &[String]) {
    let http = reqwest::Client::new();
    let (mut first, mut others) = (Vec::new(), Vec::new());
    let mut miss_ids = String::new();
    for n in 0..callers {
        for i in 0..replicas.len() {
            let replica = &replicas[(n + i) % replicas.len()];
            let started = Instant::now();
            let (status, id) = http
                .get(format!("{replica}/getToken"))
                .header("X-User", format!("fleet-{n}"))
                .send()
                .await
                .map(|r| {
                    let id = r.headers().get("x-request-id").cloned();
                    (r.status().as_u16(), id)
                })
                .unwrap_or((0, None));
            assert_eq!(status, 200, "fleet-{n} on {replica}");
            if i == 0 {
                first.push(started.elapsed())
            } else {
                others.push(started.elapsed());
                if let Some(id) = id.as_ref().and_then(|v| v.to_str().ok()) {
                    miss_ids.push_str(id);
                    miss_ids.push('\n');
                }
            }
        }
    }
    if let Some(path) = std::env::var_os("FLEET_MISS_IDS") {
        std::fs::write(path, miss_ids).expect("FLEET_MISS_IDS is writable");
    }
    let mut calls = 0.0;
    for replica in replicas {
        calls += assume_role_calls(&http, replica).await;
    }
    println!(
        "assume_role_per_1000_callers={:.0} first_load_p50_ms={:.2} first_load_p99_ms={:.2} other_replica_miss_p50_ms={:.2} other_replica_miss_p99_ms={:.2}",
        calls * 1000.0 / callers as f64,
        percentile_ms(&mut first, 50),
        percentile_ms(&mut first, 99),
        percentile_ms(&mut others, 50),
        percentile_ms(&mut others, 99),
    );
}
