# Sourced by the bench scripts (after HERE and ROOT are set). Outside the
# private network namespace, bench_enter builds the release binaries (plus
# the examples named in BENCH_EXAMPLES), generates N identifiers into the
# work dir with gen.py unless already there, and re-runs the calling script
# inside `unshare -n`, so nothing it starts can reach beyond the machine.
# Inside, it brings loopback up and returns.
bench_enter() {  # work dir, N, then the calling script's own arguments
  local work=$1 names=$2 example; shift 2
  if [ -z "${MIMIDNS_BENCH_NETNS:-}" ]; then
    local examples=()
    for example in ${BENCH_EXAMPLES:-}; do examples+=(--example "$example"); done
    cargo build --release --manifest-path "$ROOT/Cargo.toml" --bin mimidns "${examples[@]}"
    [ -s "$work/queries.txt" ] || python3 "$HERE/gen.py" "$work" "$names"
    exec unshare -n env MIMIDNS_BENCH_NETNS=1 bash "$0" "$@"
  fi
  ip link set lo up
}
