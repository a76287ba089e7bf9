#!/usr/bin/env bash
# Install the real Engine.IO servers used by the interop tests, and the real proxies:
#   tests/servers/node    engine.io (npm, pinned by package-lock.json) via `npm ci`
#   tests/servers/python  python-engineio + aiohttp + uvicorn (PyPI, pinned by
#                         requirements.txt) into tests/servers/python/.venv
#   tests/servers/python-v3  python-engineio 3 + aiohttp (protocol v3; PyPI, pinned by
#                         requirements.txt) into tests/servers/python-v3/.venv
#                         (the node v3 server, engine.io 3, comes with `npm ci` above)
#   tinyproxy, microsocks the HTTP and SOCKS5 proxies of tests/proxies.rs, from Debian's
#                         packages (apt-get; needs root), when not on the PATH already
#
# Idempotent and fast when everything is already installed: each side keeps a
# stamp (hash of its lock/requirements file + interpreter version) and is only
# (re)installed when the stamp does not match.
#
# Usage: scripts/test-servers-setup.sh [--force] [--node-only|--python-only|--python-v3-only]
#   --force            reinstall even if the stamps match
#   --node-only        only the node servers (engine.io 6 and 3)
#   --python-only      only the python server (python-engineio 4)
#   --python-v3-only   only the python v3 server (python-engineio 3)
# The proxies are installed unless one of the --*-only flags is given.
# Environment: PYTHON (default python3) is used to create the venvs.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SERVERS="$ROOT/tests/servers"
NODE_DIR="$SERVERS/node"
PY_DIR="$SERVERS/python"
PY3_DIR="$SERVERS/python-v3"
PYTHON="${PYTHON:-python3}"

force=0
do_node=1
do_python=1
do_python_v3=1
do_proxies=1
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    --node-only) do_python=0; do_python_v3=0; do_proxies=0 ;;
    --python-only) do_node=0; do_python_v3=0; do_proxies=0 ;;
    --python-v3-only) do_node=0; do_python=0; do_proxies=0 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
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
# install_venv <label> <dir> <package>...: a venv in <dir>/.venv with <dir>/requirements.txt;
# the packages are only named in the report line.
install_venv() {
  local label="$1" dir="$2"
  shift 2
  local req="$dir/requirements.txt" venv="$dir/.venv" rel="${dir#"$ROOT"/}"
  [ -f "$req" ] || die "$req missing"
  local stamp_file="$venv/.test-servers-setup.stamp" want have t version
  # A venv whose base interpreter vanished (e.g. a pyenv version change) is
  # useless: recreate it.
  if [ -e "$venv" ] && ! "$venv/bin/python" -c '' >/dev/null 2>&1; then
    say "$label: existing venv is broken, recreating it"
    rm -rf "$venv"
  fi
  if [ "$force" = 0 ] && [ -x "$venv/bin/python" ]; then
    want="req=$(hash_of "$req") $("$venv/bin/python" --version 2>&1)"
    have="$(cat "$stamp_file" 2>/dev/null || true)"
  else
    want="x"; have="y"
  fi
  if [ "$have" = "$want" ]; then
    say "$label: requirements already installed in $rel/.venv (pip skipped)"
  else
    t=$(now)
    if [ ! -x "$venv/bin/python" ]; then
      command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found"
      say "$label: creating venv $rel/.venv with $PYTHON ($("$PYTHON" --version 2>&1))"
      "$PYTHON" -m venv "$venv" \
        || die "'$PYTHON -m venv' failed (on Debian: apt-get install python3-venv)"
    fi
    say "$label: pip install -r $rel/requirements.txt"
    "$venv/bin/python" -m pip install --disable-pip-version-check --no-input -q -r "$req"
    echo "req=$(hash_of "$req") $("$venv/bin/python" --version 2>&1)" > "$stamp_file"
    version=$("$venv/bin/python" -c 'import sys; from importlib.metadata import version as v; print(" ".join(v(p) for p in sys.argv[1:]))' "$@")
    say "$label: installed $(IFS=/; echo "$*") $version in $(since "$t")"
  fi
}

if [ "$do_python" = 1 ]; then
  install_venv python "$PY_DIR" python-engineio aiohttp uvicorn
fi

# ----------------------------------------------------------- python-v3
if [ "$do_python_v3" = 1 ]; then
  install_venv python-v3 "$PY3_DIR" python-engineio aiohttp
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
