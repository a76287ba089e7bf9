#!/usr/bin/env node
// Real engine.io (Node.js) server for the `engineio` crate's interop tests.
//
// Contract (identical to ../python/server.py):
//   * listens on 127.0.0.1, random port; prints exactly one line
//     `LISTENING <port>` to stdout once it accepts connections
//   * Engine.IO path: /engine.io/ (the default), protocol v4 only
//   * env: EIO_PING_INTERVAL_MS (25000), EIO_PING_TIMEOUT_MS (20000),
//          EIO_MAX_PAYLOAD (1000000), EIO_COOKIE ("1" => cookie io=<sid>),
//          EIO_CONNECT_MESSAGE (text sent to each client on connect),
//          EIO_QUIET ("1" => no stderr log lines), EIO_PORT (0: a free port),
//          EIO_REPORT ("1" => the CONNECT and RECEIVED stdout lines below; node only)
//   * per message from a client:
//       text "close"          -> server closes that session
//       text "burst N"        -> sends text "burst-0" .. "burst-{N-1}"
//       text "binary <hex>"   -> sends back a binary message with those bytes
//       anything else         -> echoed unchanged (binary stays binary)
//   * stderr: `CONNECT <sid>` and `DISCONNECT <sid> <reason>`
//     stdout: `DISCONNECT <sid> <reason>` (the reason may contain spaces)
//     node only, with EIO_REPORT=1, on stdout too: `CONNECT <sid> <transport>` per new
//     session, and `RECEIVED <sid> <JSON string>` per text message received
//     (`RECEIVED <sid> binary <hex>` per binary one), printed before the message is
//     acted on, so before its echo leaves. (Off by default: a reader that stops reading
//     stdout after LISTENING, as bench/run.py does, would fill the pipe sooner.)
//   * exits (status 0) on SIGTERM/SIGINT and when stdin reaches EOF
//     (set EIO_IGNORE_STDIN=1 to disable the latter when running by hand)
"use strict";

const fs = require("fs");
const http = require("http");
const path = require("path");
let engine;
try {
  engine = require("engine.io");
} catch (e) {
  process.stderr.write(`${e.message}\nrun scripts/test-servers-setup.sh first\n`);
  process.exit(3);
}

// engine.io's "exports" map hides package.json, so read it from disk.
const ENGINE_IO_VERSION = JSON.parse(
  fs.readFileSync(path.join(path.dirname(require.resolve("engine.io")), "..", "package.json"), "utf8")
).version;

function envInt(name, dflt) {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return dflt;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < 0) {
    process.stderr.write(`invalid ${name}=${JSON.stringify(raw)}\n`);
    process.exit(2);
  }
  return v;
}

const opts = {
  pingInterval: envInt("EIO_PING_INTERVAL_MS", 25000),
  pingTimeout: envInt("EIO_PING_TIMEOUT_MS", 20000),
  maxHttpBufferSize: envInt("EIO_MAX_PAYLOAD", 1000000),
  // path defaults to "/engine.io/"
};
if (process.env.EIO_COOKIE === "1") {
  opts.cookie = { name: "io" };
}
const connectMessage = process.env.EIO_CONNECT_MESSAGE;
const REPORT = process.env.EIO_REPORT === "1";

// stdout carries the machine-readable protocol; write synchronously so each
// line is flushed immediately even when stdout is a pipe.
function out(line) {
  try {
    fs.writeSync(1, line + "\n");
  } catch (_) {
    // stdout gone (test runner died): nothing useful left to do
  }
}
const QUIET = process.env.EIO_QUIET === "1";
function log(line) {
  if (QUIET) return;
  try {
    fs.writeSync(2, line + "\n");
  } catch (_) {}
}

const notFound = (req, res) => {
  // engine.io handles everything under /engine.io/ itself
  res.writeHead(404, { "Content-Type": "text/plain" });
  res.end("not found");
};
// EIO_TLS_CERT / EIO_TLS_KEY (PEM files): serve https and wss instead.
const httpServer =
  process.env.EIO_TLS_CERT && process.env.EIO_TLS_KEY
    ? require("https").createServer(
        {
          cert: fs.readFileSync(process.env.EIO_TLS_CERT),
          key: fs.readFileSync(process.env.EIO_TLS_KEY),
        },
        notFound
      )
    : http.createServer(notFound);

const eio = engine.attach(httpServer, opts);

// (After attach: engine.io takes over the existing request listeners.)
// With EIO_COOKIE=1, report whether each request of an open session carries the sticky
// cookie back: `COOKIE <ok|missing> <polling|websocket>` on stdout.
if (process.env.EIO_COOKIE === "1") {
  const check = (req, kind) => {
    const url = new URL(req.url, "http://x");
    const sid = url.searchParams.get("sid");
    if (!sid) return;
    const cookie = req.headers.cookie || "";
    const ok = cookie.split(";").some((c) => c.trim() === `io=${sid}`);
    out(`COOKIE ${ok ? "ok" : "missing"} ${kind}`);
  };
  httpServer.prependListener("request", (req) => check(req, "polling"));
  httpServer.prependListener("upgrade", (req) => check(req, "websocket"));
}

const BURST_RE = /^burst (\d+)$/;
const BINARY_RE = /^binary ((?:[0-9a-fA-F]{2})*)$/;

eio.on("connection", (socket) => {
  const sid = socket.id;
  log(`CONNECT ${sid} transport=${socket.transport.name}`);
  if (REPORT) out(`CONNECT ${sid} ${socket.transport.name}`);

  socket.on("message", (data) => {
    // engine.io-parser decodes an empty message ("4") with no data at all.
    if (data === undefined) data = "";
    if (REPORT) {
      out(
        typeof data === "string"
          ? `RECEIVED ${sid} ${JSON.stringify(data)}`
          : `RECEIVED ${sid} binary ${Buffer.from(data).toString("hex")}`
      );
    }
    if (typeof data === "string") {
      if (data === "close") {
        log(`CLOSE-REQUESTED ${sid}`);
        socket.close();
        return;
      }
      let m = BURST_RE.exec(data);
      if (m) {
        const n = Number(m[1]);
        for (let i = 0; i < n; i++) socket.send(`burst-${i}`);
        return;
      }
      m = BINARY_RE.exec(data);
      if (m) {
        socket.send(Buffer.from(m[1], "hex"));
        return;
      }
      socket.send(data);
    } else {
      // Buffer (polling, binaryType "nodebuffer") or Buffer/ArrayBuffer (ws)
      socket.send(Buffer.isBuffer(data) ? data : Buffer.from(data));
    }
  });

  socket.on("upgrade", (transport) => {
    log(`UPGRADE ${sid} transport=${transport.name}`);
  });

  socket.on("close", (reason, description) => {
    const extra = description && description.message ? ` (${description.message})` : "";
    log(`DISCONNECT ${sid} ${reason}${extra}`);
    out(`DISCONNECT ${sid} ${reason}`);
  });

  if (connectMessage !== undefined) {
    socket.send(connectMessage);
  }
});

eio.on("connection_error", (err) => {
  log(`CONNECTION_ERROR ${err.code} ${err.message}`);
});

let shuttingDown = false;
function shutdown(why) {
  if (shuttingDown) return;
  shuttingDown = true;
  log(`SHUTDOWN ${why}`);
  try {
    eio.close(); // closes every client ("forced close"/"server shutting down")
  } catch (e) {
    log(`error while closing engine: ${e}`);
  }
  httpServer.close();
  if (typeof httpServer.closeAllConnections === "function") {
    httpServer.closeAllConnections();
  }
  // Do not linger on keep-alive sockets or pending long-polls.
  setTimeout(() => process.exit(0), 100).unref();
}

process.on("SIGTERM", () => shutdown("SIGTERM"));
process.on("SIGINT", () => shutdown("SIGINT"));

if (process.env.EIO_IGNORE_STDIN !== "1") {
  process.stdin.on("end", () => shutdown("stdin EOF"));
  process.stdin.on("close", () => shutdown("stdin closed"));
  process.stdin.on("error", () => shutdown("stdin error"));
  process.stdin.resume(); // discard whatever is written to us
}

httpServer.listen(Number(process.env.EIO_PORT || 0), "127.0.0.1", () => {
  const { port } = httpServer.address();
  log(
    `engine.io ${ENGINE_IO_VERSION} pingInterval=${opts.pingInterval} ` +
      `pingTimeout=${opts.pingTimeout} maxHttpBufferSize=${opts.maxHttpBufferSize} ` +
      `cookie=${opts.cookie ? "io" : "off"} connectMessage=${connectMessage === undefined ? "off" : JSON.stringify(connectMessage)}`
  );
  out(`LISTENING ${port}`);
});
