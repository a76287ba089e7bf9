#!/usr/bin/env bash
# Fuzz every target in fuzz/ (cargo-fuzz, libFuzzer) for a while, one target at a time.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
# SECONDS_PER_TARGET defaults to 600 (the project's bar: 10 minutes per target). The test
# command does not run libFuzzer: it replays every target on fixed inputs
# (tests/fuzz_targets.rs). TARGETs default to all of them (`cargo fuzz list`). Environment:
#   FUZZ_SANITIZER  none (default) or address: passed to `cargo fuzz -s`.
#   FUZZ_NICE       nice level for the fuzzers (default 0).
#
# Only the stable toolchain is needed: cargo-fuzz asks rustc for nightly-only flags
# (-Zsanitizer, sanitizer-coverage passes), which RUSTC_BOOTSTRAP=1 unlocks on stable.
# Corpora grow in fuzz/corpus/<target> and crashes land in fuzz/artifacts/<target>
# (both git-ignored). Exits non-zero if any target found a crash.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

secs=${1:-600}
shift || true
sanitizer=${FUZZ_SANITIZER:-none}
niceness=${FUZZ_NICE:-0}
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi

echo "== cargo fuzz build -s $sanitizer (release, debug assertions on)"
start=$(date +%s)
cargo fuzz build -s "$sanitizer"
echo "build: $(($(date +%s) - start)) s"

max_len() {
  case "$1" in
    session) echo 16384 ;;  # a whole sequence of inputs
    *) echo 4096 ;;
  esac
}

logs="$root/fuzz/artifacts/logs"
mkdir -p "$logs"
failed=()
summary=()
for t in "${targets[@]}"; do
  echo
  echo "== $t: ${secs} s"
  mkdir -p "fuzz/corpus/$t"
  log="$logs/$t.log"
  status=0
  nice -n "$niceness" cargo fuzz run -s "$sanitizer" "$t" "fuzz/corpus/$t" -- \
    -max_total_time="$secs" \
    -max_len="$(max_len "$t")" \
    -rss_limit_mb=2048 \
    -timeout=10 \
    -dict="$root/fuzz/engineio.dict" \
    -print_final_stats=1 \
    >"$log" 2>&1 || status=$?
  # libFuzzer's final line and stats and, on a crash, its report.
  grep -E '^Done [0-9]+ runs' "$log" || true
  grep -E '^stat::' "$log" || true
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  corpus=$(find "fuzz/corpus/$t" -type f | wc -l)
  if [ "$status" -ne 0 ]; then
    failed+=("$t")
    echo "!! $t FAILED (exit $status); full log: $log"
    grep -E -A 30 'panicked at|ERROR: libFuzzer|SUMMARY' "$log" | head -n 60 || true
    ls "fuzz/artifacts/$t" 2>/dev/null || true
  fi
  summary+=("$(printf '%-12s execs=%-12s exec/s=%-8s corpus=%-6s %s' "$t" "${execs:-?}" "${rate:-?}" "$corpus" \
    "$([ "$status" -eq 0 ] && echo ok || echo CRASH)")")
done

echo
echo "== summary (${secs} s per target, sanitizer: $sanitizer)"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "crashes in: ${failed[*]} (inputs in fuzz/artifacts/<target>/)"
  exit 1
fi
