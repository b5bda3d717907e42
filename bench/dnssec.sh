#!/usr/bin/env bash
# What online signing costs: UDP QPS with DO=1 queries against the same
# store unsigned and signed (ECDSA P-256; signatures of existing RRsets
# cached, each denial signed when asked).
#
#   bench/dnssec.sh [N=100000] [SECONDS=8]
#
# Half the queries are names that do not exist (a fresh NSEC signature
# each). mimidns pinned to CPU 0 with one worker, dnsperf (-D: DO bit) on
# CPU 1. As root it re-runs itself inside `unshare -n`. A benchmark, not a test.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
N=${1:-100000}; SECS=${2:-8}
W=${BENCH_DIR:-/tmp/mimidns-bench}/dnssec-$N
source "$HERE/netns.sh"
bench_enter "$W" "$N" "$@"
BIN=$ROOT/target/release/mimidns
mkdir -p "$W/results"
config() {  # name, extra lines
  local name=$1; shift
  { printf 'version = 1\n[server]\nlisten = ["127.0.0.1:5325"]\nzones-dir = "%s/zones"\ndata-dir = "%s/data"\nudp-workers = 1\n' "$W" "$W"
    printf '[log]\nlevel = "warn"\n[rate-limit]\nresponses-per-second = 0\nnegative-per-second = 0\n'
    printf '%s\n' "$@"; } > "$W/$name.toml"
}
config unsigned
config signed '[dnssec]' 'zones = ["bench.test"]'
wait_answer() {
  for _ in $(seq 1 3000); do
    kdig +norec +time=1 +retry=0 @127.0.0.1 -p 5325 bench.test SOA 2>/dev/null | grep -q "status: NOERROR" && return 0
    sleep 0.02
  done; return 1
}
if [ ! -d "$W/data/store" ]; then
  "$BIN" serve --config "$W/unsigned.toml" & PID=$!
  wait_answer
  "$BIN" admin --socket "$W/data/admin.sock" import "$W/import.ndjson" 2>&1 | tail -1
  kill $PID; wait $PID 2>/dev/null || true
  "$BIN" keys generate --zone bench.test --data-dir "$W/data"
fi
for name in unsigned signed unsigned signed; do
  TOKIO_WORKER_THREADS=1 taskset -c 0 "$BIN" serve --config "$W/$name.toml" & PID=$!
  wait_answer
  sleep 2  # the in-memory index
  taskset -c 1 dnsperf -D -s 127.0.0.1 -p 5325 -d "$W/queries.txt" -l "$SECS" -c 10 -q 100 -S 5 > "$W/results/$name.txt" 2>&1 || true
  echo "$name: $(awk '/Queries per second/{printf "%.0f", $4}' "$W/results/$name.txt") QPS ($(grep 'Response codes' "$W/results/$name.txt" | sed 's/^ *//'))"
  kill $PID; wait $PID 2>/dev/null || true
done
