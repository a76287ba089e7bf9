#!/usr/bin/env node
// A real engine.io 3.6.2 server (protocol v3, the engine of socket.io 2.x), to check that
// the v4 client recognises it and says so. Prints `LISTENING <port>`; exits when stdin
// ends.
"use strict";

const http = require("http");
const engine = require("engine.io-v3");

const httpServer = http.createServer();
const eio = engine.attach(httpServer);
eio.on("connection", (socket) => {
  socket.on("message", (data) => socket.send(data));
});
httpServer.listen(0, "127.0.0.1", () => {
  process.stdout.write(`LISTENING ${httpServer.address().port}\n`);
});
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
