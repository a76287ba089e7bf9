#!/usr/bin/env bash
# Install the real Engine.IO servers used by the interop tests, and the real proxies:
#   tests/servers/node    engine.io (npm, pinned by package-lock.json) via `npm ci`
#   tests/servers/python  python-engineio + aiohttp + uvicorn (PyPI, pinned by
#                         requirements.txt) into tests/servers/python/.venv
#   tinyproxy, microsocks the HTTP and SOCKS5 proxies of tests/proxies.rs, from Debian's
#                         packages (apt-get; needs root), when not on the PATH already
#
# Idempotent and fast when everything is already installed: each side keeps a
# stamp (hash of its lock/requirements file + interpreter version) and is only
# (re)installed when the stamp does not match.
#
# Usage: scripts/test-servers-setup.sh [--force] [--node-only|--python-only]
#   --force         reinstall even if the stamps match
#   --node-only     only the node server
#   --python-only   only the python server
# The proxies are installed unless --node-only or --python-only is given.
# Environment: PYTHON (default python3) is used to create the venv.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SERVERS="$ROOT/tests/servers"
NODE_DIR="$SERVERS/node"
PY_DIR="$SERVERS/python"
VENV="$PY_DIR/.venv"
PYTHON="${PYTHON:-python3}"

force=0
do_node=1
do_python=1
do_proxies=1
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    --node-only) do_python=0; do_proxies=0 ;;
    --python-only) do_node=0; do_proxies=0 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "test-servers-setup: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

say() { echo "test-servers-setup: $*"; }
die() { echo "test-servers-setup: ERROR: $*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }
hash_of() { sha256sum "$1" | cut -d' ' -f1; }

# Serialise concurrent runs (e.g. several test binaries calling this at once).
if command -v flock >/dev/null 2>&1; then
  exec 9>"$SERVERS/.setup.lock"
  flock 9
fi

start_all=$(now)

# ---------------------------------------------------------------- node
if [ "$do_node" = 1 ]; then
  command -v node >/dev/null 2>&1 || die "node not found (apt-get install nodejs npm)"
  command -v npm >/dev/null 2>&1 || die "npm not found (apt-get install npm)"
  [ -f "$NODE_DIR/package-lock.json" ] || die "$NODE_DIR/package-lock.json missing"
  stamp_file="$NODE_DIR/node_modules/.test-servers-setup.stamp"
  want="lock=$(hash_of "$NODE_DIR/package-lock.json") node=$(node --version)"
  have="$(cat "$stamp_file" 2>/dev/null || true)"
  if [ "$force" = 0 ] && [ "$have" = "$want" ] && [ -f "$NODE_DIR/node_modules/engine.io/package.json" ] \
     && [ -f "$NODE_DIR/node_modules/engine.io-v3/package.json" ]; then
    say "node: engine.io already installed in tests/servers/node/node_modules (npm ci skipped)"
  else
    t=$(now)
    say "node: running npm ci in tests/servers/node ($(node --version), npm $(npm --version))"
    (cd "$NODE_DIR" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
    echo "$want" > "$stamp_file"
    version=$(node -p "require('$NODE_DIR/node_modules/engine.io/package.json').version")
    say "node: installed engine.io $version in $(since "$t")"
  fi
fi

# -------------------------------------------------------------- python
if [ "$do_python" = 1 ]; then
  req="$PY_DIR/requirements.txt"
  [ -f "$req" ] || die "$req missing"
  stamp_file="$VENV/.test-servers-setup.stamp"
  # A venv whose base interpreter vanished (e.g. a pyenv version change) is
  # useless: recreate it.
  if [ -e "$VENV" ] && ! "$VENV/bin/python" -c '' >/dev/null 2>&1; then
    say "python: existing venv is broken, recreating it"
    rm -rf "$VENV"
  fi
  if [ "$force" = 0 ] && [ -x "$VENV/bin/python" ]; then
    want="req=$(hash_of "$req") $("$VENV/bin/python" --version 2>&1)"
    have="$(cat "$stamp_file" 2>/dev/null || true)"
  else
    want="x"; have="y"
  fi
  if [ "$have" = "$want" ]; then
    say "python: requirements already installed in tests/servers/python/.venv (pip skipped)"
  else
    t=$(now)
    if [ ! -x "$VENV/bin/python" ]; then
      command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found"
      say "python: creating venv tests/servers/python/.venv with $PYTHON ($("$PYTHON" --version 2>&1))"
      "$PYTHON" -m venv "$VENV" \
        || die "'$PYTHON -m venv' failed (on Debian: apt-get install python3-venv)"
    fi
    say "python: pip install -r tests/servers/python/requirements.txt"
    "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input -q -r "$req"
    echo "req=$(hash_of "$req") $("$VENV/bin/python" --version 2>&1)" > "$stamp_file"
    version=$("$VENV/bin/python" -c 'from importlib.metadata import version as v; print(v("python-engineio"), v("aiohttp"), v("uvicorn"))')
    say "python: installed python-engineio/aiohttp/uvicorn $version in $(since "$t")"
  fi
fi

# ------------------------------------------------------------- proxies
if [ "$do_proxies" = 1 ]; then
  if command -v tinyproxy >/dev/null 2>&1 && command -v microsocks >/dev/null 2>&1; then
    say "proxies: tinyproxy and microsocks already installed"
  else
    t=$(now)
    command -v apt-get >/dev/null 2>&1 || die "tinyproxy and microsocks are needed (Debian: apt-get install tinyproxy microsocks)"
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    say "proxies: apt-get install tinyproxy microsocks"
    # The package lists may be missing or stale on a fresh machine: update and retry.
    if ! $sudo apt-get install -y -qq --no-install-recommends tinyproxy microsocks >/dev/null 2>&1; then
      $sudo apt-get update -qq
      $sudo apt-get install -y -qq --no-install-recommends tinyproxy microsocks >/dev/null
    fi
    # The package may start a system-wide tinyproxy; the tests start their own.
    if command -v service >/dev/null 2>&1; then
      $sudo service tinyproxy stop >/dev/null 2>&1 || true
    fi
    say "proxies: installed in $(since "$t")"
  fi
fi

say "done in $(since "$start_all")"
