'use strict';
// Shared by client.js (engine.io-client) and bare.js (ws): command line, result line,
// CPU/RSS accounting and the workload drivers that only need "send" and "on echo".
// See bench/README.md for the contract these programs follow.

const fs = require('fs');

const DEFAULTS = {
  w1: { count: 50000, inflight: 256 },
  w1b: { count: 50000, inflight: 256 }, // w1 with binary messages
  w2: { count: 5000, inflight: 1 },
  w3: { count: 10000, inflight: 256 },
  w4: { count: 200, inflight: 1 },
  w5: { count: 1000, inflight: 1 },
};

// A workload that makes no progress (no echo back, no connection completed) for this long fails.
const STALL_SECS = 60;

function usage(msg) {
  process.stderr.write(`${msg}\nusage: --workload w1|w1b|w2|w3|w4|w5 --url http://127.0.0.1:PORT ` +
    '[--count N] [--inflight K] [--size BYTES] [--clients N]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const a = { workload: null, url: null, count: null, inflight: null, size: 32, clients: 1000 };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[i + 1];
    const num = () => {
      const n = Number(v);
      if (!Number.isInteger(n) || n <= 0) usage(`${k}: expected a positive integer, got ${v}`);
      i++;
      return n;
    };
    switch (k) {
      case '--workload': a.workload = v; i++; break;
      case '--url': a.url = v; i++; break;
      case '--count': a.count = num(); break;
      case '--inflight': a.inflight = num(); break;
      case '--size': a.size = num(); break;
      case '--clients': a.clients = num(); break;
      default: usage(`unknown argument: ${k}`);
    }
  }
  if (!DEFAULTS[a.workload]) usage(`--workload must be one of w1, w1b, w2..w5, got ${a.workload}`);
  if (!a.url) usage('--url is required');
  if (a.count === null) a.count = a.workload === 'w5' ? a.clients : DEFAULTS[a.workload].count;
  if (a.workload === 'w5') a.count = a.clients;
  if (a.inflight === null) a.inflight = DEFAULTS[a.workload].inflight;
  return a;
}

// A printable payload of exactly `size` bytes (ASCII, so bytes == chars).
function payload(size) {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  let s = '';
  for (let i = 0; i < size; i++) s += alphabet[i % alphabet.length];
  return s;
}

// The same `size` bytes as a Buffer: w1b's binary message.
function binaryPayload(size) {
  return Buffer.from(payload(size), 'latin1');
}

function cpuSecs() {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

function nowSecs() {
  return Number(process.hrtime.bigint()) / 1e9;
}

// Resident set size in KB, from /proc/self/status (VmRSS), the same source every client uses.
function rssKb() {
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) : null;
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

// Rejects when `progress` (echoes + connections) has not moved for STALL_SECS.
function stallWatchdog(progress) {
  let timer;
  const promise = new Promise((_, reject) => {
    let last = -1;
    let since = Date.now();
    timer = setInterval(() => {
      const now = progress.received + progress.connected;
      if (now !== last) {
        last = now;
        since = Date.now();
      } else if (Date.now() - since >= STALL_SECS * 1000) {
        reject(new Error(`timeout: no progress for ${STALL_SECS} s ` +
          `(${progress.received} echoes, ${progress.connected} connected)`));
      }
    }, 250);
  });
  return { promise, stop: () => clearInterval(timer) };
}

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  // nearest-rank
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

function emit(result) {
  const line = {
    workload: result.workload,
    ok: result.ok,
    count: result.count ?? null,
    wall_s: result.wall_s ?? null,
    cpu_s: result.cpu_s ?? null,
    msgs_per_s: result.msgs_per_s ?? null,
    p50_us: result.p50_us ?? null,
    p99_us: result.p99_us ?? null,
    mean_ms: result.mean_ms ?? null,
    cpu_ms_per_conn: result.cpu_ms_per_conn ?? null,
    rss_kb_per_client: result.rss_kb_per_client ?? null,
    error: result.error ?? null,
  };
  process.stdout.write(JSON.stringify(line) + '\n');
}

function errText(e) {
  if (e === undefined || e === null) return 'unknown error';
  if (typeof e === 'string') return e;
  if (e instanceof Error) {
    const d = e.description;
    const extra = d && d.message ? `: ${d.message}` : (typeof d === 'string' ? `: ${d}` : '');
    return `${e.message}${extra}`;
  }
  return String(e);
}

// Echo stream with a window: `send()` sends one message; the caller calls the returned
// `onEcho()` for every echo. Resolves with the number of echoes when `count` are back.
function windowedEcho({ count, inflight, send, progress }) {
  let sent = 0;
  let received = 0;
  let resolve;
  const done = new Promise((r) => { resolve = r; });
  const onEcho = () => {
    received++;
    progress.received = received;
    if (received >= count) { resolve(received); return; }
    if (sent < count) { sent++; send(); }
  };
  const start = () => {
    const first = Math.min(inflight, count);
    for (let i = 0; i < first; i++) { sent++; send(); }
  };
  return { done, onEcho, start };
}

// Runs `body(progress)` under the stall watchdog and converts the outcome into a result
// line. `body` resolves with the fields to report; wall/cpu are measured by the body itself
// (so connection set-up can be excluded where the contract says so).
async function runMain(args, body) {
  const progress = { received: 0, connected: 0 };
  let result;
  const watchdog = stallWatchdog(progress);
  try {
    const fields = await Promise.race([body(progress), watchdog.promise]);
    result = { workload: args.workload, ok: true, ...fields };
  } catch (e) {
    result = { workload: args.workload, ok: false, count: progress.received || progress.connected, error: errText(e) };
  }
  watchdog.stop();
  emit(result);
  // Do not wait for sockets to wind down.
  process.exit(0);
}

module.exports = {
  parseArgs, payload, binaryPayload, cpuSecs, nowSecs, rssKb, sleep, percentile, windowedEcho, runMain, errText,
};
