#!/usr/bin/env bash
# Fleet mode: three broker replicas against one STS emulator (its own process), with and
# without a shared Redis (Debian's redis-server, started here on a free port): AssumeRole calls
# per 1,000 callers, the latency of a local miss another replica already loaded against a first
# load from STS, and the warm /getToken throughput against the bare framework with and without
# Redis in the same run. Loopback only; stops everything it starts.
#
# usage: bench/fleet.sh [callers, default 300] [seconds per wrk round, default 8] [rounds, default 3]
#        bench/fleet.sh miss [callers, default 1000] [rounds, default 3]
# The second form measures only the Redis-served miss: a caller's credential loaded by one
# replica, asked of the two others, whose own latency (the `latency_ms` of their audit lines,
# matched by request id) gives p50 and p99 server-side, round after round (fresh replicas and
# an emptied Redis each round).
# needs: redis-server and wrk (Debian packages; installed when missing and apt-get is available).
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=all
if [ "${1:-}" = miss ]; then MODE=miss; shift; fi
CALLERS=${1:-300}
SECONDS_PER_ROUND=${2:-8}
ROUNDS=${3:-3}
STS_ADDR=127.0.0.1:18096
REDIS_PORT=18379
BASELINE_ADDR=127.0.0.1:18091
PORTS=(18083 18084 18085)

command -v wrk >/dev/null || apt-get install -y wrk >/dev/null
command -v redis-server >/dev/null || apt-get install -y redis-server >/dev/null
[ -n "${BENCH_SKIP_BUILD:-}" ] || cargo build --release --locked --example bench-broker --example bench-capacity --example bench-baseline >/dev/null 2>&1
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

LOGS=${FLEET_LOGS:-$(mktemp -d)}
trap 'cleanup; [ -n "${FLEET_LOGS:-}" ] || rm -rf "$LOGS"' EXIT
replicas=()
start_replicas() {
  replicas=()
  for port in "${PORTS[@]}"; do
    "$BIN/bench-broker" "127.0.0.1:$port" "${COMMON[@]}" "$@" >/dev/null 2>"$LOGS/replica-$port.log" &
    replica_pids+=("$!"); pids+=("$!")
    wait_for "127.0.0.1:$port" /healthz
    replicas+=("http://127.0.0.1:$port")
  done
}
stop_replicas() { for p in "${replica_pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; replica_pids=(); }
replica_pids=()

# The server-side latency of the requests whose ids are in $LOGS/miss-ids, from the replicas'
# audit lines: "p50_ms p99_ms count" (nearest-rank percentiles).
server_side() {
  python3 - "$LOGS/miss-ids" "$LOGS"/replica-*.log <<'PY'
import json, math, sys
ids = set(open(sys.argv[1]).read().split())
found = []
for path in sys.argv[2:]:
    for line in open(path, errors="replace"):
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if rec.get("request_id") in ids and rec.get("cache") == "miss":
            found.append(float(rec["latency_ms"]))
found.sort()
rank = lambda p: found[max(0, math.ceil(len(found) * p / 100) - 1)] if found else float("nan")
print(f"{rank(50):.3f} {rank(99):.3f} {len(found)}")
PY
}

# One round of the Redis-served miss: fresh replicas, an emptied Redis.
miss_round() {
  redis-cli -p "$REDIS_PORT" flushall >/dev/null
  start_replicas "${FLEET[@]}"
  client=$(FLEET_MISS_IDS="$LOGS/miss-ids" "$BIN/bench-capacity" fleet "$CALLERS" "${replicas[@]}")
  sleep 0.3 # the log buffer reaches the file every 100 ms; bench-broker does not flush on kill
  stop_replicas
  echo "$client|$(server_side)"
}

if [ "$MODE" = miss ]; then
  ROUNDS=${2:-3}
  [ -n "${1:-}" ] || CALLERS=1000
  echo "== Redis-served misses: $CALLERS callers x 2 other replicas, $ROUNDS rounds; load average $(cut -d' ' -f1-3 /proc/loadavg)"
  printf '%-6s %14s %14s %14s %14s %7s\n' round "server p50 ms" "server p99 ms" "client p50 ms" "client p99 ms" misses
  results=()
  for r in $(seq "$ROUNDS"); do
    line=$(miss_round)
    client=${line%%|*}; server=${line##*|}
    c50=$(sed -n 's/.*other_replica_miss_p50_ms=\([0-9.]*\).*/\1/p' <<<"$client")
    c99=$(sed -n 's/.*other_replica_miss_p99_ms=\([0-9.]*\).*/\1/p' <<<"$client")
    read -r s50 s99 n <<<"$server"
    printf '%-6s %14s %14s %14s %14s %7s\n' "$r" "$s50" "$s99" "$c50" "$c99" "$n"
    results+=("$s50 $s99")
  done
  printf '%s\n' "${results[@]}" | sort -n -k2 | awk '{ p99[NR] = $2 } END { printf "\nmedian server-side p99: %s ms (target <= 1 ms); load average now %s\n", p99[int((NR + 1) / 2)], load }' load="$(cut -d' ' -f1-3 /proc/loadavg)"
  exit 0
fi

echo "== $CALLERS callers, each asking all three replicas in turn"
start_replicas
printf '%-12s %s\n' "alone:" "$("$BIN/bench-capacity" fleet "$CALLERS" "${replicas[@]}")"
stop_replicas
line=$(miss_round)
printf '%-12s %s\n' "with Redis:" "${line%%|*}"
read -r s50 s99 n <<<"${line##*|}"
printf '%-12s p50 %s ms, p99 %s ms over %s misses (server side, from the audit lines)\n' "Redis miss:" "$s50" "$s99" "$n"

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
