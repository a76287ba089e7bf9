#!/usr/bin/env python3
"""Benchmark runner (issue 6): every client, every workload, against one node engine.io server.

Usually started through scripts/bench.sh, which installs the peers and builds the programs
first. Python 3 standard library only. The contract the client programs follow, the
workloads and how to read the table: bench/README.md.

    python3 bench/run.py [--rounds N] [--only w1,w3] [--clients ours-tokio,floor] [--quick]

For each workload, the clients run ROUNDS times, alternating (round 1: every client once,
in order, then round 2, ...), each as its own process with a timeout. The table shows the
median over the rounds that succeeded. Raw results: bench/results/latest.json; the table:
bench/results/latest.md (both overwritten on every run).
"""

import argparse
import datetime
import json
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
RESULTS = os.path.join(BENCH, "results")
NODE_DIR = os.path.join(BENCH, "node")
VENV_PY = os.path.join(BENCH, "python", ".venv", "bin", "python")

# ------------------------------------------------------------------------------ workloads

# name -> contract workload, parameters for full and quick runs, subprocess timeout in s (a
# backstop: the programs themselves give up after 60 s without progress).
WORKLOADS = {
    "w1": {"wl": "w1", "full": {"count": 50000, "inflight": 256, "size": 32},
           "quick": {"count": 5000, "inflight": 256, "size": 32}, "timeout": 300},
    # W1 with binary messages (the same `size` bytes, sent as binary frames).
    "w1b": {"wl": "w1b", "full": {"count": 50000, "inflight": 256, "size": 32},
            "quick": {"count": 5000, "inflight": 256, "size": 32}, "timeout": 300},
    "w2": {"wl": "w2", "full": {"count": 5000, "size": 32},
           "quick": {"count": 500, "size": 32}, "timeout": 180},
    "w3": {"wl": "w3", "full": {"count": 10000, "inflight": 256, "size": 32},
           "quick": {"count": 2000, "inflight": 256, "size": 32}, "timeout": 180},
    # Our client only: W3 with `max_packets_per_post(256)`, the option for servers that,
    # unlike python-engineio, take more than 16 packets in a POST (node's does).
    "w3-256": {"wl": "w3", "full": {"count": 10000, "inflight": 256, "size": 32,
                                    "max-packets-per-post": 256},
               "quick": {"count": 2000, "inflight": 256, "size": 32,
                         "max-packets-per-post": 256}, "timeout": 180},
    "w4": {"wl": "w4", "full": {"count": 200}, "quick": {"count": 20}, "timeout": 300},
    "w5": {"wl": "w5", "full": {"clients": 1000}, "quick": {"clients": 200}, "timeout": 180},
    # Our client only: N = 10,000 idle clients.
    "w5-10k": {"wl": "w5", "full": {"clients": 10000}, "quick": {"clients": 2000},
               "timeout": 600},
}
WORKLOAD_ORDER = ["w1", "w1b", "w2", "w3", "w3-256", "w4", "w5", "w5-10k"]

# ------------------------------------------------------------------------------ clients

CLIENT_ORDER = ["ours-tokio-ct", "ours-tokio", "ours-smol", "ours-blocking", "floor",
                "rust_engineio", "node", "python", "bare"]
# Another build of our load program (--base-bin, e.g. the commit before a change), run
# beside ours in the same rounds: before and after, side by side. Only with --base-bin.
BASE_CLIENTS = ["base-tokio-ct", "base-tokio", "base-smol", "base-blocking"]
ALL_WORKLOADS = {"w1", "w1b", "w2", "w3", "w4", "w5"}
# The workloads each client runs; the others are not run for it (a "—" cell), never shown
# as failures. The floor and bare speak WebSocket only (no polling, no upgrade); our
# blocking client runs the message workloads.
CLIENT_WORKLOADS = {
    "ours-tokio-ct": ALL_WORKLOADS | {"w3-256", "w5-10k"},
    "ours-tokio": ALL_WORKLOADS | {"w3-256", "w5-10k"},
    "ours-smol": ALL_WORKLOADS | {"w3-256", "w5-10k"},
    "ours-blocking": {"w1", "w1b", "w2", "w3", "w3-256"},
    "floor": {"w1", "w1b", "w2", "w5"},
    "rust_engineio": ALL_WORKLOADS,
    "node": ALL_WORKLOADS,
    "python": ALL_WORKLOADS,
    "bare": {"w1", "w1b", "w2", "w5"},
}
for _base in BASE_CLIENTS:
    CLIENT_WORKLOADS[_base] = CLIENT_WORKLOADS["ours-" + _base[len("base-"):]]

DEFAULT_RATIOS = ("ours-tokio-ct/floor,ours-tokio/floor,ours-smol/floor,"
                  "ours-blocking/ours-tokio,"
                  "ours-tokio/rust_engineio,ours-smol/rust_engineio,ours-tokio/node,"
                  "ours-tokio/python,ours-tokio/bare")
# Column headers of ratios that read better under another name than "a / b".
RATIO_LABELS = {("ours-blocking", "ours-tokio"): "blocking / async"}


def default_target_dir():
    return os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")


def client_commands(args):
    """client -> (argv prefix, missing-reason or None)."""
    ours = args.ours_bin or os.path.join(default_target_dir(), "release", "examples", "load")
    bench_target = os.environ.get("BENCH_TARGET_DIR") or os.path.join(BENCH, "target")
    peer = args.rust_engineio_bin or os.path.join(bench_target, "release", "rust_engineio_load")
    floor = args.floor_bin or os.path.join(bench_target, "release", "floor_load")
    node = shutil.which("node")

    def need_file(path, hint):
        return None if os.path.isfile(path) and os.access(path, os.X_OK) else \
            f"{os.path.relpath(path, ROOT)} not found ({hint})"

    ours_missing = need_file(
        ours, "build it with: cargo build --release --example load --features smol")
    node_missing = None
    if node is None:
        node_missing = "node not found on PATH"
    elif not os.path.isfile(os.path.join(NODE_DIR, "node_modules", "engine.io-client",
                                         "package.json")):
        node_missing = "bench/node/node_modules missing (run: npm ci in bench/node)"
    return {
        "ours-tokio-ct": ([ours, "--runtime", "tokio-ct"], ours_missing),
        "ours-tokio": ([ours, "--runtime", "tokio"], ours_missing),
        "ours-smol": ([ours, "--runtime", "smol"], ours_missing),
        "ours-blocking": ([ours, "--runtime", "blocking"], ours_missing),
        "floor": ([floor], need_file(
            floor, "build it with: cargo build --release in bench/peers/floor")),
        "rust_engineio": ([peer], need_file(
            peer, "build it with: cargo build --release in bench/peers/rust_engineio")),
        "node": ([node or "node", os.path.join(NODE_DIR, "client.js")], node_missing),
        "python": ([VENV_PY, os.path.join(BENCH, "python", "client.py")], need_file(
            VENV_PY, "create it with scripts/bench.sh")),
        "bare": ([node or "node", os.path.join(NODE_DIR, "bare.js")], node_missing),
        **{
            c: ([args.base_bin or "", "--runtime", c[len("base-"):]],
                need_file(args.base_bin, "the --base-bin build") if args.base_bin
                else "no --base-bin given")
            for c in BASE_CLIENTS
        },
    }

# ------------------------------------------------------------------------------ processes


def nofile_limit():
    try:
        with open("/proc/sys/fs/nr_open") as f:
            nr_open = int(f.read())
    except OSError:
        nr_open = 1 << 20
    return min(nr_open, 1 << 20)


def raise_nofile():
    """preexec_fn: raise RLIMIT_NOFILE (soft and hard; we are root) for the child."""
    n = nofile_limit()
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
    except (ValueError, OSError):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def log(msg):
    sys.stderr.write(f"bench: {msg}\n")
    sys.stderr.flush()


class Server:
    """The node engine.io echo server (bench/node/server.js)."""

    def __init__(self, log_path):
        self.log_path = log_path
        self.proc = None
        self.port = None
        self.restarts = 0

    def start(self):
        logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            ["node", os.path.join(NODE_DIR, "server.js")], cwd=NODE_DIR,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=logf,
            preexec_fn=raise_nofile, start_new_session=True)
        logf.close()
        line = self.proc.stdout.readline().decode().strip()
        m = re.fullmatch(r"LISTENING (\d+)", line)
        if not m:
            raise RuntimeError(f"server did not start (first line: {line!r}); see {self.log_path}")
        self.port = int(m.group(1))
        return self

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def ensure(self):
        if not self.alive():
            self.restarts += 1
            log(f"server had exited (code {self.proc.returncode}); restarting")
            self.start()

    def open_sockets(self):
        try:
            with urllib.request.urlopen(f"{self.url}/bench/open", timeout=2) as r:
                return int(r.read())
        except (OSError, ValueError):
            return None

    def settle(self, max_wait):
        """Waits (at most max_wait s) until the server has no open engine.io socket left."""
        deadline = time.monotonic() + max_wait
        n = self.open_sockets()
        while n and time.monotonic() < deadline:
            time.sleep(0.1)
            n = self.open_sockets()
        return n

    def cpu_s(self):
        try:
            with open(f"/proc/{self.proc.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            tick = os.sysconf("SC_CLK_TCK")
            return (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            return None

    def stop(self):
        if self.alive():
            try:
                self.proc.stdin.close()  # EOF: the server exits by itself
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                os.killpg(self.proc.pid, signal.SIGTERM)
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait()


def run_client(argv, timeout, stderr_path):
    """Runs one client program. Returns (result dict or None, info dict)."""
    with tempfile.TemporaryFile() as out, open(stderr_path, "ab") as err:
        err.write(f"\n=== {' '.join(argv)}\n".encode())
        err.flush()
        t0 = time.monotonic()
        proc = subprocess.Popen(argv, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=err, preexec_fn=raise_nofile, start_new_session=True)
        timed_out = False
        while True:
            pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid != 0:
                break
            if time.monotonic() - t0 > timeout:
                timed_out = True
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                pid, status, ru = os.wait4(proc.pid, 0)
                break
            time.sleep(0.02)
        elapsed = time.monotonic() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        # Anything the client left in its process group (it should leave nothing).
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        out.seek(0)
        stdout = out.read().decode(errors="replace")
    info = {
        "exit_code": proc.returncode,
        "process_wall_s": elapsed,
        "process_cpu_s": ru.ru_utime + ru.ru_stime,
        "process_maxrss_kb": ru.ru_maxrss,
        "timed_out": timed_out,
    }
    result = None
    for line in reversed(stdout.strip().splitlines()):
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict) and "workload" in obj and "ok" in obj:
            result = obj
            break
    if result is None:
        if timed_out:
            msg = f"killed after the {timeout} s timeout, no result line"
        else:
            msg = f"no result line on stdout (exit code {proc.returncode}; see {stderr_path})"
        result = {"ok": False, "error": msg}
    return result, info

# ------------------------------------------------------------------------------ metadata


def sh(argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None


def node_pkg_version(name):
    try:
        with open(os.path.join(NODE_DIR, "node_modules", name, "package.json")) as f:
            return json.load(f)["version"]
    except (OSError, ValueError, KeyError):
        return None


def lock_version(lock_path, name):
    try:
        with open(lock_path) as f:
            text = f.read()
    except OSError:
        return None
    m = re.search(r'name = "' + re.escape(name) + r'"\nversion = "([^"]+)"', text)
    return m.group(1) if m else None


def machine_info():
    cpu = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = None
    try:
        with open("/proc/meminfo") as f:
            kb = int(re.search(r"MemTotal:\s+(\d+)", f.read()).group(1))
            mem = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, AttributeError):
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory": mem,
        "kernel": platform.release(),
        "loadavg_at_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def versions():
    py = None
    pkgs = {}
    if os.path.isfile(VENV_PY):
        py = sh([VENV_PY, "-c", "import platform; print(platform.python_version())"])
        got = sh([VENV_PY, "-c", "import importlib.metadata as m, json; print(json.dumps("
                  "{n: m.version(n) for n in ('python-engineio', 'aiohttp')}))"])
        try:
            pkgs = json.loads(got or "{}")
        except ValueError:
            pkgs = {}
    ours_commit = sh(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"])
    dirty = sh(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"])
    return {
        "engineio (ours)": f"{ours_commit}{' + uncommitted changes' if dirty else ''}"
        if ours_commit else None,
        "rustc": sh(["rustc", "--version"]),
        "node": sh(["node", "--version"]),
        "engine.io (server)": node_pkg_version("engine.io"),
        "engine.io-client": node_pkg_version("engine.io-client"),
        "ws": node_pkg_version("ws"),
        "python": py,
        "python-engineio": pkgs.get("python-engineio"),
        "aiohttp": pkgs.get("aiohttp"),
        "rust_engineio": lock_version(
            os.path.join(BENCH, "peers", "rust_engineio", "Cargo.lock"), "rust_engineio"),
        "tokio-tungstenite (floor)": lock_version(
            os.path.join(BENCH, "peers", "floor", "Cargo.lock"), "tokio-tungstenite"),
    }

# ------------------------------------------------------------------------------ table

# (row label, workload key, result field or special, "higher"/"lower" is better, formatter)
def fmt_int(v):
    return f"{v:,.0f}"


def fmt_2(v):
    return f"{v:.2f}"


def fmt_1(v):
    return f"{v:.1f}"


def fmt_3(v):
    return f"{v:.3f}"


ROWS = [
    ("W1 ws echo: msgs/s", "w1", "msgs_per_s", "higher", fmt_int),
    ("W1 ws echo: client CPU s", "w1", "cpu_s", "lower", fmt_3),
    ("W1 ws echo: process CPU s (whole run)", "w1", "process_cpu_s", "lower", fmt_3),
    ("W1b ws binary echo: msgs/s", "w1b", "msgs_per_s", "higher", fmt_int),
    ("W1b ws binary echo: client CPU s", "w1b", "cpu_s", "lower", fmt_3),
    ("W1b ws binary echo: process CPU s (whole run)", "w1b", "process_cpu_s", "lower", fmt_3),
    ("W2 ws RTT: p50 µs", "w2", "p50_us", "lower", fmt_1),
    ("W2 ws RTT: p99 µs", "w2", "p99_us", "lower", fmt_1),
    ("W2 ws RTT: client CPU s", "w2", "cpu_s", "lower", fmt_3),
    ("W3 polling echo: msgs/s", "w3", "msgs_per_s", "higher", fmt_int),
    ("W3 polling echo: client CPU s", "w3", "cpu_s", "lower", fmt_3),
    ("W3 polling echo: process CPU s (whole run)", "w3", "process_cpu_s", "lower", fmt_3),
    ("W3 polling echo, 256 per POST: msgs/s", "w3-256", "msgs_per_s", "higher", fmt_int),
    ("W3 polling echo, 256 per POST: client CPU s", "w3-256", "cpu_s", "lower", fmt_3),
    ("W4 connect+upgrade+close: mean ms", "w4", "mean_ms", "lower", fmt_2),
    ("W4 connect+upgrade+close: CPU ms/conn", "w4", "cpu_ms_per_conn", "lower", fmt_2),
    ("W5 {n} idle ws: RSS KB/client", "w5", "rss_kb_per_client", "lower", fmt_1),
    ("W5 {n} idle ws: connect-all wall s", "w5", "wall_s", "lower", fmt_2),
    ("W5 {n} idle ws: RSS KB/client", "w5-10k", "rss_kb_per_client", "lower", fmt_1),
    ("W5 {n} idle ws: connect-all wall s", "w5-10k", "wall_s", "lower", fmt_2),
]


def value_of(run, field):
    if field.startswith("process_"):
        return run["info"].get(field)
    return run["result"].get(field)


def summarize(runs, field):
    """-> (median or None, n_ok, n_total, first failure message or None)."""
    ok = [r for r in runs if r["result"].get("ok")]
    vals = [value_of(r, field) for r in ok]
    vals = [v for v in vals if isinstance(v, (int, float))]
    fails = [r["result"].get("error") or "failed" for r in runs if not r["result"].get("ok")]
    med = statistics.median(vals) if vals else None
    return med, len(ok), len(runs), (fails[0] if fails else None)


def shorten(msg, n=90):
    msg = " ".join(str(msg).split())
    return msg if len(msg) <= n else msg[: n - 1] + "…"


def build_table(data, clients, ratios, params):
    runs = data["runs"]
    by = {}
    for r in runs:
        by.setdefault((r["workload"], r["client"]), []).append(r)
    ratio_pairs = [(a, b) for a, b in ratios if a in clients and b in clients]
    header = ["workload / metric", "better"] + clients + [
        RATIO_LABELS.get((a, b), f"{a} / {b}") for a, b in ratio_pairs]
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join(["---", "---"] + ["---:"] * (len(header) - 2)) + "|"]
    footnotes = []
    for label, wkey, field, better, fmt in ROWS:
        if not any((wkey, c) in by for c in clients):
            continue
        if "{n}" in label:
            label = label.replace("{n}", f"{params[wkey]['clients']:,}")
        cells = []
        meds = {}
        for c in clients:
            rs = by.get((wkey, c))
            if not rs:
                cells.append("—")
                continue
            med, n_ok, n_all, fail = summarize(rs, field)
            meds[c] = med
            if n_ok == 0:
                cells.append(f"fails: {shorten(fail, 50)}")
            elif med is None:
                cells.append("n/a")
            else:
                cell = fmt(med)
                if n_ok < n_all:
                    cell += f" ({n_ok}/{n_all} ok)"
                cells.append(cell)
            if fail and (wkey, c) not in [(f[0], f[1]) for f in footnotes]:
                msgs = list(dict.fromkeys(r["result"].get("error") or "failed"
                                          for r in rs if not r["result"].get("ok")))
                footnotes.append((wkey, c, n_all - n_ok, n_all, msgs))
        for a, b in ratio_pairs:
            va, vb = meds.get(a), meds.get(b)
            cells.append(f"{va / vb:.2f}×" if va is not None and vb else "—")
        lines.append("| " + " | ".join([label, better] + cells) + " |")
    return "\n".join(lines), footnotes


def render(data, clients, ratios, quick, params):
    meta = data["meta"]
    out = []
    out.append(f"# engineio benchmark — {meta['date']}{' (quick)' if quick else ''}")
    out.append("")
    m = meta["machine"]
    out.append(f"Machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory']}, Linux {m['kernel']}, "
               f"load average at start {m['loadavg_at_start']}.")
    out.append("Versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items() if v) + ".")
    out.append(f"Server: node engine.io {meta['versions'].get('engine.io (server)')} echo server "
               "(bench/node/server.js) on 127.0.0.1, default options (pingInterval 25 s).")
    pdesc = "; ".join(f"{k}: " + ", ".join(f"{pk}={pv}" for pk, pv in v.items())
                      for k, v in params.items())
    out.append(f"Rounds: {meta['rounds']} (clients alternating within each round); cells are "
               f"medians over the successful rounds. Parameters: {pdesc}.")
    out.append("Ratio columns are plain quotients of the medians (left ÷ right): below 1 is "
               "better for CPU, latency, time and RSS, above 1 is better for msgs/s."
               + "".join(f" `{label}` is {a} ÷ {b}." for (a, b), label in RATIO_LABELS.items()
                         if (a, b) in ratios and a in clients and b in clients))
    out.append("")
    table, footnotes = build_table(data, clients, ratios, params)
    out.append(table)
    notes = []
    for wkey, c, n_fail, n_all, msgs in footnotes:
        notes.append(f"- {wkey} {c}: {n_fail}/{n_all} rounds failed: "
                     + " | ".join(shorten(m, 300) for m in msgs[:3]))
    for c, why in data["skipped_clients"].items():
        notes.append(f"- {c}: skipped: {why}")
    if data.get("server_restarts"):
        notes.append(f"- the server had to be restarted {data['server_restarts']} time(s)")
    if notes:
        out.append("")
        out.append("Notes:")
        out.extend(notes)
    out.append("")
    out.append(f"Total run time: {data['total_s']:.0f} s.")
    return "\n".join(out) + "\n"

# ------------------------------------------------------------------------------ main


def parse_list(s, valid, what):
    items = [x.strip() for x in s.split(",") if x.strip()]
    bad = [x for x in items if x not in valid]
    if bad:
        sys.exit(f"bench: unknown {what}: {', '.join(bad)} (valid: {', '.join(valid)})")
    return items


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, help="rounds per workload (default 3; 1 with --quick)")
    p.add_argument("--only", help="comma-separated workloads: " + ",".join(WORKLOAD_ORDER))
    p.add_argument("--clients", help="comma-separated clients: " + ",".join(CLIENT_ORDER))
    p.add_argument("--quick", action="store_true", help="smaller counts, for a smoke run")
    p.add_argument("--ratios", default=DEFAULT_RATIOS,
                   help=f"ratio columns as a/b pairs (default {DEFAULT_RATIOS})")
    p.add_argument("--ours-bin", help="our load program (default: "
                   "$CARGO_TARGET_DIR or target/, then release/examples/load)")
    p.add_argument("--rust-engineio-bin", help="the rust_engineio peer (default: "
                   "$BENCH_TARGET_DIR or bench/target/, then release/rust_engineio_load)")
    p.add_argument("--base-bin", help="another build of our load program (an earlier "
                   "commit, say), run as the base-* clients beside ours, in the same rounds")
    p.add_argument("--floor-bin", help="the Rust floor (default: "
                   "$BENCH_TARGET_DIR or bench/target/, then release/floor_load)")
    args = p.parse_args()

    rounds = args.rounds if args.rounds is not None else (1 if args.quick else 3)
    if rounds < 1:
        sys.exit("bench: --rounds must be at least 1")
    workloads = parse_list(args.only, WORKLOAD_ORDER, "workload") if args.only else WORKLOAD_ORDER
    workloads = [w for w in WORKLOAD_ORDER if w in workloads]
    known = CLIENT_ORDER + BASE_CLIENTS
    clients = parse_list(args.clients, known, "client") if args.clients else (
        CLIENT_ORDER + (BASE_CLIENTS if args.base_bin else []))
    clients = [c for c in known if c in clients]
    ratios = [tuple(x.split("/", 1)) for x in args.ratios.split(",") if "/" in x]
    mode = "quick" if args.quick else "full"
    params = {w: WORKLOADS[w][mode] for w in workloads}

    if shutil.which("node") is None:
        sys.exit("bench: node is required for the server (bench/node/server.js)")
    if not os.path.isfile(os.path.join(NODE_DIR, "node_modules", "engine.io", "package.json")):
        sys.exit("bench: bench/node/node_modules is missing: run scripts/bench.sh (or npm ci "
                 "in bench/node)")

    os.makedirs(RESULTS, exist_ok=True)
    stderr_log = os.path.join(RESULTS, "clients.log")
    server_log = os.path.join(RESULTS, "server.log")
    for path in (stderr_log, server_log):
        open(path, "w").close()

    commands = client_commands(args)
    skipped = {}
    for c in clients:
        missing = commands[c][1]
        if missing:
            skipped[c] = missing
            log(f"{c}: SKIPPED: {missing}")
    active = [c for c in clients if c not in skipped]

    t_start = time.monotonic()
    meta = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine_info(),
        "versions": versions(),
        "rounds": rounds,
        "mode": mode,
        "params": params,
        "nofile_limit": nofile_limit(),
        "commands": {c: commands[c][0] for c in active},
    }
    data = {"meta": meta, "runs": [], "skipped_clients": skipped}

    server = Server(server_log).start()
    log(f"server: node engine.io on {server.url} (pid {server.proc.pid})")
    try:
        for w in workloads:
            spec = WORKLOADS[w]
            runnable = [c for c in active if w in CLIENT_WORKLOADS[c]]
            if not runnable:
                continue
            for rnd in range(1, rounds + 1):
                for c in runnable:
                    server.ensure()
                    leftover = server.settle(5)
                    argv = list(commands[c][0]) + ["--workload", spec["wl"], "--url", server.url]
                    for k, v in params[w].items():
                        argv += [f"--{k}", str(v)]
                    scpu0 = server.cpu_s()
                    result, info = run_client(argv, spec["timeout"], stderr_log)
                    scpu1 = server.cpu_s()
                    info["server_cpu_s"] = (scpu1 - scpu0) if None not in (scpu0, scpu1) else None
                    info["server_open_sockets_before"] = leftover
                    data["runs"].append({"workload": w, "client": c, "round": rnd,
                                         "argv": argv, "result": result, "info": info})
                    log(f"[{w} {rnd}/{rounds}] {c}: {describe(w, result, info)}")
                    if w.startswith("w5"):
                        server.settle(15)  # thousands of sockets closing
    finally:
        server.stop()
        data["server_restarts"] = server.restarts
        data["total_s"] = time.monotonic() - t_start

    report = render(data, clients, ratios, args.quick, params)
    with open(os.path.join(RESULTS, "latest.json"), "w") as f:
        json.dump(data, f, indent=1)
        f.write("\n")
    with open(os.path.join(RESULTS, "latest.md"), "w") as f:
        f.write(report)
    sys.stdout.write(report)
    log(f"raw results: {os.path.relpath(os.path.join(RESULTS, 'latest.json'), ROOT)}, "
        f"table: {os.path.relpath(os.path.join(RESULTS, 'latest.md'), ROOT)}, "
        f"client stderr: {os.path.relpath(stderr_log, ROOT)}")


def describe(w, result, info):
    if not result.get("ok"):
        return f"FAILED: {shorten(result.get('error'), 160)}"
    parts = []
    for key, fmt, unit in (("msgs_per_s", fmt_int, " msgs/s"), ("p50_us", fmt_1, " µs p50"),
                           ("p99_us", fmt_1, " µs p99"), ("mean_ms", fmt_2, " ms/iter"),
                           ("cpu_ms_per_conn", fmt_2, " CPU ms/conn"),
                           ("rss_kb_per_client", fmt_1, " KB/client"), ("cpu_s", fmt_3, " CPU s")):
        v = result.get(key)
        if isinstance(v, (int, float)):
            parts.append(fmt(v) + unit)
    parts.append(f"process {info['process_wall_s']:.1f} s wall, {info['process_cpu_s']:.2f} s CPU")
    return ", ".join(parts)


if __name__ == "__main__":
    main()
