// Node socket.io bench server (default options), single process.
//
// Same behaviour as the Rust bench servers:
// - event `echo`: the payload comes back by ack;
// - event `bcast` {n, size}: n events `tick` with a size-byte string to every
//   socket of `/`, back to back (one handler run);
// - prints `listening on ADDR` once ready; `--port P` (default 0).
//
// The `ws` variant is chosen by the environment: with WS_NO_BUFFER_UTIL=1 and
// WS_NO_UTF_8_VALIDATE=1 ws uses its JavaScript code paths (the default when
// the optional modules are not installed); without them it loads the
// bufferutil and utf-8-validate native modules that package.json installs.
"use strict";

const http = require("node:http");
const { Server } = require("socket.io");

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const port = Number(arg("--port", "0"));
const httpServer = http.createServer();
const io = new Server(httpServer);

io.on("connection", (socket) => {
  socket.on("echo", (data, ack) => {
    if (typeof ack === "function") ack(data);
  });
  socket.on("bcast", (cmd) => {
    const n = Number(cmd && cmd.n) || 0;
    const payload = "x".repeat(Number(cmd && cmd.size) || 32);
    for (let i = 0; i < n; i++) {
      io.emit("tick", payload);
    }
  });
});

function nativeModule(name, envVar) {
  if (process.env[envVar]) return "off";
  try {
    require.resolve(name);
    return "on";
  } catch {
    return "missing";
  }
}

httpServer.listen(port, "127.0.0.1", () => {
  const { address, port: bound } = httpServer.address();
  process.stderr.write(
    `node ${process.version}, socket.io ${require("socket.io/package.json").version}, ` +
      `bufferutil ${nativeModule("bufferutil", "WS_NO_BUFFER_UTIL")}, ` +
      `utf-8-validate ${nativeModule("utf-8-validate", "WS_NO_UTF_8_VALIDATE")}\n`,
  );
  process.stdout.write(`listening on ${address}:${bound}\n`);
});

process.on("SIGTERM", () => process.exit(0));
