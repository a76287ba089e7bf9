"""python-engineio 4.15.1 AsyncClient load program (the "python" column).

    bench/python/.venv/bin/python bench/python/client.py --workload w1 --url http://127.0.0.1:PORT

W1/W1b/W2/W5: transports=['websocket']; W3: ['polling']; W4: default transports (polling,
then the client's own upgrade inside connect()). W1b sends `bytes` (binary messages).
Contract: bench/README.md.
"""

import argparse
import asyncio
import json
import re
import resource
import sys
import time

import logging

import engineio
import engineio.payload

# Observation only (behaviour unchanged): remember the client's warnings and the last payload
# decoding error, so that a failure is reported with its cause rather than just "transport
# error" (python-engineio logs the cause at WARNING and swallows the exception).
NOTES = []


class _NoteHandler(logging.Handler):
    def emit(self, record):
        NOTES.append(f"engineio.client: {record.getMessage()}")


_client_logger = logging.getLogger("engineio.client")
_client_logger.setLevel(logging.WARNING)
_client_logger.addHandler(_NoteHandler(logging.WARNING))
_original_decode = engineio.payload.Payload.decode


def _observed_decode(self, encoded_payload):
    try:
        return _original_decode(self, encoded_payload)
    except ValueError as e:
        NOTES.append(f"payload decode: {e}")
        raise


engineio.payload.Payload.decode = _observed_decode

DEFAULT_COUNT = {"w1": 50000, "w1b": 50000, "w2": 5000, "w3": 10000, "w4": 200}
DEFAULT_INFLIGHT = {"w1": 256, "w1b": 256, "w3": 256}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--workload", required=True, choices=["w1", "w1b", "w2", "w3", "w4", "w5"])
    p.add_argument("--url", required=True)
    p.add_argument("--count", type=int)
    p.add_argument("--inflight", type=int)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--clients", type=int, default=1000)
    a = p.parse_args()
    if a.workload == "w5":
        a.count = a.clients
    elif a.count is None:
        a.count = DEFAULT_COUNT[a.workload]
    if a.inflight is None:
        a.inflight = DEFAULT_INFLIGHT.get(a.workload, 1)
    return a


ARGS = parse_args()
ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
MSG = "".join(ALPHABET[i % len(ALPHABET)] for i in range(ARGS.size))
if ARGS.workload == "w1b":
    MSG = MSG.encode("ascii")  # a binary message of the same bytes


# A workload that makes no progress (no echo back, no connection completed) for this long fails.
STALL_SECS = 60


def cpu_secs():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def rss_kb():
    with open("/proc/self/status") as f:
        m = re.search(r"VmRSS:\s+(\d+)\s+kB", f.read())
    return int(m.group(1)) if m else None


def percentile(sorted_vals, p):
    if not sorted_vals:
        return None
    rank = -(-p * len(sorted_vals) // 100)  # nearest rank, ceil
    return sorted_vals[min(len(sorted_vals), max(1, rank)) - 1]


def notes():
    """The distinct recorded decode errors/warnings, as a prefix for an error message:
    the payload decoding error first (the cause), then the client's own warnings."""
    seen = sorted(dict.fromkeys(NOTES), key=lambda n: not n.startswith("payload"))[:3]
    return "".join(f"{n}; " for n in seen)


class Progress:
    received = 0
    connected = 0


PROGRESS = Progress()


def new_client():
    # handle_sigint=False: the runner ends us with SIGKILL on timeout anyway.
    return engineio.AsyncClient(handle_sigint=False)


async def connect(transports):
    eio = new_client()
    failed = asyncio.get_running_loop().create_future()
    failed.add_done_callback(lambda f: f.exception())  # retrieved: no "never retrieved" noise

    @eio.on("disconnect")
    def _on_disconnect(reason=None):
        if not failed.done():
            failed.set_exception(RuntimeError(f"{notes()}disconnected: {reason}"))

    try:
        await eio.connect(ARGS.url, transports=transports)
    except Exception as e:  # engineio.exceptions.ConnectionError and friends
        raise RuntimeError(f"{notes()}connect failed: {e}") from e
    return eio, failed


async def echo_workload(transports):
    eio, failed = await connect(transports)
    count, inflight = ARGS.count, ARGS.inflight
    done = asyncio.get_running_loop().create_future()
    state = {"sent": 0, "received": 0}

    async def on_message(_data):
        state["received"] += 1
        PROGRESS.received = state["received"]
        if state["received"] >= count:
            if not done.done():
                done.set_result(state["received"])
            return
        if state["sent"] < count:
            state["sent"] += 1
            await eio.send(MSG)

    eio.on("message", on_message)
    cpu0 = cpu_secs()
    t0 = time.perf_counter()
    for _ in range(min(inflight, count)):
        state["sent"] += 1
        await eio.send(MSG)
    finished, _ = await asyncio.wait([done, failed], return_when=asyncio.FIRST_COMPLETED)
    n = finished.pop().result()  # raises the failure if `failed` came first
    wall = time.perf_counter() - t0
    cpu = cpu_secs() - cpu0
    await eio.disconnect(abort=True)
    return {"count": n, "wall_s": wall, "cpu_s": cpu, "msgs_per_s": n / wall}


async def rtt_workload():
    eio, failed = await connect(["websocket"])
    loop = asyncio.get_running_loop()
    pending = {"fut": None}

    def on_message(_data):
        f = pending["fut"]
        if f is not None and not f.done():
            f.set_result(None)

    eio.on("message", on_message)
    samples = []
    cpu0 = cpu_secs()
    t0 = time.perf_counter()
    for i in range(ARGS.count):
        s = time.perf_counter_ns()
        fut = pending["fut"] = loop.create_future()
        await eio.send(MSG)
        finished, _ = await asyncio.wait([fut, failed], return_when=asyncio.FIRST_COMPLETED)
        finished.pop().result()
        samples.append((time.perf_counter_ns() - s) / 1e3)
        PROGRESS.received = i + 1
    wall = time.perf_counter() - t0
    cpu = cpu_secs() - cpu0
    await eio.disconnect(abort=True)
    samples.sort()
    return {
        "count": ARGS.count, "wall_s": wall, "cpu_s": cpu, "msgs_per_s": ARGS.count / wall,
        "p50_us": percentile(samples, 50), "p99_us": percentile(samples, 99),
    }


async def upgrade_workload():
    cpu0 = cpu_secs()
    t0 = time.perf_counter()
    for i in range(ARGS.count):
        eio, _failed = await connect(None)
        # python-engineio upgrades inside connect(); it returns once the probe is done.
        if eio.transport() != "websocket":
            await eio.disconnect(abort=True)
            raise RuntimeError(f"transport is {eio.transport()} after connect (upgrade failed)")
        await eio.disconnect()
        PROGRESS.connected = i + 1
    wall = time.perf_counter() - t0
    cpu = cpu_secs() - cpu0
    return {
        "count": ARGS.count, "wall_s": wall, "cpu_s": cpu,
        "mean_ms": wall * 1000 / ARGS.count, "cpu_ms_per_conn": cpu * 1000 / ARGS.count,
    }


async def idle_workload():
    n = ARGS.clients
    clients = []
    rss0 = rss_kb()
    cpu0 = cpu_secs()
    t0 = time.perf_counter()
    next_i = {"i": 0}

    async def worker():
        while next_i["i"] < n:
            next_i["i"] += 1
            eio, _ = await connect(["websocket"])
            clients.append(eio)
            PROGRESS.connected = len(clients)

    await asyncio.gather(*(worker() for _ in range(min(100, n))))
    wall = time.perf_counter() - t0
    await asyncio.sleep(2)
    rss1 = rss_kb()
    cpu = cpu_secs() - cpu0
    return {"count": n, "wall_s": wall, "cpu_s": cpu, "rss_kb_per_client": (rss1 - rss0) / n}


async def stall_watchdog():
    """Raises once PROGRESS (echoes + connections) has not moved for STALL_SECS."""
    last, since = -1, time.monotonic()
    while True:
        await asyncio.sleep(0.25)
        now = PROGRESS.received + PROGRESS.connected
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= STALL_SECS:
            raise RuntimeError(f"timeout: no progress for {STALL_SECS} s ({PROGRESS.received} "
                               f"echoes, {PROGRESS.connected} connected)")


def emit(result):
    keys = ["workload", "ok", "count", "wall_s", "cpu_s", "msgs_per_s", "p50_us", "p99_us",
            "mean_ms", "cpu_ms_per_conn", "rss_kb_per_client", "error"]
    line = {k: result.get(k) for k in keys}
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


async def main():
    body = {
        "w1": lambda: echo_workload(["websocket"]),
        "w1b": lambda: echo_workload(["websocket"]),
        "w2": rtt_workload,
        "w3": lambda: echo_workload(["polling"]),
        "w4": upgrade_workload,
        "w5": idle_workload,
    }[ARGS.workload]
    work = asyncio.ensure_future(body())
    watchdog = asyncio.ensure_future(stall_watchdog())
    try:
        await asyncio.wait([work, watchdog], return_when=asyncio.FIRST_COMPLETED)
        if not work.done():
            work.cancel()
            watchdog.result()  # raises the stall
        watchdog.cancel()
        result = {"workload": ARGS.workload, "ok": True, **work.result()}
    except Exception as e:  # noqa: BLE001 - every failure becomes the result line
        result = {"workload": ARGS.workload, "ok": False,
                  "count": PROGRESS.received or PROGRESS.connected,
                  "error": f"{e}" or type(e).__name__}
    emit(result)


if __name__ == "__main__":
    asyncio.run(main())
    # Skip interpreter teardown of thousands of sessions/tasks: the result is already out.
    sys.stdout.flush()
    import os
    os._exit(0)
