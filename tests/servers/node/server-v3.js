#!/usr/bin/env node
// Real engine.io 3.6.2 server (Engine.IO protocol v3, the engine of socket.io 2.x) for the
// `engineio` crate's interop tests. engine.io 3.6.2 comes from the npm alias `engine.io-v3`
// in package.json.
//
// Contract (the one of ./server.js and ../python/server.py, as far as engine.io 3 allows;
// ../python-v3/server.py follows the same one):
//   * listens on 127.0.0.1, random port; prints exactly one line
//     `LISTENING <port>` to stdout once it accepts connections
//   * Engine.IO path: /engine.io/ (the default). Protocol v3 only: engine.io 3.6.2 does not
//     look at the `EIO` query parameter at all, so it also answers `EIO=4` (and no `EIO`)
//     with a v3 handshake. Polling payloads: `b64=1` -> text `<len>:<packet>` framing,
//     binary as `b4<base64>`; without `b64` -> binary framing (application/octet-stream).
//   * env: EIO_PING_INTERVAL_MS (25000), EIO_PING_TIMEOUT_MS (20000),
//          EIO_MAX_PAYLOAD (1000000; maxHttpBufferSize, not announced in the v3 handshake),
//          EIO_COOKIE: engine.io 3 sets a cookie `io=<sid>; Path=/; HttpOnly; SameSite=Strict`
//            on the polling handshake response BY DEFAULT. Unset or "1" => that default
//            cookie; "0" => no cookie (`cookie: false`). (The v4 servers send no cookie
//            unless EIO_COOKIE=1.)
//          EIO_CONNECT_MESSAGE (text sent to each client on connect),
//          EIO_QUIET ("1" => no stderr log lines),
//          EIO_REPORT ("1" => the CONNECT and RECEIVED stdout lines below),
//          EIO_TLS_CERT / EIO_TLS_KEY (PEM files => https and wss)
//   * per message from a client:
//       text "close"          -> server closes that session
//       text "burst N"        -> sends text "burst-0" .. "burst-{N-1}"
//       text "binary <hex>"   -> sends back a binary message with those bytes
//       anything else         -> echoed unchanged (binary stays binary)
//   * stderr: `CONNECT <sid>` and `DISCONNECT <sid> <reason>`
//     stdout: `DISCONNECT <sid> <reason>` (the reason may contain spaces; engine.io 3's
//     own: `forced close`, `transport close`, `transport error`, `ping timeout`,
//     `parse error`)
//     with EIO_REPORT=1, on stdout too: `CONNECT <sid> <transport>` per new session, and
//     `RECEIVED <sid> <JSON string>` per text message received (`RECEIVED <sid> binary
//     <hex>` per binary one), printed before the message is acted on.
//     with EIO_COOKIE=1: `COOKIE <ok|missing> <polling|websocket>` on stdout for each
//     request of an open session (whether it carries `io=<sid>` back).
//   * exits (status 0) on SIGTERM/SIGINT and when stdin reaches EOF
//     (set EIO_IGNORE_STDIN=1 to disable the latter when running by hand)
//
// Protocol v3 heartbeat: the CLIENT pings (`2`) every pingInterval and the server answers
// `3`; engine.io 3 closes a session (`ping timeout`) when it has received nothing for
// pingInterval + pingTimeout.
"use strict";

const fs = require("fs");
const http = require("http");
const path = require("path");
let engine;
try {
  engine = require("engine.io-v3");
} catch (e) {
  process.stderr.write(`${e.message}\nrun scripts/test-servers-setup.sh first\n`);
  process.exit(3);
}

const ENGINE_IO_VERSION = JSON.parse(
  fs.readFileSync(path.join(path.dirname(require.resolve("engine.io-v3")), "..", "package.json"), "utf8")
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

// (engine.io 3 replaces 0 by its default: `opts.pingTimeout || 20000`.)
const opts = {
  pingInterval: envInt("EIO_PING_INTERVAL_MS", 25000),
  pingTimeout: envInt("EIO_PING_TIMEOUT_MS", 20000),
  maxHttpBufferSize: envInt("EIO_MAX_PAYLOAD", 1000000),
  transports: ["polling", "websocket"],
  allowUpgrades: true,
  // path defaults to "/engine.io/"
};
const COOKIE_ENV = process.env.EIO_COOKIE;
if (COOKIE_ENV === "0") {
  opts.cookie = false;
} else if (COOKIE_ENV !== undefined && COOKIE_ENV !== "" && COOKIE_ENV !== "1") {
  process.stderr.write(`invalid EIO_COOKIE=${JSON.stringify(COOKIE_ENV)} (use 1 or 0)\n`);
  process.exit(2);
}
// otherwise: engine.io 3's default cookie "io" (path "/", HttpOnly, SameSite=Strict)
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
if (COOKIE_ENV === "1") {
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
    // engine.io-parser 2 decodes an empty message ("4") as "" (or undefined).
    if (data === undefined || data === null) data = "";
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
      // engine.io 3 hands binary data over as a Buffer (polling and websocket)
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

let shuttingDown = false;
function shutdown(why) {
  if (shuttingDown) return;
  shuttingDown = true;
  log(`SHUTDOWN ${why}`);
  try {
    eio.close(); // closes every client ("forced close")
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

httpServer.listen(0, "127.0.0.1", () => {
  const { port } = httpServer.address();
  log(
    `engine.io ${ENGINE_IO_VERSION} (protocol v3) pingInterval=${opts.pingInterval} ` +
      `pingTimeout=${opts.pingTimeout} maxHttpBufferSize=${opts.maxHttpBufferSize} ` +
      `cookie=${opts.cookie === false ? "off" : "io"} connectMessage=${connectMessage === undefined ? "off" : JSON.stringify(connectMessage)}`
  );
  out(`LISTENING ${port}`);
});
