#!/usr/bin/env bash
# The project's test command: formatting, lints, docs, and every test.
# Run from anywhere: ./scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "test servers (node engine.io, python-engineio) from the package registries"
./scripts/test-servers-setup.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, all features, warnings denied)"
cargo clippy --all-targets --all-features -- -D warnings

step "cargo doc (warnings denied)"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --all-features

step "cargo test (all features)"
cargo test --all-features

step "fuzz targets, 5 s each (scripts/fuzz.sh 600 is the long run)"
./scripts/fuzz.sh 5

step "cargo run --example quickstart (the README's main job), output checked"
out=$(cargo run --quiet --example quickstart 2>&1) || { echo "$out"; exit 1; }
echo "$out"
for want in "connected" "upgraded:  websocket" 'received:  text "héllo' "received:  binary [de, ad, be, ef]" \
            'received:  JSON {"foo":"bar"' "disconnected: client disconnect"; do
  grep -qF -- "$want" <<<"$out" || { echo "quickstart output lacks: $want"; exit 1; }
done
