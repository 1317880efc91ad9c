#!/usr/bin/env bash
# Capacity: STS calls per 1,000 handouts, 503s / 429s and p99 for cold callers with a fixed STS
# budget, for both endpoints; and the broker's resident memory with 0, 10k and 100k cached
# scopes. The STS emulator runs in its own process, so only the broker's memory is measured.
# Loopback only; stops everything it starts.
#
# usage: bench/capacity.sh [callers for the budget runs, default 2000]
set -euo pipefail
cd "$(dirname "$0")/.."
CALLERS=${1:-2000}
STS_ADDR=127.0.0.1:18095
BROKER_ADDR=127.0.0.1:18082

cargo build --release --locked --example bench-broker --example bench-capacity >/dev/null 2>&1
BIN=target/release/examples

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
wait_for() { for _ in $(seq 100); do curl -sf "http://$1$2" >/dev/null && return 0; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }

"$BIN/bench-capacity" sts "$STS_ADDR" >/dev/null 2>&1 &
pids+=("$!")
sleep 0.5

COMMON=(BROKER_STS_ENDPOINT="http://$STS_ADDR" BROKER_AUTH=header BROKER_TRUSTED_HEADER=X-User
  BROKER_TRUSTED_PROXIES=127.0.0.1/32)

broker() {
  "$BIN/bench-broker" "$BROKER_ADDR" "${COMMON[@]}" "$@" >/dev/null 2>&1 &
  broker_pid=$!
  pids+=("$broker_pid")
  wait_for "$BROKER_ADDR" /healthz
}
stop_broker() { kill "$broker_pid"; wait "$broker_pid" 2>/dev/null || true; }
rss_kib() { awk '/VmRSS/ { print $2 }' "/proc/$broker_pid/status"; }
drive() { "$BIN/bench-capacity" drive "http://$BROKER_ADDR" "$@"; }

echo "== memory per cached scope (/getToken, one scope per caller)"
broker BROKER_STS_MAX_QPS=10000 BROKER_CACHE_MAX_ENTRIES=200000 \
  BROKER_NEW_CALLERS_PER_ADDRESS_PER_MINUTE=0 BROKER_NEW_CALLERS_PER_SECOND=0
drive 0 1 1 /getToken >/dev/null
r0=$(rss_kib)
drive 1 10000 64 /getToken >/dev/null
r10=$(rss_kib)
drive 10001 90000 64 /getToken >/dev/null
r100=$(rss_kib)
stop_broker
awk -v a="$r0" -v b="$r10" -v c="$r100" 'BEGIN {
  printf "resident memory: %.1f MiB with 0 scopes, %.1f MiB with 10k, %.1f MiB with 100k\n", a/1024, b/1024, c/1024;
  printf "per cached scope: %.2f KiB (0 to 10k), %.2f KiB (10k to 100k; target <= 4)\n", (b-a)/10000, (c-b)/90000 }'

echo
echo "== $CALLERS cold callers at once, then each again; default budget (BROKER_STS_MAX_QPS=50)"
for mode in shared per-caller; do
  broker BROKER_POST_CREDENTIALS=$mode
  printf '%-34s %s\n' "/getPostObjectParams ($mode):" "$(drive 0 "$CALLERS" 64 /getPostObjectParams)"
  stop_broker
done
broker
printf '%-34s %s\n' "/getToken:" "$(drive 0 "$CALLERS" 64 /getToken)"
stop_broker
