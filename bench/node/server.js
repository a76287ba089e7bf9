'use strict';
// Benchmark echo server: engine.io 6.6.13 on a plain node http server.
//
// * listens on 127.0.0.1, random port; prints `LISTENING <port>` on stdout once ready
// * every message (text or binary) is sent back unchanged on the same socket
// * default options (pingInterval 25 s, pingTimeout 20 s, maxHttpBufferSize 1 MB,
//   transports polling + websocket, upgrades allowed)
// * exits on SIGTERM, SIGINT or EOF on stdin (so it never outlives the runner)
//
// For 10,000 concurrent WebSocket clients the only things that matter are the
// file-descriptor limit (raised by bench/run.py before exec) and the listen backlog
// (raised here so a burst of connects is not dropped and retried).

const http = require('http');
const engine = require('engine.io');

// Everything outside /engine.io/ lands here. GET /bench/open answers the number of open
// engine.io sockets (the runner waits for it to drop before the next client starts).
const httpServer = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/bench/open') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(String(open));
    return;
  }
  res.writeHead(404);
  res.end();
});
// No idle/keep-alive limits that could cut long-lived clients.
httpServer.keepAliveTimeout = 0;
httpServer.requestTimeout = 0;
httpServer.headersTimeout = 0;

let open = 0;
const eio = engine.attach(httpServer);

eio.on('connection', (socket) => {
  open++;
  socket.on('message', (data) => socket.send(data));
  socket.on('close', () => { open--; });
  socket.on('error', () => {});
});
eio.on('connection_error', () => {});

httpServer.listen({ host: '127.0.0.1', port: 0, backlog: 8192 }, () => {
  process.stdout.write(`LISTENING ${httpServer.address().port}\n`);
});

function shutdown() {
  try { eio.close(); } catch (_) { /* already closing */ }
  httpServer.close();
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
process.stdin.on('end', shutdown);
process.stdin.on('error', shutdown);
process.stdin.resume();
