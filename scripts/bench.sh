#!/usr/bin/env bash
# The benchmark (issue 6): installs the peers, builds the load programs, runs bench/run.py.
#
#   scripts/bench.sh [--quick] [--rounds N] [--only w1,w3] [--clients ours-tokio,floor] [...]
#
# Every argument is passed through to bench/run.py (python3 bench/run.py --help).
# Steps, each skipped when already done:
#   1. bench/node:    npm ci (engine.io 6.6.13 server, engine.io-client 6.6.8, ws), pinned by
#                     bench/node/package-lock.json
#   2. bench/python:  venv bench/python/.venv + pip install -r requirements.txt
#                     (python-engineio 4.15.1, aiohttp)
#   3. bench/peers/rust_engineio: cargo build --release --locked (rust_engineio 0.6 from
#                     crates.io) into $BENCH_TARGET_DIR (default bench/target)
#   4. bench/peers/floor: cargo build --release --locked (the Rust floor: tokio-tungstenite,
#                     Engine.IO framing by hand) into $BENCH_TARGET_DIR
#   5. ours:          cargo build --release --example load --features smol (skipped with a
#                     warning while examples/load.rs does not exist; run.py then skips the
#                     ours-* columns)
#   6. python3 bench/run.py "$@"
# Output: the markdown table on stdout, also bench/results/latest.md; raw results in
# bench/results/latest.json; clients' stderr in bench/results/clients.log.
# Environment: PYTHON (default python3) creates the venv; CARGO_TARGET_DIR is honoured for
# our crate, BENCH_TARGET_DIR for the rust_engineio and floor peers.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="$ROOT/bench"
NODE_DIR="$BENCH/node"
PY_DIR="$BENCH/python"
VENV="$PY_DIR/.venv"
PEER_DIR="$BENCH/peers/rust_engineio"
FLOOR_DIR="$BENCH/peers/floor"
PYTHON="${PYTHON:-python3}"
export BENCH_TARGET_DIR="${BENCH_TARGET_DIR:-$BENCH/target}"

say() { echo "bench.sh: $*" >&2; }
die() { echo "bench.sh: ERROR: $*" >&2; exit 1; }
hash_of() { sha256sum "$1" | cut -d' ' -f1; }

case " $* " in
  *" -h "*|*" --help "*) sed -n '2,23p' "$0"; echo; exec "$PYTHON" "$BENCH/run.py" --help ;;
esac

# Which clients will run (--clients a,b or --clients=a,b); default: all of them.
clients="ours-tokio-ct,ours-tokio,ours-smol,ours-blocking,floor,rust_engineio,node,python,bare"
prev=""
for arg in "$@"; do
  case "$arg" in
    --clients=*) clients="${arg#--clients=}" ;;
    *) [ "$prev" = "--clients" ] && clients="$arg" ;;
  esac
  prev="$arg"
done
wants() { case ",$clients," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found (the runner and the python peer need it)"
command -v node >/dev/null 2>&1 || die "node not found (the server is node engine.io; apt-get install nodejs npm)"
command -v npm >/dev/null 2>&1 || die "npm not found (apt-get install npm)"

# ---------------------------------------------------------------- 1. node
[ -f "$NODE_DIR/package-lock.json" ] || die "$NODE_DIR/package-lock.json missing"
stamp="$NODE_DIR/node_modules/.bench.stamp"
want="lock=$(hash_of "$NODE_DIR/package-lock.json") node=$(node --version)"
if [ "$(cat "$stamp" 2>/dev/null || true)" = "$want" ]; then
  say "node: bench/node/node_modules up to date (npm ci skipped)"
else
  say "node: npm ci in bench/node ($(node --version), npm $(npm --version))"
  (cd "$NODE_DIR" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error) \
    || die "npm ci in bench/node failed"
  echo "$want" > "$stamp"
fi

# -------------------------------------------------------------- 2. python
if wants python; then
  req="$PY_DIR/requirements.txt"
  [ -f "$req" ] || die "$req missing"
  if [ -e "$VENV" ] && ! "$VENV/bin/python" -c '' >/dev/null 2>&1; then
    say "python: bench/python/.venv is broken, recreating it"
    rm -rf "$VENV"
  fi
  stamp="$VENV/.bench.stamp"
  want="req=$(hash_of "$req")"
  if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null || true)" = "$want" ]; then
    say "python: bench/python/.venv up to date (pip skipped)"
  else
    if [ ! -x "$VENV/bin/python" ]; then
      say "python: creating bench/python/.venv with $PYTHON ($("$PYTHON" --version 2>&1))"
      "$PYTHON" -m venv "$VENV" || die "'$PYTHON -m venv' failed (on Debian: apt-get install python3-venv)"
    fi
    say "python: pip install -r bench/python/requirements.txt"
    "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input -q -r "$req" \
      || die "pip install -r bench/python/requirements.txt failed"
    echo "$want" > "$stamp"
  fi
fi

# ------------------------------------------------------- 3. rust_engineio
if wants rust_engineio; then
  command -v cargo >/dev/null 2>&1 || die "cargo not found"
  # rust_engineio 0.6 depends on native-tls, i.e. OpenSSL's headers and pkg-config.
  if ! pkg-config --exists openssl 2>/dev/null; then
    die "OpenSSL development files not found (rust_engineio needs native-tls): apt-get install libssl-dev pkg-config"
  fi
  say "rust_engineio: cargo build --release --locked in bench/peers/rust_engineio (target: ${BENCH_TARGET_DIR#"$ROOT"/})"
  (cd "$PEER_DIR" && CARGO_TARGET_DIR="$BENCH_TARGET_DIR" cargo build --release --locked --quiet) \
    || die "building the rust_engineio peer failed"
fi

# ---------------------------------------------------------------- 4. floor
if wants floor; then
  command -v cargo >/dev/null 2>&1 || die "cargo not found"
  say "floor: cargo build --release --locked in bench/peers/floor (target: ${BENCH_TARGET_DIR#"$ROOT"/})"
  (cd "$FLOOR_DIR" && CARGO_TARGET_DIR="$BENCH_TARGET_DIR" cargo build --release --locked --quiet) \
    || die "building the floor peer failed"
fi

# ------------------------------------------------------------------ 5. ours
if wants ours-tokio-ct || wants ours-tokio || wants ours-smol || wants ours-blocking; then
  if [ -f "$ROOT/examples/load.rs" ]; then
    say "ours: cargo build --release --example load --features smol"
    (cd "$ROOT" && cargo build --release --example load --features smol --quiet) \
      || die "building our load program (examples/load.rs) failed"
  else
    say "ours: WARNING: examples/load.rs does not exist yet; the ours-* columns will be skipped"
  fi
fi

# ------------------------------------------------------------------- 6. run
exec "$PYTHON" "$BENCH/run.py" "$@"
