#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60), starting from the
# seed corpus in corpus/<target>/ (read only; new inputs go to a temporary
# directory). Needs a nightly toolchain (cargo fuzz uses libFuzzer and
# AddressSanitizer); without one it says so and exits 0.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-60}
if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz: no nightly toolchain on this machine; fuzzing skipped"
  exit 0
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
targets=(request zone_file identifier admin_json mapping)
cargo +nightly fuzz build
for target in "${targets[@]}"; do
  work=$(mktemp -d)
  log="$work.log"
  echo "fuzz: $target for ${seconds}s"
  status=0
  cargo +nightly fuzz run "$target" "$work" "corpus/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=4096 -print_final_stats=1 >"$log" 2>&1 || status=$?
  grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|SUMMARY|Done )' "$log" || true
  if [ "$status" -ne 0 ]; then
    tail -n 40 "$log"
    echo "fuzz: $target FAILED (the crashing input is in fuzz/artifacts/$target/)"
    exit 1
  fi
  rm -rf "$work" "$log"
done
echo "fuzz: all targets ran clean"
