#!/usr/bin/env bash
# Runs every test binary of the suite many times in a row on a loaded machine, to find
# tests that pass only when the machine is quiet.
#
#   scripts/stress.sh [RUNS] [TEST...]
#
# RUNS defaults to 20. TESTs are test binary names (`faults`, `interop`, `engineio` for
# the unit tests, ...); all of them by default. Two busy loops run beside the tests the
# whole time (CI's machine has 2 cores and is shared), and are stopped at the end.
# Prints one line per binary with its passes and failures, keeps the output of every
# failed run in target/stress/, and exits non-zero if any run failed.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${1:-20}
shift || true

./scripts/test-servers-setup.sh >/dev/null

echo "== building the tests (all features)"
mapfile -t binaries < <(
  cargo test --all-features --no-run --message-format=json 2>/dev/null |
    sed -n 's/.*"target":{[^}]*"kind":\["\(lib\|test\)"\][^}]*"name":"\([^"]*\)".*"executable":"\([^"]*\)".*/\2 \3/p'
)
[ ${#binaries[@]} -gt 0 ] || { echo "no test binaries found" >&2; exit 1; }

busy=()
cleanup() { [ ${#busy[@]} -gt 0 ] && kill "${busy[@]}" 2>/dev/null || true; }
trap cleanup EXIT
for _ in 1 2; do
  sh -c 'while :; do :; done' &
  busy+=($!)
done

out=target/stress
mkdir -p "$out"
failed=0
for entry in "${binaries[@]}"; do
  name=${entry%% *}
  exe=${entry#* }
  if [ $# -gt 0 ] && ! printf '%s\n' "$@" | grep -qx "$name"; then
    continue
  fi
  pass=0 fail=0
  start=$(date +%s)
  for i in $(seq 1 "$runs"); do
    if "$exe" -q >"$out/$name.$i.log" 2>&1; then
      pass=$((pass + 1))
      rm -f "$out/$name.$i.log"
    else
      fail=$((fail + 1))
    fi
  done
  printf '%-18s %3d passed, %d failed  (%d runs in %d s)\n' "$name" "$pass" "$fail" "$runs" $(($(date +%s) - start))
  [ "$fail" -eq 0 ] || { failed=1; ls "$out"/"$name".*.log; }
done
exit "$failed"
