#!/usr/bin/env bash
# Warm /getToken with tracing off, on and sampled, on but unsampled by the sampler
# (always_off), and on with every request carrying a caller's unsampled traceparent (the default
# parentbased_always_on): four brokers (as bench/run.sh configures them), the traced ones
# exporting to an OTLP/HTTP sink on loopback that accepts every export. Rounds alternate between
# the four, in an order that rotates each round; the ratios are each traced run against the
# untraced run of the same round.
# Loopback only; stops everything it starts.
#
# usage: bench/tracing.sh [seconds per round] [rounds]
# needs: wrk (Debian package `wrk`), python3.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_ROUND=${1:-10}
ROUNDS=${2:-3}
CONNECTIONS=64
THREADS=2
OFF=127.0.0.1:18081
SAMPLED=127.0.0.1:18082
UNSAMPLED=127.0.0.1:18083
CALLER_UNSAMPLED=127.0.0.1:18084
TRACEPARENT="traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
SINK=127.0.0.1:18318

if ! command -v wrk >/dev/null; then
  apt-get install -y wrk >/dev/null
fi
cargo build --release --locked --example bench-broker >/dev/null 2>&1
BIN=target/release

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
wait_for() { for _ in $(seq 100); do curl -sf "http://$1/healthz" >/dev/null && return 0; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }

# The sink: reads each export and answers 200 with an empty ExportTraceServiceResponse.
python3 - "$SINK" <<'PY' >/dev/null 2>&1 &
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
host, port = sys.argv[1].split(":")
class Sink(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
ThreadingHTTPServer((host, int(port)), Sink).serve_forever()
PY
pids+=("$!")

"$BIN/examples/bench-broker" "$OFF" >/dev/null 2>&1 &
pids+=("$!")
OTEL_EXPORTER_OTLP_ENDPOINT="http://$SINK" "$BIN/examples/bench-broker" "$SAMPLED" >/dev/null 2>&1 &
pids+=("$!")
OTEL_EXPORTER_OTLP_ENDPOINT="http://$SINK" OTEL_TRACES_SAMPLER=always_off \
  "$BIN/examples/bench-broker" "$UNSAMPLED" >/dev/null 2>&1 &
pids+=("$!")
OTEL_EXPORTER_OTLP_ENDPOINT="http://$SINK" "$BIN/examples/bench-broker" "$CALLER_UNSAMPLED" >/dev/null 2>&1 &
pids+=("$!")
for a in "$OFF" "$SAMPLED" "$UNSAMPLED" "$CALLER_UNSAMPLED"; do wait_for "$a"; done

round() {
  local headers=()
  if [ "$1" = "$CALLER_UNSAMPLED" ]; then headers=(-H "$TRACEPARENT"); fi
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"${SECONDS_PER_ROUND}s" --latency "${headers[@]}" "http://$1/getToken" | awk '
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    /^ +99%/ { p99 = ms($2) } /Requests\/sec/ { rps = $2 } /Non-2xx/ { bad = $NF }
    END { printf "%.0f %.3f %d\n", rps, p99, bad + 0 }'
}
for a in "$OFF" "$SAMPLED" "$UNSAMPLED" "$CALLER_UNSAMPLED"; do wrk -t1 -c8 -d2s "http://$a/getToken" >/dev/null; done

echo "$CONNECTIONS connections, $THREADS wrk threads, ${SECONDS_PER_ROUND}s x $ROUNDS rounds, alternating; load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf "%-6s %-16s %10s %9s %7s\n" round tracing "req/s" "p99 ms" non2xx
results=()
names=(off sampled unsampled caller-unsampled)
addrs=("$OFF" "$SAMPLED" "$UNSAMPLED" "$CALLER_UNSAMPLED")
for r in $(seq "$ROUNDS"); do
  # The order rotates each round, so no configuration always runs first or last.
  declare -A got=()
  for i in 0 1 2 3; do
    k=$(( (i + r - 1) % 4 ))
    got[$k]=$(round "${addrs[$k]}")
    printf "%-6s %-16s %10s %9s %7s\n" "$r" "${names[$k]}" ${got[$k]}
  done
  results+=("${got[0]}|${got[1]}|${got[2]}|${got[3]}")
  unset got
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

printf '%s\n' "${results[@]}" | awk -F'|' '
  { split($1, o, " "); split($2, s, " "); split($3, u, " "); split($4, c, " ");
    rs[NR] = s[1] / o[1]; ru[NR] = u[1] / o[1]; rc[NR] = c[1] / o[1];
    ps[NR] = s[2] / o[2]; pu[NR] = u[2] / o[2]; pc[NR] = c[2] / o[2]; bad += s[3] + u[3] + c[3] }
  function median(a, n,   i, j, t, c) { for (i = 1; i <= n; i++) c[i] = a[i];
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (c[j] < c[i]) { t = c[i]; c[i] = c[j]; c[j] = t }
    return c[int((n + 1) / 2)] }
  END { n = NR;
    printf "\nreq/s sampled/off:   %.3f (median of per-round ratios)\n", median(rs, n);
    printf "req/s unsampled/off: %.3f\n", median(ru, n);
    printf "req/s caller-unsampled/off: %.3f\n", median(rc, n);
    printf "p99 sampled/off:     %.2f\n", median(ps, n);
    printf "p99 unsampled/off:   %.2f\n", median(pu, n);
    printf "p99 caller-unsampled/off: %.2f\n", median(pc, n);
    printf "traced non-2xx:      %d (target 0)\n", bad }'
