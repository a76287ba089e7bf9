'use strict';
// engine.io-client 6.6.8 load program (the "node" column). Contract: bench/README.md.
//
//   node bench/node/client.js --workload w1 --url http://127.0.0.1:PORT [--count N] ...
//
// W1/W1b/W2/W5: transports ["websocket"]; W3: ["polling"]; W4: default transports, waits
// for the "upgrade" event. W1b sends a Buffer (a binary message); its echoes are Buffers.

const { Socket } = require('engine.io-client');
const c = require('./common');

const args = c.parseArgs(process.argv.slice(2));
const msg = args.workload === 'w1b' ? c.binaryPayload(args.size) : c.payload(args.size);

// Opens a socket and resolves once it is open; rejects on error/close before open.
function connect(opts) {
  return new Promise((resolve, reject) => {
    const sock = new Socket(args.url, opts);
    const onError = (e) => { cleanup(); reject(new Error(`connect failed: ${c.errText(e)}`)); };
    const onClose = (reason) => { cleanup(); reject(new Error(`connect failed: ${reason}`)); };
    const onOpen = () => { cleanup(); resolve(sock); };
    function cleanup() {
      sock.off('open', onOpen);
      sock.off('error', onError);
      sock.off('close', onClose);
    }
    sock.on('open', onOpen);
    sock.on('error', onError);
    sock.on('close', onClose);
  });
}

// A promise that rejects when the socket errors or closes (used to fail a running workload).
function failure(sock) {
  return new Promise((_, reject) => {
    sock.on('error', (e) => reject(new Error(`error: ${c.errText(e)}`)));
    sock.on('close', (reason, desc) => {
      const d = desc && desc.message ? ` (${desc.message})` : (desc && desc.description ? ` (${desc.description})` : '');
      reject(new Error(`disconnected: ${reason}${d}`));
    });
  });
}

async function echoWorkload(transports, progress) {
  const sock = await connect({ transports });
  const w = c.windowedEcho({
    count: args.count, inflight: args.inflight, send: () => sock.send(msg), progress,
  });
  sock.on('message', w.onEcho);
  const cpu0 = c.cpuSecs();
  const t0 = c.nowSecs();
  w.start();
  const n = await Promise.race([w.done, failure(sock)]);
  const wall = c.nowSecs() - t0;
  const cpu = c.cpuSecs() - cpu0;
  sock.close();
  return { count: n, wall_s: wall, cpu_s: cpu, msgs_per_s: n / wall };
}

async function rttWorkload(progress) {
  const sock = await connect({ transports: ['websocket'] });
  const fail = failure(sock);
  fail.catch(() => {});
  const samples = new Float64Array(args.count);
  let pending = null;
  sock.on('message', () => { if (pending) { const p = pending; pending = null; p(); } });
  const cpu0 = c.cpuSecs();
  const t0 = c.nowSecs();
  for (let i = 0; i < args.count; i++) {
    const s = process.hrtime.bigint();
    const echoed = new Promise((r) => { pending = r; });
    sock.send(msg);
    await Promise.race([echoed, fail]);
    samples[i] = Number(process.hrtime.bigint() - s) / 1e3;
    progress.received = i + 1;
  }
  const wall = c.nowSecs() - t0;
  const cpu = c.cpuSecs() - cpu0;
  sock.close();
  const sorted = Array.from(samples).sort((a, b) => a - b);
  return {
    count: args.count, wall_s: wall, cpu_s: cpu, msgs_per_s: args.count / wall,
    p50_us: c.percentile(sorted, 50), p99_us: c.percentile(sorted, 99),
  };
}

async function upgradeWorkload(progress) {
  const cpu0 = c.cpuSecs();
  const t0 = c.nowSecs();
  for (let i = 0; i < args.count; i++) {
    const sock = await connect({});
    if (sock.transport.name !== 'websocket') {
      await new Promise((resolve, reject) => {
        sock.on('upgrade', resolve);
        sock.on('upgradeError', (e) => reject(new Error(`upgrade failed: ${c.errText(e)}`)));
        sock.on('close', (reason) => reject(new Error(`closed before upgrade: ${reason}`)));
      });
    }
    if (sock.transport.name !== 'websocket') throw new Error(`transport is ${sock.transport.name} after upgrade`);
    await new Promise((resolve) => { sock.on('close', resolve); sock.close(); });
    progress.connected = i + 1;
  }
  const wall = c.nowSecs() - t0;
  const cpu = c.cpuSecs() - cpu0;
  return {
    count: args.count, wall_s: wall, cpu_s: cpu,
    mean_ms: (wall * 1000) / args.count, cpu_ms_per_conn: (cpu * 1000) / args.count,
  };
}

async function idleWorkload(progress) {
  const n = args.clients;
  const socks = [];
  const rss0 = c.rssKb();
  const cpu0 = c.cpuSecs();
  const t0 = c.nowSecs();
  // At most 100 handshakes in progress at once.
  let next = 0;
  async function worker() {
    while (next < n) {
      next++;
      const s = await connect({ transports: ['websocket'] });
      socks.push(s);
      progress.connected = socks.length;
    }
  }
  await Promise.all(Array.from({ length: Math.min(100, n) }, worker));
  const wall = c.nowSecs() - t0;
  await c.sleep(2000);
  const rss1 = c.rssKb();
  const cpu = c.cpuSecs() - cpu0;
  for (const s of socks) s.close();
  return { count: n, wall_s: wall, cpu_s: cpu, rss_kb_per_client: (rss1 - rss0) / n };
}

c.runMain(args, (progress) => {
  switch (args.workload) {
    case 'w1': return echoWorkload(['websocket'], progress);
    case 'w1b': return echoWorkload(['websocket'], progress);
    case 'w2': return rttWorkload(progress);
    case 'w3': return echoWorkload(['polling'], progress);
    case 'w4': return upgradeWorkload(progress);
    case 'w5': return idleWorkload(progress);
    default: throw new Error('unreachable');
  }
});
