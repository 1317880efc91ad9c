#!/usr/bin/env bash
# The warm paths against the bare framework, in one invocation, rounds alternating so every
# ratio comes from the same conditions; plus the latency a cache miss adds over the STS emulator.
# Loopback only; stops everything it starts. Figures (each the median of per-round ratios):
#   - warm /getToken, one caller, against a baseline answering a body of the same size;
#   - warm /getPostObjectParams (V4, shared form credential) against a baseline answering a
#     body of the form's size;
#   - GET /getObjectUrl (one presigned download URL) against a baseline of its answer's size;
#   - GET /s3/multipart/{uploadId}/{partNumber} (one presigned part URL, as bench/multipart.sh
#     drives it: signing asks OSS nothing, so any upload id signs) against a baseline of its size;
#   - CALLERS distinct warm callers round-robin against one caller, on the same broker and the
#     same wrk script (header authentication, `X-User`).
# Every broker writes its JSON log at `info` (every handout audited) to /dev/null: still
# formatted and written. The ceiling and the broker are built by the same `cargo build
# --release`, so with the same `[profile.release]` (printed with the results).
#
# usage: bench/run.sh [seconds per round] [rounds]
#   BENCH_COMPARE=<path to another bench-broker binary>: each round also measures that binary
#   (e.g. a release build of an older commit) on every figure, next to this build's (first in
#   odd rounds, second in even ones), so the two brokers' ratios come from the same rounds.
#   BENCH_CALLERS=<n> (default 10000): distinct callers of the round-robin figure.
#   BENCH_BROKER=<path to a bench-broker binary>: measure that build instead of this checkout's.
#   BENCH_SKIP_BUILD=1: use the examples already in target/release.
#   BENCH_PORT_BASE=<n> (default 18080): ports n+1 to n+4 and n+10 to n+13 are used; all must
#   be free (a port some other process answers on would be measured instead).
# needs: wrk (Debian package `wrk`); installs it when missing and apt-get is available.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_ROUND=${1:-10}
ROUNDS=${2:-3}
CALLERS=${BENCH_CALLERS:-10000}
COMPARE=${BENCH_COMPARE:-}
CONNECTIONS=64
THREADS=2
PORTS=${BENCH_PORT_BASE:-18080}
BROKER_ADDR=127.0.0.1:$((PORTS + 1))
COMPARE_ADDR=127.0.0.1:$((PORTS + 2))
CALLERS_ADDR=127.0.0.1:$((PORTS + 3))
COMPARE_CALLERS_ADDR=127.0.0.1:$((PORTS + 4))
BASELINE_ADDR=127.0.0.1:$((PORTS + 10))
FORM_BASELINE_ADDR=127.0.0.1:$((PORTS + 11))
URL_BASELINE_ADDR=127.0.0.1:$((PORTS + 12))
PART_BASELINE_ADDR=127.0.0.1:$((PORTS + 13))
URL_PATH="/getObjectUrl?key=uploads/anonymous/photos/0001.jpg&expires=600"
UPLOAD_ID=0004B9894A22E5B1888A1E29F823BENCH

if ! command -v wrk >/dev/null; then
  apt-get install -y wrk >/dev/null
fi

if [ -z "${BENCH_SKIP_BUILD:-}" ]; then
  cargo build --release --locked --example bench-broker --example bench-baseline \
    --example bench-miss-latency --example bench-capacity >/dev/null 2>&1
fi
BIN=target/release
BROKER=${BENCH_BROKER:-$BIN/examples/bench-broker}

for addr in "$BROKER_ADDR" "$COMPARE_ADDR" "$CALLERS_ADDR" "$COMPARE_CALLERS_ADDR" "$BASELINE_ADDR" \
  "$FORM_BASELINE_ADDR" "$URL_BASELINE_ADDR" "$PART_BASELINE_ADDR"; do
  if curl -s -o /dev/null --max-time 1 "http://$addr/"; then
    echo "$addr is in use; choose other ports with BENCH_PORT_BASE" >&2
    exit 1
  fi
done

pids=()
work=$(mktemp -d)
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

wait_for() { for _ in $(seq 100); do curl -sf "http://$1$2" >/dev/null && return 0; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }

# The broker as configured in production (JSON logs, rate limiter on), wired to an in-process
# STS emulator; its log goes to /dev/null but is still formatted and written.
"$BROKER" "$BROKER_ADDR" >/dev/null 2>&1 &
broker_pid=$!; pids+=("$broker_pid")
wait_for "$BROKER_ADDR" /healthz
size=$(curl -sf "http://$BROKER_ADDR/getToken" | wc -c)
form_size=$(curl -sf "http://$BROKER_ADDR/getPostObjectParams" | wc -c)
url_size=$(curl -sf "http://$BROKER_ADDR$URL_PATH" | wc -c)
dir=$(curl -sf "http://$BROKER_ADDR/getToken" | sed -E 's/.*"Dir":"([^"]*)".*/\1/')
PART_PATH="/s3/multipart/$UPLOAD_ID/1?key=${dir}bench.bin"
part_size=$(curl -sf "http://$BROKER_ADDR$PART_PATH" | wc -c)
[ "$part_size" -gt 0 ] || { echo "the broker signed no part URL for $PART_PATH" >&2; exit 1; }

"$BIN/examples/bench-baseline" "$BASELINE_ADDR" "$size" >/dev/null 2>&1 &
pids+=("$!")
"$BIN/examples/bench-baseline" "$FORM_BASELINE_ADDR" "$form_size" >/dev/null 2>&1 &
pids+=("$!")
"$BIN/examples/bench-baseline" "$URL_BASELINE_ADDR" "$url_size" >/dev/null 2>&1 &
pids+=("$!")
"$BIN/examples/bench-baseline" "$PART_BASELINE_ADDR" "$part_size" >/dev/null 2>&1 &
pids+=("$!")
wait_for "$BASELINE_ADDR" /getToken
wait_for "$FORM_BASELINE_ADDR" /getPostObjectParams
wait_for "$URL_BASELINE_ADDR" /getObjectUrl
wait_for "$PART_BASELINE_ADDR" /s3/multipart

# Many callers: trusted-header authentication, first-time-caller limits off, room for all (in
# the segment of keys asked for once too, a fifth of the entries), warmed with every caller.
start_callers_broker() { # <binary> <address>
  "$1" "$2" BROKER_AUTH=header BROKER_TRUSTED_HEADER=X-User \
    BROKER_TRUSTED_PROXIES=127.0.0.1/32 BROKER_STS_MAX_QPS=10000 \
    BROKER_CACHE_MAX_ENTRIES=$((CALLERS * 6)) BROKER_NEW_CALLERS_PER_ADDRESS_PER_MINUTE=0 \
    BROKER_NEW_CALLERS_PER_SECOND=0 >/dev/null 2>&1 &
  pids+=("$!")
  wait_for "$2" /healthz
  "$BIN/examples/bench-capacity" drive "http://$2" 0 "$CALLERS" 64 /getToken >"$work/drive"
  grep -q "warm_non200=0 " "$work/drive" || { echo "warming $CALLERS callers failed: $(cat "$work/drive")" >&2; exit 1; }
}
start_callers_broker "$BROKER" "$CALLERS_ADDR"

if [ -n "$COMPARE" ]; then
  "$COMPARE" "$COMPARE_ADDR" >/dev/null 2>&1 &
  pids+=("$!")
  wait_for "$COMPARE_ADDR" /healthz
  echo "other broker: $COMPARE ($(curl -sf "http://$COMPARE_ADDR/getToken" | wc -c) body bytes)"
  start_callers_broker "$COMPARE" "$COMPARE_CALLERS_ADDR"
fi
# Callers caller-0 .. caller-(N-1), round-robin per wrk thread.
cat >"$work/callers.lua" <<'LUA'
local n, count = 0, tonumber(os.getenv("BENCH_RR_CALLERS"))
request = function()
  n = n + 1
  return wrk.format("GET", "/getToken", { ["X-User"] = "caller-" .. (n % count) })
end
LUA

# one measurement: prints "rps p50_ms p99_ms non2xx"
measure() {
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"${SECONDS_PER_ROUND}s" --latency "$@" | awk '
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    /^ +50%/ { p50 = ms($2) } /^ +99%/ { p99 = ms($2) }
    /Requests\/sec/ { rps = $2 } /Non-2xx/ { bad = $NF }
    END { printf "%.0f %.3f %.3f %d\n", rps, p50, p99, bad + 0 }'
}
# one round of one target: measures, prints the row and appends it to $work/<target>
run_target() {
  local target=$1; shift
  local row; row=$(measure "$@")
  printf "%-6s %-12s %10s %9s %9s %7s\n" "$r" "$target" $row
  echo "$row" >>"$work/$target"
}

# warm everything
for url in "http://$BROKER_ADDR/getToken" "http://$BASELINE_ADDR/getToken" \
  "http://$BROKER_ADDR/getPostObjectParams" "http://$FORM_BASELINE_ADDR/getPostObjectParams" \
  "http://$BROKER_ADDR$URL_PATH" "http://$URL_BASELINE_ADDR/getObjectUrl" \
  "http://$BROKER_ADDR$PART_PATH" "http://$PART_BASELINE_ADDR/s3/multipart"; do
  wrk -t1 -c8 -d2s "$url" >/dev/null
done
if [ -n "$COMPARE" ]; then
  for path in /getToken /getPostObjectParams "$URL_PATH" "$PART_PATH"; do
    wrk -t1 -c8 -d2s "http://$COMPARE_ADDR$path" >/dev/null
  done
fi

# The release profile both the broker and its ceilings were built with.
profile=$(awk '/^\[profile\.release\]/ { on = 1; next } /^\[/ { on = 0 }
  on && /=/ { gsub(/ /, ""); printf "%s%s", sep, $0; sep = ", " }' Cargo.toml)
echo "release profile (broker and ceilings): ${profile:-Cargo defaults}"
echo "body bytes: /getToken $size, /getPostObjectParams $form_size, /getObjectUrl $url_size," \
  "part URL $part_size; $CONNECTIONS connections," \
  "$THREADS wrk threads, ${SECONDS_PER_ROUND}s x $ROUNDS rounds, alternating;" \
  "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf "%-6s %-12s %10s %9s %9s %7s\n" round target "req/s" "p50 ms" "p99 ms" non2xx
# "<name> <url>": this build's figure and the other broker's (when there is one), taking turns
# at going first from round to round, so neither gains from its place in the sequence.
both() {
  if [ -n "$COMPARE" ] && [ $((r % 2)) -eq 1 ]; then
    run_target "other-$1" "http://$COMPARE_ADDR$2"
  fi
  run_target "$1" "http://$BROKER_ADDR$2"
  if [ -n "$COMPARE" ] && [ $((r % 2)) -eq 0 ]; then
    run_target "other-$1" "http://$COMPARE_ADDR$2"
  fi
}
# The same for the many-callers pair of each broker.
callers() { # <one target> <many target> <address>
  BENCH_RR_CALLERS=1 run_target "$1" -s "$work/callers.lua" "http://$3/getToken"
  BENCH_RR_CALLERS=$CALLERS run_target "$2" -s "$work/callers.lua" "http://$3/getToken"
}
both_callers() {
  if [ -n "$COMPARE" ] && [ $((r % 2)) -eq 1 ]; then
    callers other-one other-many "$COMPARE_CALLERS_ADDR"
  fi
  callers one-caller many-callers "$CALLERS_ADDR"
  if [ -n "$COMPARE" ] && [ $((r % 2)) -eq 0 ]; then
    callers other-one other-many "$COMPARE_CALLERS_ADDR"
  fi
}
for r in $(seq "$ROUNDS"); do
  run_target baseline "http://$BASELINE_ADDR/getToken"
  both broker /getToken
  run_target form-base "http://$FORM_BASELINE_ADDR/getPostObjectParams"
  both form /getPostObjectParams
  run_target url-base "http://$URL_BASELINE_ADDR/getObjectUrl"
  both url "$URL_PATH"
  run_target part-base "http://$PART_BASELINE_ADDR/s3/multipart"
  both part "$PART_PATH"
  both_callers
done

rss_kib=$(awk '/VmRSS/ { print $2 }' "/proc/$broker_pid/status")

# "<label> <numerator target> <denominator target> <target text>": per-round ratios' median,
# the medians of both sides, p99s, and the numerator's non-2xx count.
ratio() {
  paste -d' ' "$work/$2" "$work/$3" | awk -v label="$1" -v num="$2" -v den="$3" -v goal="$4" '
    function median(a, n,   i, j, t, c) { for (i = 1; i <= n; i++) c[i] = a[i];
      for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (c[j] < c[i]) { t = c[i]; c[i] = c[j]; c[j] = t }
      return c[int((n + 1) / 2)] }
    { nr[NR] = $1; np99[NR] = $3; bad += $4; dr[NR] = $5; dp99[NR] = $7; pair[NR] = $1 / $5 }
    END { n = NR;
      printf "%-34s %5.2f  (%s %d req/s p99 %.2f ms, %s %d req/s p99 %.2f ms; non-2xx %d) %s\n",
        label, median(pair, n), num, median(nr, n), median(np99, n), den, median(dr, n), median(dp99, n), bad, goal }'
}

echo
echo "medians of per-round ratios:"
ratio "warm /getToken / ceiling" broker baseline "(target >= 0.7, p99 <= the ceiling's, 0 errors)"
ratio "warm /getPostObjectParams / ceiling" form form-base "(target >= 0.5)"
ratio "one download URL / ceiling" url url-base "(target >= 0.5)"
ratio "one part URL / ceiling" part part-base "(target >= 0.5)"
ratio "$CALLERS callers / one caller" many-callers one-caller "(target >= 0.85)"
if [ -n "$COMPARE" ]; then
  echo "the other broker, same rounds:"
  ratio "  warm /getToken / ceiling" other-broker baseline ""
  ratio "  warm /getPostObjectParams / ceiling" other-form form-base ""
  ratio "  one download URL / ceiling" other-url url-base ""
  ratio "  one part URL / ceiling" other-part part-base ""
  ratio "  $CALLERS callers / one caller" other-many other-one ""
fi
awk -v rss="$rss_kib" 'BEGIN { printf "broker resident memory after load: %.1f MiB (target <= 64)\n", rss / 1024 }'
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

echo
"$BIN/examples/bench-miss-latency" 200
