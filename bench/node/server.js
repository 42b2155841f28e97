// Node socket.io bench server (default options), single process.
//
// Same behaviour as the Rust bench servers:
// - event `echo`: the payload comes back by ack;
// - event `bcast` {n, size}: n events `tick` with a size-byte string to every
//   socket of `/`, back to back (one handler run);
// - event `nick` name: `socket.data.username = name` (as the chat keeps a
//   user's nickname; the `idle_nick` scenario);
// - event `probe-join`: the socket joins room `probe` (answered by ack);
//   event `probe` x: `probe` x to room `probe` (the cluster scenario's
//   cross-node latency probe);
// - prints `listening on ADDR` once ready; `--port P` (default 0);
//   `--redis URL`: a cluster node with `@socket.io/redis-adapter`
//   (createAdapter, the classic adapter) on two node-redis clients.
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
const redisUrl = arg("--redis", "");

io.on("connection", (socket) => {
  socket.on("nick", (name) => {
    socket.data.username = name;
  });
  socket.on("probe-join", (ack) => {
    socket.join("probe");
    if (typeof ack === "function") ack(true);
  });
  socket.on("probe", (data) => {
    io.to("probe").emit("probe", data);
  });
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

async function start() {
  if (redisUrl) {
    const { createClient } = require("redis");
    const { createAdapter } = require("@socket.io/redis-adapter");
    const pubClient = createClient({ url: redisUrl });
    const subClient = pubClient.duplicate();
    await Promise.all([pubClient.connect(), subClient.connect()]);
    io.adapter(createAdapter(pubClient, subClient));
  }
  httpServer.listen(port, "127.0.0.1", listening);
}

function listening() {
  const { address, port: bound } = httpServer.address();
  process.stderr.write(
    `node ${process.version}, socket.io ${require("socket.io/package.json").version}, ` +
      `bufferutil ${nativeModule("bufferutil", "WS_NO_BUFFER_UTIL")}, ` +
      `utf-8-validate ${nativeModule("utf-8-validate", "WS_NO_UTF_8_VALIDATE")}\n`,
  );
  process.stdout.write(`listening on ${address}:${bound}\n`);
}

start().catch((e) => {
  process.stderr.write(`cannot start: ${e}\n`);
  process.exit(1);
});

process.on("SIGTERM", () => process.exit(0));
