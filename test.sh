#!/usr/bin/env bash
# The test command for mimidns: builds everything, then runs the whole test
# suite. As root it runs inside a private network and mount namespace
# (unshare -n -m), so the interop tests can use port 53 on 127.0.0.0/8, no
# daemon they start can send anything off the machine, and the disk-full
# test can mount a small tmpfs that the host never sees.
set -euo pipefail
cd "$(dirname "$0")"
cargo build --all-targets --locked
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null 2>&1 && command -v ip >/dev/null 2>&1; then
  exec unshare -n -m -- bash -c 'ip link set lo up && MIMIDNS_NETNS=1 MIMIDNS_MOUNTNS=1 cargo test --offline --locked -- "$@"' test.sh "$@"
else
  echo "test.sh: not root (or no unshare/ip): the interop tests that need a private network namespace are skipped" >&2
  MIMIDNS_SKIP_NETNS=1 cargo test --locked -- "$@"
fi
