'use strict';
// The "bare WebSocket floor": a plain `ws` client that speaks Engine.IO v4 framing by hand,
// WebSocket transport only (W1, W1b, W2, W5). No reconnection, no buffering, no upgrade
// logic: what any Engine.IO client over the same socket library cannot beat by much.
//
//   open   ws://HOST/engine.io/?EIO=4&transport=websocket, read the `0{...}` open packet
//   ping   `2` from the server is answered with `3`
//   send   `4<msg>` (text); a binary message (W1b) is a binary frame of the raw bytes
//   echo   `4<msg>` from the server, or a binary frame
//
// Contract: bench/README.md.

const WebSocket = require('ws');
const c = require('./common');

const args = c.parseArgs(process.argv.slice(2));
if (!['w1', 'w1b', 'w2', 'w5'].includes(args.workload)) {
  process.stderr.write(`bare.js: workload ${args.workload} is not supported (websocket only: w1, w1b, w2, w5)\n`);
  process.exit(2);
}
const frame = args.workload === 'w1b' ? c.binaryPayload(args.size) : '4' + c.payload(args.size);

function wsUrl() {
  const u = new URL(args.url);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  u.pathname = '/engine.io/';
  u.search = '?EIO=4&transport=websocket';
  return u.toString();
}
const url = wsUrl();

// Resolves with { ws, onMessage(fn), closed } once the open packet has arrived.
function connect() {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    let opened = false;
    let onMsg = () => {};
    let failWith = null;
    const closed = new Promise((_, rej) => { failWith = rej; });
    closed.catch(() => {});
    ws.on('message', (data, isBinary) => {
      if (isBinary) { onMsg(data); return; }
      const s = data.toString();
      switch (s[0]) {
        case '0':
          if (!opened) {
            opened = true;
            resolve({ ws, onMessage: (fn) => { onMsg = fn; }, closed });
          }
          break;
        case '2': ws.send('3' + s.slice(1)); break;
        case '4': onMsg(s); break;
        case '1': ws.close(); break;
        default: break;
      }
    });
    ws.on('error', (e) => {
      if (!opened) reject(new Error(`connect failed: ${e.message}`));
      else failWith(new Error(`error: ${e.message}`));
    });
    ws.on('close', (code) => {
      if (!opened) reject(new Error(`connect failed: closed (${code})`));
      else failWith(new Error(`disconnected: websocket closed (${code})`));
    });
  });
}

async function w1(progress) {
  const conn = await connect();
  const w = c.windowedEcho({
    count: args.count, inflight: args.inflight, send: () => conn.ws.send(frame), progress,
  });
  conn.onMessage(w.onEcho);
  const cpu0 = c.cpuSecs();
  const t0 = c.nowSecs();
  w.start();
  const n = await Promise.race([w.done, conn.closed]);
  const wall = c.nowSecs() - t0;
  const cpu = c.cpuSecs() - cpu0;
  conn.ws.close();
  return { count: n, wall_s: wall, cpu_s: cpu, msgs_per_s: n / wall };
}

async function w2(progress) {
  const conn = await connect();
  const samples = new Float64Array(args.count);
  let pending = null;
  conn.onMessage(() => { if (pending) { const p = pending; pending = null; p(); } });
  const cpu0 = c.cpuSecs();
  const t0 = c.nowSecs();
  for (let i = 0; i < args.count; i++) {
    const s = process.hrtime.bigint();
    const echoed = new Promise((r) => { pending = r; });
    conn.ws.send(frame);
    await Promise.race([echoed, conn.closed]);
    samples[i] = Number(process.hrtime.bigint() - s) / 1e3;
    progress.received = i + 1;
  }
  const wall = c.nowSecs() - t0;
  const cpu = c.cpuSecs() - cpu0;
  conn.ws.close();
  const sorted = Array.from(samples).sort((a, b) => a - b);
  return {
    count: args.count, wall_s: wall, cpu_s: cpu, msgs_per_s: args.count / wall,
    p50_us: c.percentile(sorted, 50), p99_us: c.percentile(sorted, 99),
  };
}

async function w5(progress) {
  const n = args.clients;
  const conns = [];
  const rss0 = c.rssKb();
  const cpu0 = c.cpuSecs();
  const t0 = c.nowSecs();
  let next = 0;
  async function worker() {
    while (next < n) {
      next++;
      conns.push(await connect());
      progress.connected = conns.length;
    }
  }
  await Promise.all(Array.from({ length: Math.min(100, n) }, worker));
  const wall = c.nowSecs() - t0;
  await c.sleep(2000);
  const rss1 = c.rssKb();
  const cpu = c.cpuSecs() - cpu0;
  for (const k of conns) k.ws.close();
  return { count: n, wall_s: wall, cpu_s: cpu, rss_kb_per_client: (rss1 - rss0) / n };
}

c.runMain(args, (progress) => ({ w1, w1b: w1, w2, w5 })[args.workload](progress));
