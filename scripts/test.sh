#!/usr/bin/env bash
# The project's test command: formatting, lints, docs, the feature combinations the README
# promises, and every test. Run from anywhere: ./scripts/test.sh
# Each step's time is printed at the end (also when a step fails).
set -euo pipefail
cd "$(dirname "$0")/.."

times=()
current=""
started=0
total_start=$(date +%s)

finish_step() {
  if [ -n "$current" ]; then
    times+=("$(printf '%5d s  %s' $(($(date +%s) - started)) "$current")")
  fi
  current=""
}

report() {
  local status=$?
  finish_step
  echo
  echo "== step times"
  printf '%s\n' "${times[@]}"
  printf '%5d s  total\n' $(($(date +%s) - total_start))
  exit "$status"
}
trap report EXIT

step() {
  finish_step
  current="$*"
  started=$(date +%s)
  printf '\n== %s\n' "$*"
}

step "test servers (node engine.io, python-engineio) and proxies (tinyproxy, microsocks) from the package registries"
./scripts/test-servers-setup.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, all features, warnings denied)"
cargo clippy --all-targets --all-features -- -D warnings

step "cargo check of the library with each runtime feature alone, no default features (warnings denied)"
# The tests build with every feature on; these are the combinations users pick (README,
# "Use it"), each of which must build on its own, without warnings. (Not RUSTFLAGS: it
# would rebuild every dependency; clippy's check builds of them are reused.)
for features in "" "smol,rustls,blocking" "async-std,rustls,blocking" "tokio"; do
  echo "-- features: ${features:-(none)}"
  out=$(cargo check --quiet --lib --no-default-features ${features:+--features "$features"} 2>&1) || { echo "$out"; exit 1; }
  if grep -q '^warning' <<<"$out"; then echo "$out"; exit 1; fi
done

step "cargo doc (warnings denied)"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --all-features

step "cargo test (all features)"
cargo test --all-features

step "cargo run --example quickstart (the README's main job), output checked"
# The test build above already built the example: run that build.
out=$(cargo run --quiet --all-features --example quickstart 2>&1) || { echo "$out"; exit 1; }
echo "$out"
for want in "connected" "upgraded:  websocket" 'received:  text "héllo' "received:  binary [de, ad, be, ef]" \
            'received:  JSON {"foo":"bar"' "disconnected: client disconnect"; do
  grep -qF -- "$want" <<<"$out" || { echo "quickstart output lacks: $want"; exit 1; }
done
