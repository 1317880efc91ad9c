#!/usr/bin/env bash
# Warm /getToken throughput and latency against a baseline, in one invocation, plus the latency
# a cache miss adds over the STS emulator. Loopback only; stops everything it starts.
#
# usage: bench/run.sh [seconds per round] [rounds]
#   BENCH_COMPARE=<path to another bench-broker binary>: each round also measures that binary
#   (e.g. a release build of an older commit), alternating baseline / other / this broker, so
#   the two brokers' ratios come from the same run.
# needs: wrk (Debian package `wrk`); installs it when missing and apt-get is available.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_ROUND=${1:-10}
ROUNDS=${2:-3}
CONNECTIONS=64
THREADS=2
BROKER_ADDR=127.0.0.1:18081
BASELINE_ADDR=127.0.0.1:18090
COMPARE_ADDR=127.0.0.1:18082
COMPARE=${BENCH_COMPARE:-}

if ! command -v wrk >/dev/null; then
  apt-get install -y wrk >/dev/null
fi

cargo build --release --locked --example bench-broker --example bench-baseline --example bench-miss-latency >/dev/null 2>&1
BIN=target/release

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

wait_for() { for _ in $(seq 100); do curl -sf "http://$1$2" >/dev/null && return 0; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }

# The broker as configured in production (JSON logs, rate limiter on), wired to an in-process
# STS emulator; its log goes to /dev/null but is still formatted and written.
"$BIN/examples/bench-broker" "$BROKER_ADDR" >/dev/null 2>&1 &
broker_pid=$!; pids+=("$broker_pid")
wait_for "$BROKER_ADDR" /healthz
size=$(curl -sf "http://$BROKER_ADDR/getToken" | wc -c)

if [ -n "$COMPARE" ]; then
  "$COMPARE" "$COMPARE_ADDR" >/dev/null 2>&1 &
  compare_pid=$!; pids+=("$compare_pid")
  wait_for "$COMPARE_ADDR" /healthz
  echo "other broker: $COMPARE ($(curl -sf "http://$COMPARE_ADDR/getToken" | wc -c) body bytes)"
fi

"$BIN/examples/bench-baseline" "$BASELINE_ADDR" "$size" >/dev/null 2>&1 &
pids+=("$!")
wait_for "$BASELINE_ADDR" /getToken

# one round: prints "rps p50_ms p99_ms non2xx"
round() {
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"${SECONDS_PER_ROUND}s" --latency "http://$1/getToken" | awk '
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    /^ +50%/ { p50 = ms($2) } /^ +99%/ { p99 = ms($2) }
    /Requests\/sec/ { rps = $2 } /Non-2xx/ { bad = $NF }
    END { printf "%.0f %.3f %.3f %d\n", rps, p50, p99, bad + 0 }'
}

# warm both
wrk -t1 -c8 -d2s "http://$BROKER_ADDR/getToken" >/dev/null
wrk -t1 -c8 -d2s "http://$BASELINE_ADDR/getToken" >/dev/null
[ -n "$COMPARE" ] && wrk -t1 -c8 -d2s "http://$COMPARE_ADDR/getToken" >/dev/null

echo "body bytes: $size, $CONNECTIONS connections, $THREADS wrk threads, ${SECONDS_PER_ROUND}s x $ROUNDS rounds, alternating"
printf "%-6s %-9s %10s %9s %9s %7s\n" round target "req/s" "p50 ms" "p99 ms" non2xx
results=()
compare_results=()
for r in $(seq "$ROUNDS"); do
  b=$(round "$BASELINE_ADDR"); printf "%-6s %-9s %10s %9s %9s %7s\n" "$r" baseline $b
  if [ -n "$COMPARE" ]; then
    o=$(round "$COMPARE_ADDR"); printf "%-6s %-9s %10s %9s %9s %7s\n" "$r" other $o
    compare_results+=("$b|$o")
  fi
  k=$(round "$BROKER_ADDR");   printf "%-6s %-9s %10s %9s %9s %7s\n" "$r" broker $k
  results+=("$b|$k")
done

rss_kib=$(awk '/VmRSS/ { print $2 }' "/proc/$broker_pid/status")

printf '%s\n' "${results[@]}" | awk -F'|' -v rss="$rss_kib" '
  { split($1, b, " "); split($2, k, " ");
    brps[NR] = b[1]; krps[NR] = k[1]; bp99[NR] = b[3]; kp99[NR] = k[3]; bp50[NR] = b[2]; kp50[NR] = k[2]; bad += k[4];
    # each broker round against the baseline round just before it: robust to the machine drifting
    pair[NR] = k[1] / b[1] }
  function median(a, n,   i, j, t, c) { for (i = 1; i <= n; i++) c[i] = a[i];
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (c[j] < c[i]) { t = c[i]; c[i] = c[j]; c[j] = t }
    return c[int((n + 1) / 2)] }
  END { n = NR;
    printf "\nmedian baseline: %d req/s, p50 %.3f ms, p99 %.3f ms\n", median(brps, n), median(bp50, n), median(bp99, n);
    printf "median broker:   %d req/s, p50 %.3f ms, p99 %.3f ms\n", median(krps, n), median(kp50, n), median(kp99, n);
    printf "ratio req/s broker/baseline: %.2f (target >= 0.75; median of per-round ratios %.2f)\n", median(krps, n) / median(brps, n), median(pair, n);
    printf "ratio p99 broker/baseline:   %.2f (target <= 1.5)\n", median(kp99, n) / median(bp99, n);
    printf "broker non-2xx responses:    %d (target 0)\n", bad;
    printf "broker resident memory after load: %.1f MiB (target <= 64)\n", rss / 1024 }'

if [ -n "$COMPARE" ]; then
  echo
  echo "other broker ($COMPARE), the same rounds:"
  printf '%s\n' "${compare_results[@]}" | awk -F'|' '
    { split($1, b, " "); split($2, k, " "); krps[NR] = k[1]; kp99[NR] = k[3]; bp99[NR] = b[3]; pair[NR] = k[1] / b[1]; bad += k[4] }
    function median(a, n,   i, j, t, c) { for (i = 1; i <= n; i++) c[i] = a[i];
      for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (c[j] < c[i]) { t = c[i]; c[i] = c[j]; c[j] = t }
      return c[int((n + 1) / 2)] }
    END { n = NR;
      printf "median other broker: %d req/s, p99 %.3f ms, non-2xx %d\n", median(krps, n), median(kp99, n), bad;
      printf "ratio req/s other/baseline: median of per-round ratios %.2f\n", median(pair, n);
      printf "ratio p99 other/baseline:   %.2f\n", median(kp99, n) / median(bp99, n) }'
fi

echo
"$BIN/examples/bench-miss-latency" 200
