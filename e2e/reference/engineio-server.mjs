#!/usr/bin/env node
// Node reference implementation of the `sockeye-testserver engineio` CLI
// contract, built on the npm `engine.io` package. The e2e tests run against
// it (SOCKEYE_TESTSERVER=node-reference) to prove that they encode the
// behaviour of the reference server, and the Rust binary must behave the same.
//
// Contract:
//   engineio-server.mjs engineio [--host 127.0.0.1] [--port 0]
//     [--path /engine.io/] [--ping-interval MS] [--ping-timeout MS]
//     [--max-payload BYTES] [--allow-eio3] [--cors-any]
//     [--transports polling,websocket]
// - prints exactly one first line `listening on <host>:<port>` once ready;
// - echoes every text and binary message back to its sender;
// - a text message exactly `__close__` closes that session (not echoed);
// - exits on SIGTERM.

import http from "node:http";
import process from "node:process";
import { attach } from "engine.io";

function usage(message) {
  process.stderr.write(
    `error: ${message}\n` +
      "usage: engineio-server.mjs engineio [--host H] [--port P] [--path P]\n" +
      "         [--ping-interval MS] [--ping-timeout MS] [--max-payload BYTES]\n" +
      "         [--allow-eio3] [--cors-any] [--transports polling,websocket]\n",
  );
  process.exit(2);
}

function parseNonNegativeInt(flag, value) {
  if (value === undefined || !/^\d+$/.test(value)) {
    usage(`${flag} expects a non-negative integer, got ${JSON.stringify(value)}`);
  }
  return Number(value);
}

function parseArgs(argv) {
  const [mode, ...rest] = argv;
  if (mode !== "engineio") {
    usage(`unknown mode ${JSON.stringify(mode)} (only "engineio" is supported)`);
  }
  const config = {
    host: "127.0.0.1",
    port: 0,
    path: "/engine.io/",
    pingInterval: undefined,
    pingTimeout: undefined,
    maxPayload: undefined,
    allowEIO3: false,
    corsAny: false,
    transports: undefined,
  };
  for (let i = 0; i < rest.length; i++) {
    const flag = rest[i];
    const value = () => {
      i += 1;
      if (i >= rest.length) usage(`${flag} expects a value`);
      return rest[i];
    };
    switch (flag) {
      case "--host":
        config.host = value();
        break;
      case "--port":
        config.port = parseNonNegativeInt(flag, value());
        break;
      case "--path":
        config.path = value();
        break;
      case "--ping-interval":
        config.pingInterval = parseNonNegativeInt(flag, value());
        break;
      case "--ping-timeout":
        config.pingTimeout = parseNonNegativeInt(flag, value());
        break;
      case "--max-payload":
        config.maxPayload = parseNonNegativeInt(flag, value());
        break;
      case "--allow-eio3":
        config.allowEIO3 = true;
        break;
      case "--cors-any":
        config.corsAny = true;
        break;
      case "--transports": {
        const list = value()
          .split(",")
          .map((s) => s.trim())
          .filter((s) => s.length > 0);
        for (const t of list) {
          if (t !== "polling" && t !== "websocket") usage(`unknown transport ${JSON.stringify(t)}`);
        }
        if (list.length === 0) usage("--transports expects at least one transport");
        config.transports = list;
        break;
      }
      default:
        usage(`unknown argument ${JSON.stringify(flag)}`);
    }
  }
  return config;
}

const config = parseArgs(process.argv.slice(2));

// Only pass options that were given, so the engine's own defaults apply
// otherwise (engine.io merges with Object.assign: an explicit `undefined`
// would override a default).
const engineOptions = { path: config.path, allowEIO3: config.allowEIO3 };
if (config.pingInterval !== undefined) engineOptions.pingInterval = config.pingInterval;
if (config.pingTimeout !== undefined) engineOptions.pingTimeout = config.pingTimeout;
if (config.maxPayload !== undefined) engineOptions.maxHttpBufferSize = config.maxPayload;
if (config.transports !== undefined) engineOptions.transports = config.transports;
if (config.corsAny) engineOptions.cors = { origin: "*" };

// Requests outside the engine path. Registered before `attach`, which wraps
// the existing "request" listeners and only calls them for other paths.
const httpServer = http.createServer((req, res) => {
  res.writeHead(404, { "Content-Type": "text/plain" });
  res.end("Not Found");
});
const engine = attach(httpServer, engineOptions);

engine.on("connection", (socket) => {
  socket.on("message", (data) => {
    if (data === "__close__") {
      socket.close();
      return;
    }
    socket.send(data);
  });
});

let shuttingDown = false;
function shutdown() {
  if (shuttingDown) return;
  shuttingDown = true;
  engine.close();
  httpServer.close();
  httpServer.closeAllConnections?.();
  process.exit(0);
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);

httpServer.listen(config.port, config.host, () => {
  const { port } = httpServer.address();
  process.stdout.write(`listening on ${config.host}:${port}\n`);
});
