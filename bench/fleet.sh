#!/usr/bin/env bash
# Fleet mode: three broker replicas against one STS emulator (its own process), with and
# without a shared Redis (Debian's redis-server, started here on a free port): AssumeRole calls
# per 1,000 callers, the latency of a local miss another replica already loaded against a first
# load from STS, and the warm /getToken throughput against the bare framework with and without
# Redis in the same run. Loopback only; stops everything it starts.
#
# usage: bench/fleet.sh [callers, default 300] [seconds per wrk round, default 8] [rounds, default 3]
# needs: redis-server and wrk (Debian packages; installed when missing and apt-get is available).
set -euo pipefail
cd "$(dirname "$0")/.."
CALLERS=${1:-300}
SECONDS_PER_ROUND=${2:-8}
ROUNDS=${3:-3}
STS_ADDR=127.0.0.1:18096
REDIS_PORT=18379
BASELINE_ADDR=127.0.0.1:18091
PORTS=(18083 18084 18085)

command -v wrk >/dev/null || apt-get install -y wrk >/dev/null
command -v redis-server >/dev/null || apt-get install -y redis-server >/dev/null
cargo build --release --locked --example bench-broker --example bench-capacity --example bench-baseline >/dev/null 2>&1
BIN=target/release/examples

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
wait_for() { for _ in $(seq 100); do curl -sf "http://$1$2" >/dev/null && return 0; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }

"$BIN/bench-capacity" sts "$STS_ADDR" >/dev/null 2>&1 &
pids+=("$!")
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no >/dev/null 2>&1 &
pids+=("$!")
sleep 0.5

KEY=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=
COMMON=(BROKER_STS_ENDPOINT="http://$STS_ADDR" BROKER_AUTH=header BROKER_TRUSTED_HEADER=X-User
  BROKER_TRUSTED_PROXIES=127.0.0.1/32 BROKER_STS_MAX_QPS=1000)
FLEET=(BROKER_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0" BROKER_CACHE_ENCRYPTION_KEY=$KEY)

replicas=()
start_replicas() {
  replicas=()
  for port in "${PORTS[@]}"; do
    "$BIN/bench-broker" "127.0.0.1:$port" "${COMMON[@]}" "$@" >/dev/null 2>&1 &
    replica_pids+=("$!"); pids+=("$!")
    wait_for "127.0.0.1:$port" /healthz
    replicas+=("http://127.0.0.1:$port")
  done
}
stop_replicas() { for p in "${replica_pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; replica_pids=(); }
replica_pids=()

echo "== $CALLERS callers, each asking all three replicas in turn"
start_replicas
printf '%-12s %s\n' "alone:" "$("$BIN/bench-capacity" fleet "$CALLERS" "${replicas[@]}")"
stop_replicas
start_replicas "${FLEET[@]}"
printf '%-12s %s\n' "with Redis:" "$("$BIN/bench-capacity" fleet "$CALLERS" "${replicas[@]}")"
stop_replicas

echo
echo "== warm /getToken throughput against the bare framework, with and without Redis"
# One replica each way, BROKER_AUTH=none (one caller, every request a local hit).
"$BIN/bench-broker" 127.0.0.1:18086 BROKER_STS_ENDPOINT="http://$STS_ADDR" >/dev/null 2>&1 &
pids+=("$!"); wait_for 127.0.0.1:18086 /healthz
"$BIN/bench-broker" 127.0.0.1:18087 BROKER_STS_ENDPOINT="http://$STS_ADDR" "${FLEET[@]}" >/dev/null 2>&1 &
pids+=("$!"); wait_for 127.0.0.1:18087 /healthz
size=$(curl -sf "http://127.0.0.1:18086/getToken" | wc -c)
curl -sf "http://127.0.0.1:18087/getToken" >/dev/null
"$BIN/bench-baseline" "$BASELINE_ADDR" "$size" >/dev/null 2>&1 &
pids+=("$!"); wait_for "$BASELINE_ADDR" /getToken
rps() { wrk -t2 -c64 -d"${SECONDS_PER_ROUND}s" "http://$1/getToken" | awk '/Requests\/sec/ { printf "%.0f", $2 }'; }
for target in "$BASELINE_ADDR" 127.0.0.1:18086 127.0.0.1:18087; do wrk -t1 -c8 -d2s "http://$target/getToken" >/dev/null; done
printf '%-6s %10s %10s %10s %8s %8s\n' round baseline alone redis alone/b redis/b
for r in $(seq "$ROUNDS"); do
  b=$(rps "$BASELINE_ADDR"); a=$(rps 127.0.0.1:18086); f=$(rps 127.0.0.1:18087)
  awk -v r="$r" -v b="$b" -v a="$a" -v f="$f" 'BEGIN { printf "%-6s %10d %10d %10d %8.2f %8.2f\n", r, b, a, f, a/b, f/b }'
done
