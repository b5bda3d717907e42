#!/usr/bin/env bash
# mimidns beside NSD and Knot: same identifiers, same queries, one run.
#
#   bench/run.sh [N=1000000] [SECONDS=10] [RATE=50000]
#
# Generates N identifiers (1-2 mappings each) with bench/gen.py, loads them
# into mimidns through `mimidns admin import` and into NSD and Knot as the
# equivalent zone file, then for each server: time from start to first
# answer, dnsperf over UDP at full speed (QPS, latency, lost, RCODEs, CPU),
# dnsperf at a fixed RATE (server CPU-seconds per million queries, p50/p99
# latency), dnsperf over TCP, and RSS. mimidns also gets the durable import
# rate and admin write -> DNS visibility latency. Every server is pinned to
# CPU 0 with one worker, dnsperf to CPU 1 (the import is measured both that
# way and with the server on both cores, as an operator runs it). As root it re-runs itself inside
# `unshare -n`, so nothing can leave the machine. A benchmark, not a test.
#
# Needs: dnsperf nsd knot knot-dnsutils (apt-get install ...), python3.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
N=${1:-1000000}; SECS=${2:-10}; RATE=${3:-50000}
BASE=${BENCH_DIR:-/tmp/mimidns-bench}
W=$BASE/$N
source "$HERE/netns.sh"
BENCH_EXAMPLES=write_visibility bench_enter "$W" "$N" "$@"
BIN=$ROOT/target/release/mimidns
VIS=$ROOT/target/release/examples/write_visibility
R=$W/results; mkdir -p "$R" "$W/nsd" "$W/knot/db"
CLK=$(getconf CLK_TCK)
declare -A QPS CPUQ RSS LOAD P99 TCPQPS

now_ms() { date +%s%3N; }
wait_answer() {  # port -> returns once the zone's SOA is answered (polls every 5 ms)
  python3 - "$1" <<'PY'
import socket, struct, sys, time
port = int(sys.argv[1])
query = struct.pack(">HHHHHH", 0x4242, 0, 1, 0, 0, 0) + b"\x05bench\x04test\x00" + struct.pack(">HH", 6, 1)
deadline = time.time() + 600
while time.time() < deadline:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.005)
    try:
        s.sendto(query, ("127.0.0.1", port))
        if s.recv(4096)[:2] == b"\x42\x42":
            sys.exit(0)
    except OSError:
        time.sleep(0.005)
    finally:
        s.close()
sys.exit("server never answered")
PY
}
wait_index() {  # admin socket -> returns once /health reports the in-memory index ready
  python3 - "$1" <<'PY'
import json, socket, sys, time
deadline = time.time() + 600
while time.time() < deadline:
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(sys.argv[1])
        s.sendall(b"GET /health HTTP/1.1\r\nHost: mimidns\r\nConnection: close\r\n\r\n")
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
        s.close()
        if json.loads(reply.split(b"\r\n\r\n", 1)[1]).get("memory_index_ready"):
            sys.exit(0)
    except (OSError, ValueError, IndexError):
        pass
    time.sleep(0.02)
sys.exit("the in-memory index never became ready")
PY
}
tree_pids() {  # pid and its descendants
  ps -eo pid=,ppid= | awk -v r="$1" '{p[$1]=$2} END {for (i in p) { j=i; while (j in p && j!=r && j>1) j=p[j]; if (j==r) print i } }'
}
# utime+stime in ticks, summed over the process tree; fields are counted after
# the ")" that ends the command name, which may hold spaces ("nsd: main").
proc_cpu() { local t=0 p; for p in $(tree_pids "$1"); do t=$((t + $(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{v=$12+$13} END{print v+0}'))); done; echo $t; }
rss_kib() { local t=0 p; for p in $(tree_pids "$1"); do t=$((t + $(awk '/VmRSS/{print $2}' "/proc/$p/status" 2>/dev/null || echo 0))); done; echo $t; }
cpu_busy() { awk '/^cpu[01] /{printf "%s %d %d ", $1, $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8}' /proc/stat; }

measure() {  # name port pid
  local name=$1 port=$2 pid=$3 a b c0 c1 out
  echo "=== $name"
  kdig +norec @127.0.0.1 -p "$port" "$(head -1 "$W/queries.txt" | cut -d' ' -f1)" TXT | grep -E "status" | head -1
  a=$(cpu_busy)
  taskset -c 1 dnsperf -s 127.0.0.1 -p "$port" -d "$W/queries.txt" -l "$SECS" -c 10 -q 100 -S 5 > "$R/$name-udp.txt" 2>&1 || true
  b=$(cpu_busy)
  grep -E "Queries lost|Response codes|Queries per second|Average Latency" "$R/$name-udp.txt"
  echo "$a | $b" | awk '{printf "  CPU busy: cpu0(server) %.0f%%  cpu1(dnsperf) %.0f%%\n", 100*($9-$2)/($10-$3), 100*($12-$5)/($13-$6)}'
  QPS[$name]=$(awk '/Queries per second/{printf "%.0f", $4}' "$R/$name-udp.txt")
  c0=$(proc_cpu "$pid")
  taskset -c 1 dnsperf -s 127.0.0.1 -p "$port" -d "$W/queries.txt" -l "$SECS" -Q "$RATE" -c 10 -v > "$R/$name-rate.txt" 2>&1 || true
  c1=$(proc_cpu "$pid")
  out=$(awk '/Queries completed/{print $3}' "$R/$name-rate.txt")
  CPUQ[$name]=$(awk -v d=$((c1 - c0)) -v hz="$CLK" -v q="$out" 'BEGIN{printf "%.2f", (d/hz)/(q/1e6)}')
  P99[$name]=$(grep '^>' "$R/$name-rate.txt" | awk '{print $NF*1000}' | sort -n | awk '{a[NR]=$1} END{printf "p50 %.3f ms, p99 %.3f ms", a[int(NR*0.5)], a[int(NR*0.99)]}')
  echo "  fixed rate $RATE/s: $out answered, server CPU ${CPUQ[$name]} s per million queries, latency ${P99[$name]}"
  taskset -c 1 dnsperf -m tcp -s 127.0.0.1 -p "$port" -d "$W/queries.txt" -l "$SECS" -c 10 -q 100 > "$R/$name-tcp.txt" 2>&1 || true
  TCPQPS[$name]=$(awk '/Queries per second/{printf "%.0f", $4}' "$R/$name-tcp.txt")
  echo "  TCP (10 connections, 100 outstanding, pipelined): ${TCPQPS[$name]} QPS"
  RSS[$name]=$(rss_kib "$pid")
  echo "  RSS: ${RSS[$name]} KiB"
}
stop() { kill "$1"; wait "$1" 2>/dev/null || true; }

# ---- mimidns: durable import through the admin socket, then a restart
cat > "$W/mimidns.toml" <<CONF
version = 1
[server]
listen = ["127.0.0.1:5310"]
zones-dir = "$W/zones"
data-dir = "$W/mimidns-data"
udp-workers = 1
[store]
cache-mb = 512
answer-cache-entries = ${CACHE_ENTRIES:-$((N * 5 / 2))}
[log]
level = "warn"
[rate-limit]
# Off, as NSD's rrl-ratelimit: 0 in its config: one loopback client at full
# speed would be limited. bench/limits.sh measures what the limiter costs.
responses-per-second = 0
negative-per-second = 0
CONF
rm -rf "$W/mimidns-data" "$W/mimidns-pinned"; sync
# The import twice. First with the server pinned to one core and one tokio
# worker, like the query runs, into a scratch store; then as an operator runs
# it, the server on both cores with its default threads and the CLI beside
# it, into the store the query runs use.
sed -e "s|$W/mimidns-data|$W/mimidns-pinned|" -e "s|127.0.0.1:5310|127.0.0.1:5311|" "$W/mimidns.toml" > "$W/mimidns-pinned.toml"
TOKIO_WORKER_THREADS=1 taskset -c 0 "$BIN" serve --config "$W/mimidns-pinned.toml" & PID=$!
wait_answer 5311
echo "=== mimidns import of $N identifiers (durable, batches of 5000), server pinned to CPU 0"
taskset -c 1 "$BIN" admin --socket "$W/mimidns-pinned/admin.sock" import "$W/import.ndjson" 2>&1 | tail -1 | tee "$R/mimidns-import-pinned.txt"
IMPORT_PINNED=$(grep -oE '\(([0-9]+)/s\)' "$R/mimidns-import-pinned.txt" | tr -d '()/s')
stop $PID; rm -rf "$W/mimidns-pinned"
sync  # the scratch store's writeback must not overlap the next import
"$BIN" serve --config "$W/mimidns.toml" & PID=$!
wait_answer 5310
echo "=== mimidns import of $N identifiers (durable, batches of 5000), server and CLI on both cores"
"$BIN" admin --socket "$W/mimidns-data/admin.sock" import "$W/import.ndjson" 2>&1 | tail -1 | tee "$R/mimidns-import.txt"
IMPORT=$(grep -oE '\(([0-9]+)/s\)' "$R/mimidns-import.txt" | tr -d '()/s')
VISIBLE=$("$VIS" "$W/mimidns-data/admin.sock" 127.0.0.1:5310 bench.test 1000)
echo "  $VISIBLE"
stop $PID
echo "  store on disk: $(du -sh "$W/mimidns-data" | cut -f1)"
export TOKIO_WORKER_THREADS=1
t0=$(now_ms); taskset -c 0 "$BIN" serve --config "$W/mimidns.toml" & PID=$!
wait_answer 5310; LOAD[mimidns]=$(( $(now_ms) - t0 ))
echo "  start to first answer with $N identifiers in the store: ${LOAD[mimidns]} ms"
# Throughput is measured in the steady state: once the in-memory index that
# is built in the background answers (sled answers until then).
wait_index "$W/mimidns-data/admin.sock"; INDEXED=$(( $(now_ms) - t0 ))
echo "  start to in-memory index ready: $INDEXED ms"
measure mimidns 5310 $PID
stop $PID
# The same without the answer cache: the store's own cost per query.
sed 's/^answer-cache-entries = .*/answer-cache-entries = 0/' "$W/mimidns.toml" > "$W/mimidns-nocache.toml"
taskset -c 0 "$BIN" serve --config "$W/mimidns-nocache.toml" & PID=$!
wait_answer 5310; LOAD[mimidns-nocache]=${LOAD[mimidns]}
wait_index "$W/mimidns-data/admin.sock"
measure mimidns-nocache 5310 $PID
stop $PID

# ---- NSD and Knot: the equivalent zone file
# Debian's NSD rate-limits by default (RRL): off for a loopback benchmark.
cat > "$W/nsd.conf" <<CONF
server:
    ip-address: 127.0.0.1@5301
    port: 5301
    server-count: 1
    reuseport: no
    username: ""
    chroot: ""
    database: ""
    zonesdir: "$W/full"
    zonelistfile: "$W/nsd/zone.list"
    xfrdfile: "$W/nsd/xfrd.state"
    xfrdir: "$W/nsd"
    pidfile: "$W/nsd/nsd.pid"
    logfile: "$W/nsd/nsd.log"
    verbosity: 1
    minimal-responses: yes
    rrl-ratelimit: 0
    rrl-whitelist-ratelimit: 0
remote-control:
    control-enable: no
zone:
    name: "bench.test"
    zonefile: "bench.test.zone"
CONF
t0=$(now_ms); taskset -c 0 nsd -d -c "$W/nsd.conf" > "$W/nsd/stdout.log" 2>&1 & PID=$!
wait_answer 5301; LOAD[nsd]=$(( $(now_ms) - t0 ))
echo "=== NSD start (zone file load) to first answer: ${LOAD[nsd]} ms"
measure nsd 5301 $PID
stop $PID

cat > "$W/knot.conf" <<CONF
server:
    listen: 127.0.0.1@5302
    rundir: $W/knot
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
database:
    storage: $W/knot/db
log:
  - target: stderr
    any: warning
template:
  - id: default
    storage: $W/full
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
zone:
  - domain: bench.test
    file: bench.test.zone
CONF
rm -rf "$W/knot/db"; mkdir -p "$W/knot/db"
t0=$(now_ms); taskset -c 0 knotd -c "$W/knot.conf" > "$W/knot/stdout.log" 2>&1 & PID=$!
wait_answer 5302; LOAD[knot]=$(( $(now_ms) - t0 ))
echo "=== Knot start (zone file load) to first answer: ${LOAD[knot]} ms"
measure knot 5302 $PID
stop $PID

# ---- summary
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.2f", a/b; else print "-" }'; }
echo
echo "| server | UDP QPS | TCP QPS | CPU s / 1M q at $RATE/s | latency at $RATE/s | start→first answer | RSS MiB |"
echo "|---|---|---|---|---|---|---|"
for s in mimidns mimidns-nocache nsd knot; do
  echo "| $s | ${QPS[$s]} | ${TCPQPS[$s]} | ${CPUQ[$s]} | ${P99[$s]} | ${LOAD[$s]} ms | $(( ${RSS[$s]} / 1024 )) |"
done
echo
echo "ratios: QPS mimidns/NSD $(ratio "${QPS[mimidns]}" "${QPS[nsd]}"), mimidns/Knot $(ratio "${QPS[mimidns]}" "${QPS[knot]}");" \
     "CPU per query mimidns/NSD $(ratio "${CPUQ[mimidns]}" "${CPUQ[nsd]}"), mimidns/Knot $(ratio "${CPUQ[mimidns]}" "${CPUQ[knot]}");" \
     "RSS mimidns/NSD $(ratio "${RSS[mimidns]}" "${RSS[nsd]}")"
echo "mimidns runs with answer-cache-entries = ${CACHE_ENTRIES:-$((N * 5 / 2))} (the whole query set fits); mimidns-nocache with 0."
echo "mimidns: durable import ${IMPORT:-?} identifiers/s on both cores, ${IMPORT_PINNED:-?}/s with the server pinned to one; $VISIBLE; in-memory index ready ${INDEXED} ms after start (UDP/TCP runs start after that)"
echo "N=$N, $SECS s per run, $(date -u +%Y-%m-%d), $(nproc) cores, $(uname -r); raw dnsperf output in $R"
