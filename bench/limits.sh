#!/usr/bin/env bash
# What the rate limiter and the per-worker counters cost in UDP throughput.
#
#   bench/limits.sh [N=100000] [SECONDS=10] [ROUNDS=3]
#
# One store of N identifiers (bench/gen.py; half the queries are NXDOMAIN
# under _mimi, so the negative-answer budget is consulted on half of them
# and RRL on all). mimidns is started, pinned to CPU 0 with one worker, in
# turn with:
#   off      rate-limit.responses-per-second = 0, negative-per-second = 0
#   on       both on, rates far above what dnsperf sends, so every response
#            pays the limiter's bookkeeping and none is limited
#   old      (only if OLD_BIN names a build from before the counters) the
#            older binary, limits absent: what counting itself costs
# and dnsperf (CPU 1) runs at full speed for SECONDS, ROUNDS times per
# configuration, interleaved. Prints the median QPS of each and the ratios.
# As root it re-runs itself inside `unshare -n`. A benchmark, not a test.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
N=${1:-100000}; SECS=${2:-10}; ROUNDS=${3:-3}
W=${BENCH_DIR:-/tmp/mimidns-bench}/limits-$N
source "$HERE/netns.sh"
bench_enter "$W" "$N" "$@"
BIN=$ROOT/target/release/mimidns
mkdir -p "$W/results"
config() {  # name, data dir, then extra lines
  local name=$1 data=$2; shift 2
  {
    printf 'version = 1\n[server]\nlisten = ["127.0.0.1:5320"]\nzones-dir = "%s/zones"\ndata-dir = "%s"\nudp-workers = 1\n' "$W" "$data"
    printf '[log]\nlevel = "warn"\n'
    printf '%s\n' "$@"
  } > "$W/$name.toml"
}
config off "$W/data" '[rate-limit]' 'responses-per-second = 0' 'negative-per-second = 0'
config on "$W/data" '[rate-limit]' 'responses-per-second = 100000000' 'negative-per-second = 100000000' 'negative-burst = 100000000'
# The older build keeps a store of its own (it does not read newer metadata).
config old "$W/data-old"
wait_answer() {
  for _ in $(seq 1 3000); do
    kdig +norec +time=1 +retry=0 @127.0.0.1 -p 5320 bench.test SOA 2>/dev/null | grep -q "status: NOERROR" && return 0
    sleep 0.02
  done
  echo "server never answered" >&2; return 1
}
wait_index() {  # data dir
  for _ in $(seq 1 3000); do
    curl -s --unix-socket "$1/admin.sock" http://x/health | grep -q '"memory_index_ready":true' && return 0
    sleep 0.05
  done
  echo "index never ready" >&2; return 1
}
load() {  # binary, config, data dir
  [ -d "$3/store" ] && return 0
  "$1" serve --config "$2" & PID=$!
  wait_answer
  "$1" admin --socket "$3/admin.sock" import "$W/import.ndjson" 2>&1 | tail -1
  kill $PID; wait $PID 2>/dev/null || true
}
load "$BIN" "$W/off.toml" "$W/data"
[ -n "${OLD_BIN:-}" ] && load "$OLD_BIN" "$W/old.toml" "$W/data-old"
declare -A RUNS
configs=(off on)
[ -n "${OLD_BIN:-}" ] && configs+=(old)
for round in $(seq 1 "$ROUNDS"); do
  for name in "${configs[@]}"; do
    binary=$BIN; data=$W/data
    [ "$name" = old ] && binary=$OLD_BIN && data=$W/data-old
    TOKIO_WORKER_THREADS=1 taskset -c 0 "$binary" serve --config "$W/$name.toml" & PID=$!
    wait_answer; wait_index "$data"
    taskset -c 1 dnsperf -s 127.0.0.1 -p 5320 -d "$W/queries.txt" -l "$SECS" -c 10 -q 100 -S 5 > "$W/results/$name-$round.txt" 2>&1 || true
    qps=$(awk '/Queries per second/{printf "%.0f", $4}' "$W/results/$name-$round.txt")
    codes=$(grep "Response codes" "$W/results/$name-$round.txt" | sed 's/^ *//')
    echo "round $round $name: $qps QPS ($codes)"
    RUNS[$name]="${RUNS[$name]:-} $qps"
    kill $PID; wait $PID 2>/dev/null || true
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
off=$(echo "${RUNS[off]}" | median); on=$(echo "${RUNS[on]}" | median)
echo "median QPS: limits off $off, limits on (nothing limited) $on; on/off $(awk -v a="$on" -v b="$off" 'BEGIN{printf "%.3f", a/b}')"
if [ -n "${OLD_BIN:-}" ]; then
  old=$(echo "${RUNS[old]}" | median)
  echo "median QPS: build without counters $old; counters (limits off)/old $(awk -v a="$off" -v b="$old" 'BEGIN{printf "%.3f", a/b}')"
fi
