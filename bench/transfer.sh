#!/usr/bin/env bash
# mimidns as a primary: AXFR to Knot and NSD, next to Knot -> Knot for the
# same zone, admin write -> visible on a Knot secondary (NOTIFY + IXFR), and
# the primary's UDP rate while full transfers run.
#
#   bench/transfer.sh [N=1000000] [SECONDS=10]
#
# Data from bench/gen.py (N identifiers, 1-2 mappings each). mimidns is
# pinned to CPU 0 (one UDP worker, one tokio worker); secondaries, dnsperf
# and the AXFR clients run on CPU 1. As root it re-runs itself inside
# `unshare -n`. A benchmark, not a test.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
N=${1:-1000000}; SECS=${2:-10}
W=${BENCH_DIR:-/tmp/mimidns-bench}/$N
source "$HERE/netns.sh"
BENCH_EXAMPLES=write_visibility bench_enter "$W" "$N" "$@"
BIN=$ROOT/target/release/mimidns
VIS=$ROOT/target/release/examples/write_visibility
T=$W/transfer; rm -rf "$T"; mkdir -p "$T/knot/db" "$T/nsd" "$T/kk-primary/db" "$T/kk-secondary/db" "$T/results"
now_ms() { date +%s%3N; }
serial_of() { { kdig +short +time=1 +retry=0 @127.0.0.1 -p "$1" bench.test SOA 2>/dev/null || true; } | awk '{print $3}'; }
wait_serial() {  # port serial -> ms waited
  local t0; t0=$(now_ms)
  for _ in $(seq 1 60000); do
    [ "$(serial_of "$1")" = "$2" ] && { echo $(( $(now_ms) - t0 )); return 0; }
    sleep 0.01
  done
  echo "port $1 never reached serial $2" >&2; return 1
}
cat > "$T/mimidns.toml" <<CONF
version = 1
[server]
listen = ["127.0.0.1:5330"]
zones-dir = "$W/zones"
data-dir = "$T/data"
udp-workers = 1
[log]
level = "warn"
[rate-limit]
responses-per-second = 0
negative-per-second = 0
[[transfer.zone]]
origin = "bench.test"
allow-transfer = ["127.0.0.1"]
notify = ["127.0.0.1:5341"]
CONF
TOKIO_WORKER_THREADS=1 taskset -c 0 "$BIN" serve --config "$T/mimidns.toml" & MPID=$!
for _ in $(seq 1 500); do [ -n "$(serial_of 5330)" ] && break; sleep 0.02; done
echo "=== import of $N identifiers into the mimidns primary"
taskset -c 1 "$BIN" admin --socket "$T/data/admin.sock" import "$W/import.ndjson" 2>&1 | tail -1 || true
SERIAL=$(serial_of 5330)
echo "primary at serial $SERIAL"

if [ -z "${ONLY_QPS:-}" ]; then  # ONLY_QPS=1: just the last measurement
knot_conf() {  # dir port primary-port|"" zonefile|""
  {
    printf 'server:\n    listen: 127.0.0.1@%s\n    rundir: %s\n    udp-workers: 1\n    tcp-workers: 1\n    background-workers: 1\n' "$2" "$1"
    printf 'database:\n    storage: %s/db\nlog:\n  - target: stderr\n    any: info\n' "$1"
    if [ -n "$3" ]; then
      printf 'remote:\n  - id: primary\n    address: 127.0.0.1@%s\nacl:\n  - id: notify\n    address: 127.0.0.1\n    action: notify\n' "$3"
    else
      printf 'acl:\n  - id: xfr\n    address: 127.0.0.1\n    action: transfer\n'
    fi
    printf 'template:\n  - id: default\n    storage: %s\n    zonefile-sync: -1\n    journal-content: changes\n' "$1"
    if [ -n "$3" ]; then
      printf 'zone:\n  - domain: bench.test.\n    master: primary\n    acl: notify\n'
    else
      printf '    zonefile-load: whole\nzone:\n  - domain: bench.test.\n    file: %s\n    acl: xfr\n' "$4"
    fi
  } > "$1/knot.conf"
}
axfr_line() { grep -E "AXFR, incoming.*finished" "$1" | tail -1 | sed 's/.*finished, //'; }

echo "=== Knot 3.2 secondary of mimidns (AXFR of $N identifiers)"
knot_conf "$T/knot" 5341 5330
t0=$(now_ms); taskset -c 1 knotd -c "$T/knot/knot.conf" 2> "$T/knot/log" & KPID=$!
wait_serial 5341 "$SERIAL" > /dev/null
KNOT_MS=$(( $(now_ms) - t0 ))
echo "  serving serial $SERIAL ${KNOT_MS} ms after start; Knot: $(axfr_line "$T/knot/log")"

echo "=== NSD 4.6 secondary of mimidns"
cat > "$T/nsd/nsd.conf" <<CONF
server:
    ip-address: 127.0.0.1@5342
    port: 5342
    server-count: 1
    username: ""
    chroot: ""
    database: ""
    zonesdir: "$T/nsd"
    zonelistfile: "$T/nsd/zone.list"
    xfrdfile: "$T/nsd/xfrd.state"
    xfrdir: "$T/nsd"
    pidfile: "$T/nsd/nsd.pid"
    verbosity: 2
    rrl-ratelimit: 0
remote-control:
    control-enable: no
zone:
    name: bench.test
    zonefile: bench.test.zone
    request-xfr: 127.0.0.1@5330 NOKEY
    allow-notify: 127.0.0.1 NOKEY
CONF
t0=$(now_ms); taskset -c 1 nsd -d -c "$T/nsd/nsd.conf" 2> "$T/nsd/log" & NPID=$!
wait_serial 5342 "$SERIAL" > /dev/null
NSD_MS=$(( $(now_ms) - t0 ))
echo "  serving serial $SERIAL ${NSD_MS} ms after start"
kill $NPID; wait $NPID 2>/dev/null || true

echo "=== Knot -> Knot, the same zone (Knot primary loads the zone file)"
knot_conf "$T/kk-primary" 5343 "" "$W/full/bench.test.zone"
taskset -c 0 knotd -c "$T/kk-primary/knot.conf" 2> "$T/kk-primary/log" & PPID2=$!
KSERIAL=""; for _ in $(seq 1 30000); do KSERIAL=$(serial_of 5343); [ -n "$KSERIAL" ] && break; sleep 0.02; done
knot_conf "$T/kk-secondary" 5344 5343
t0=$(now_ms); taskset -c 1 knotd -c "$T/kk-secondary/knot.conf" 2> "$T/kk-secondary/log" & SPID=$!
wait_serial 5344 "$KSERIAL" > /dev/null
KK_MS=$(( $(now_ms) - t0 ))
echo "  serving serial $KSERIAL ${KK_MS} ms after start; Knot: $(axfr_line "$T/kk-secondary/log")"
kill $SPID $PPID2; wait $SPID $PPID2 2>/dev/null || true

echo "=== admin write -> visible on the Knot secondary (NOTIFY, IXFR), ${WRITES:-100} writes"
VISIBLE=$(taskset -c 1 "$VIS" "$T/data/admin.sock" 127.0.0.1:5341 bench.test "${WRITES:-100}")
echo "  $VISIBLE"
grep -c "IXFR, incoming.*finished" "$T/knot/log" | sed 's/^/  IXFR transfers Knot finished: /'
kill $KPID; wait $KPID 2>/dev/null || true

fi
echo "=== primary UDP QPS idle, then while full transfers run back to back"
taskset -c 1 dnsperf -s 127.0.0.1 -p 5330 -d "$W/queries.txt" -l "$SECS" -c 10 -q 100 -S 5 > "$T/results/idle.txt" 2>&1 || true
IDLE=$(awk '/Queries per second/{printf "%.0f", $4}' "$T/results/idle.txt")
( end=$(( $(date +%s) + SECS + 2 )); n=0
  while [ "$(date +%s)" -lt "$end" ]; do
    # The client at the lowest priority: dnsperf shares its core.
    nice -n 19 taskset -c 1 kdig +noall @127.0.0.1 -p 5330 bench.test AXFR > /dev/null 2>&1 || true; n=$((n + 1))
  done; echo "$n" > "$T/results/axfr-count" ) &
XPID=$!
sleep 1
taskset -c 1 dnsperf -s 127.0.0.1 -p 5330 -d "$W/queries.txt" -l "$SECS" -c 10 -q 100 -S 5 > "$T/results/busy.txt" 2>&1 || true
BUSY=$(awk '/Queries per second/{printf "%.0f", $4}' "$T/results/busy.txt")
wait $XPID
echo "  idle $IDLE QPS; during transfers $BUSY QPS ($(cat "$T/results/axfr-count") AXFRs); ratio $(awk -v a="$BUSY" -v b="$IDLE" 'BEGIN{printf "%.2f", a/b}')"
kill $MPID; wait $MPID 2>/dev/null || true
[ -n "${ONLY_QPS:-}" ] || echo "summary: AXFR of $N identifiers: mimidns->Knot ${KNOT_MS} ms, mimidns->NSD ${NSD_MS} ms, Knot->Knot ${KK_MS} ms (start to serving, incl. the secondary's own load)"
