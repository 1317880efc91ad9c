#!/usr/bin/env bash
# Signing throughput of GET /getObjectUrl (one key) and POST /getObjectUrls (50 keys) against the
# bare framework answering bodies of the same sizes, in one invocation. Loopback only; stops
# everything it starts. Every URL is signed for real (OSS V4, HMAC-SHA256 chain per URL) with the
# profile's one read credential, which is loaded once and then served from the cache.
#
# usage: bench/downloads.sh [seconds per round] [rounds]
# needs: wrk (Debian package `wrk`); installs it when missing and apt-get is available.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_ROUND=${1:-10}
ROUNDS=${2:-3}
CONNECTIONS=64
THREADS=2
BROKER_ADDR=127.0.0.1:18082
ONE_ADDR=127.0.0.1:18091
MANY_ADDR=127.0.0.1:18092

if ! command -v wrk >/dev/null; then
  apt-get install -y wrk >/dev/null
fi

cargo build --release --locked --example bench-broker --example bench-baseline >/dev/null 2>&1
BIN=target/release

pids=()
work=$(mktemp -d)
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

wait_for() { for _ in $(seq 100); do curl -sf "http://$1$2" >/dev/null && return 0; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }

# 50 keys under the anonymous caller's Dir, as one JSON body; wrk posts it with this script.
keys=$(for i in $(seq 50); do printf '"uploads/anonymous/photos/%04d.jpg",' "$i"; done)
printf '{"keys":[%s],"expires":600}' "${keys%,}" >"$work/body.json"
cat >"$work/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$work/body.json")
wrk.body = f:read("*a")
f:close()
LUA

"$BIN/examples/bench-broker" "$BROKER_ADDR" >/dev/null 2>&1 &
broker_pid=$!; pids+=("$broker_pid")
wait_for "$BROKER_ADDR" /healthz
ONE_PATH="/getObjectUrl?key=uploads/anonymous/photos/0001.jpg&expires=600"
one_size=$(curl -sf "http://$BROKER_ADDR$ONE_PATH" | wc -c)
many_size=$(curl -sf -X POST -H 'Content-Type: application/json' --data @"$work/body.json" "http://$BROKER_ADDR/getObjectUrls" | wc -c)

"$BIN/examples/bench-baseline" "$ONE_ADDR" "$one_size" >/dev/null 2>&1 &
pids+=("$!")
"$BIN/examples/bench-baseline" "$MANY_ADDR" "$many_size" >/dev/null 2>&1 &
pids+=("$!")
wait_for "$ONE_ADDR" /
wait_for "$MANY_ADDR" /

# one round: prints "rps p50_ms p99_ms non2xx"
round() {
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"${SECONDS_PER_ROUND}s" --latency "$@" | awk '
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    /^ +50%/ { p50 = ms($2) } /^ +99%/ { p99 = ms($2) }
    /Requests\/sec/ { rps = $2 } /Non-2xx/ { bad = $NF }
    END { printf "%.0f %.3f %.3f %d\n", rps, p50, p99, bad + 0 }'
}

summary() {
  awk -F'|' -v what="$1" '
    { split($1, b, " "); split($2, k, " "); brps[NR] = b[1]; krps[NR] = k[1];
      bp99[NR] = b[3]; kp99[NR] = k[3]; bp50[NR] = b[2]; kp50[NR] = k[2]; bad += k[4]; pair[NR] = k[1] / b[1] }
    function median(a, n,   i, j, t, c) { for (i = 1; i <= n; i++) c[i] = a[i];
      for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (c[j] < c[i]) { t = c[i]; c[i] = c[j]; c[j] = t }
      return c[int((n + 1) / 2)] }
    END { n = NR;
      printf "%s: baseline %d req/s (p50 %.3f ms, p99 %.3f ms), broker %d req/s (p50 %.3f ms, p99 %.3f ms)\n", what,
        median(brps, n), median(bp50, n), median(bp99, n), median(krps, n), median(kp50, n), median(kp99, n);
      printf "%s: ratio req/s broker/baseline %.2f (median of per-round ratios %.2f), non-2xx %d\n", what,
        median(krps, n) / median(brps, n), median(pair, n), bad }'
}

wrk -t1 -c8 -d2s "http://$BROKER_ADDR$ONE_PATH" >/dev/null
wrk -t1 -c8 -d2s -s "$work/post.lua" "http://$BROKER_ADDR/getObjectUrls" >/dev/null
wrk -t1 -c8 -d2s "http://$ONE_ADDR/" >/dev/null

echo "bodies: $one_size bytes (one URL), $many_size bytes (50 URLs); $CONNECTIONS connections, $THREADS wrk threads, ${SECONDS_PER_ROUND}s x $ROUNDS rounds, alternating"
printf "%-6s %-22s %10s %9s %9s %7s\n" round target "req/s" "p50 ms" "p99 ms" non2xx
one=(); many=()
for r in $(seq "$ROUNDS"); do
  b=$(round "http://$ONE_ADDR$ONE_PATH");                     printf "%-6s %-22s %10s %9s %9s %7s\n" "$r" "baseline (one)" $b
  k=$(round "http://$BROKER_ADDR$ONE_PATH");                  printf "%-6s %-22s %10s %9s %9s %7s\n" "$r" "/getObjectUrl" $k
  one+=("$b|$k")
  b=$(round -s "$work/post.lua" "http://$MANY_ADDR/getObjectUrls");    printf "%-6s %-22s %10s %9s %9s %7s\n" "$r" "baseline (50 keys)" $b
  k=$(round -s "$work/post.lua" "http://$BROKER_ADDR/getObjectUrls");  printf "%-6s %-22s %10s %9s %9s %7s\n" "$r" "/getObjectUrls (50)" $k
  many+=("$b|$k")
done
echo
printf '%s\n' "${one[@]}" | summary "/getObjectUrl"
printf '%s\n' "${many[@]}" | summary "/getObjectUrls (50 keys)"
rss_kib=$(awk '/VmRSS/ { print $2 }' "/proc/$broker_pid/status")
awk -v rss="$rss_kib" 'BEGIN { printf "broker resident memory after load: %.1f MiB\n", rss / 1024 }'
