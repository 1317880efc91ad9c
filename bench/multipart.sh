#!/usr/bin/env bash
# Uploads in parts: how fast the broker signs part URLs (`GET /s3/multipart/{id}/{n}` and the
# batch route with 100 part numbers) against a baseline answering a body of the same size, in
# the same run and alternating rounds as bench/run.sh; then a 100 MiB upload in parts through
# `sts-broker demo` with the upload kit (bench/multipart-upload.mjs), timed. Loopback only; stops
# everything it starts.
#
# usage: bench/multipart.sh [seconds per round] [rounds]
# needs: wrk (Debian package `wrk`), node ≥ 20 and `npm ci` in clients/js.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_ROUND=${1:-10}
ROUNDS=${2:-3}
CONNECTIONS=64
THREADS=2
BROKER_ADDR=127.0.0.1:18181
SINGLE_BASE_ADDR=127.0.0.1:18190
BATCH_BASE_ADDR=127.0.0.1:18191

if ! command -v wrk >/dev/null; then
  apt-get install -y wrk >/dev/null
fi

cargo build --release --locked --bin sts-broker --example bench-broker --example bench-baseline >/dev/null 2>&1
BIN=target/release

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

wait_for() { for _ in $(seq 100); do curl -sf "http://$1$2" >/dev/null && return 0; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }

# The broker as in production (bench/broker.rs). Signing a part URL asks OSS nothing (the upload
# id is checked when the parts are listed or completed), so any id signs: the route's own work
# is measured — the caller, the key under its directory, the profile's shared credential, V4.
"$BIN/examples/bench-broker" "$BROKER_ADDR" >/dev/null 2>&1 &
pids+=("$!")
wait_for "$BROKER_ADDR" /healthz
dir=$(curl -sf "http://$BROKER_ADDR/getToken" | sed -E 's/.*"Dir":"([^"]*)".*/\1/')
key="${dir}bench.bin"
ID=0004B9894A22E5B1888A1E29F823BENCH
SINGLE="/s3/multipart/$ID/1?key=$key"
BATCH="/s3/multipart/$ID/batch?key=$key&partNumbers=$(seq -s, 1 100)"
single_size=$(curl -sf "http://$BROKER_ADDR$SINGLE" | wc -c)
batch_size=$(curl -sf "http://$BROKER_ADDR$BATCH" | wc -c)

# Baselines answer `/getToken` with a body of each answer's size.
"$BIN/examples/bench-baseline" "$SINGLE_BASE_ADDR" "$single_size" >/dev/null 2>&1 &
pids+=("$!")
"$BIN/examples/bench-baseline" "$BATCH_BASE_ADDR" "$batch_size" >/dev/null 2>&1 &
pids+=("$!")
wait_for "$SINGLE_BASE_ADDR" /getToken
wait_for "$BATCH_BASE_ADDR" /getToken

# one round against a URL: prints "rps p50_ms p99_ms non2xx"
round() {
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"${SECONDS_PER_ROUND}s" --latency "$1" | awk '
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    /^ +50%/ { p50 = ms($2) } /^ +99%/ { p99 = ms($2) }
    /Requests\/sec/ { rps = $2 } /Non-2xx/ { bad = $NF }
    END { printf "%.0f %.3f %.3f %d\n", rps, p50, p99, bad + 0 }'
}

# compare <name> <baseline url> <broker url>: alternating rounds, medians and the ratio.
compare() {
  local name=$1 base=$2 broker=$3 results=()
  wrk -t1 -c8 -d2s "$base" >/dev/null
  wrk -t1 -c8 -d2s "$broker" >/dev/null
  printf "%-6s %-9s %10s %9s %9s %7s\n" round target "req/s" "p50 ms" "p99 ms" non2xx
  for r in $(seq "$ROUNDS"); do
    b=$(round "$base");   printf "%-6s %-9s %10s %9s %9s %7s\n" "$r" baseline $b
    k=$(round "$broker"); printf "%-6s %-9s %10s %9s %9s %7s\n" "$r" broker $k
    results+=("$b|$k")
  done
  printf '%s\n' "${results[@]}" | awk -F'|' -v name="$name" '
    { split($1, b, " "); split($2, k, " ");
      brps[NR] = b[1]; krps[NR] = k[1]; bp99[NR] = b[3]; kp99[NR] = k[3]; bad += k[4] }
    function median(a, n,   i, j, t, c) { for (i = 1; i <= n; i++) c[i] = a[i];
      for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (c[j] < c[i]) { t = c[i]; c[i] = c[j]; c[j] = t }
      return c[int((n + 1) / 2)] }
    END { n = NR;
      printf "%s: median baseline %d req/s (p99 %.3f ms), broker %d req/s (p99 %.3f ms), ratio %.2f, broker non-2xx %d\n\n",
        name, median(brps, n), median(bp99, n), median(krps, n), median(kp99, n), median(krps, n) / median(brps, n), bad }'
}

echo "$CONNECTIONS connections, $THREADS wrk threads, ${SECONDS_PER_ROUND}s x $ROUNDS rounds, alternating"
echo "one part URL per request ($single_size bytes)"
compare "single part URL" "http://$SINGLE_BASE_ADDR/getToken" "http://$BROKER_ADDR$SINGLE"
echo "100 part URLs per request, the batch route ($batch_size bytes)"
compare "batch of 100" "http://$BATCH_BASE_ADDR/getToken" "http://$BROKER_ADDR$BATCH"

echo "a 100 MiB upload in parts through sts-broker demo (the kit, 5 MiB parts, 3 at once)"
STS_BROKER_BIN="$PWD/$BIN/sts-broker" node bench/multipart-upload.mjs 100
