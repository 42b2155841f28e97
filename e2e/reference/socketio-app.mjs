#!/usr/bin/env node
// Node reference implementation of `sockeye-testserver socketio-app` (the
// application of the Socket.IO e2e tests, e2e/server/src/app.rs), built on
// the npm `socket.io` package. The socketio-*.test.js tests run against it
// with SOCKEYE_TESTSERVER=node-reference to show that they encode the
// reference behaviour; app.rs documents the events.
//
// Contract:
//   socketio-app.mjs socketio-app [--host 127.0.0.1] [--port 0]
//     [--path /socket.io/] [--ping-interval MS] [--ping-timeout MS]
//     [--max-payload BYTES] [--connect-timeout MS] [--msgpack] [--recovery]
//     [--allow-eio3] [--cors-any] [--transports polling,websocket]
// - prints exactly one first line `listening on <host>:<port>` once ready;
// - exits on SIGTERM.

import http from "node:http";
import process from "node:process";
import { Server } from "socket.io";
import msgpackParser from "socket.io-msgpack-parser";

function usage(message) {
  process.stderr.write(
    `error: ${message}\n` +
      "usage: socketio-app.mjs socketio-app [--host H] [--port P] [--path P]\n" +
      "         [--ping-interval MS] [--ping-timeout MS] [--max-payload BYTES]\n" +
      "         [--connect-timeout MS] [--msgpack] [--recovery] [--allow-eio3] [--cors-any]\n" +
      "         [--transports polling,websocket]\n",
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
  if (mode !== "socketio-app") usage(`unknown mode ${JSON.stringify(mode)} (only "socketio-app")`);
  const config = { host: "127.0.0.1", port: 0, options: { path: "/socket.io/" } };
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
        config.options.path = value();
        break;
      case "--ping-interval":
        config.options.pingInterval = parseNonNegativeInt(flag, value());
        break;
      case "--ping-timeout":
        config.options.pingTimeout = parseNonNegativeInt(flag, value());
        break;
      case "--max-payload":
        config.options.maxHttpBufferSize = parseNonNegativeInt(flag, value());
        break;
      case "--connect-timeout":
        config.options.connectTimeout = parseNonNegativeInt(flag, value());
        break;
      case "--recovery":
        config.options.connectionStateRecovery = {};
        break;
      case "--msgpack":
        config.options.parser = msgpackParser;
        break;
      case "--allow-eio3":
        config.options.allowEIO3 = true;
        break;
      case "--cors-any":
        config.options.cors = { origin: "*" };
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
        config.options.transports = list;
        break;
      }
      default:
        usage(`unknown argument ${JSON.stringify(flag)}`);
    }
  }
  return config;
}

const config = parseArgs(process.argv.slice(2));

/** The arguments of an event and its ack callback (or undefined). */
function splitAck(args) {
  if (args.length > 0 && typeof args[args.length - 1] === "function") {
    return [args.slice(0, -1), args[args.length - 1]];
  }
  return [args, undefined];
}

const roomNames = (value) =>
  typeof value === "string" ? [value] : Array.isArray(value) ? value.filter((r) => typeof r === "string") : [];
const sortedRooms = (socket) => [...socket.rooms].sort();

function register(socket) {
  const nsp = socket.nsp;
  socket.emit("welcome", { id: socket.id, nsp: nsp.name });

  socket.on("handshake", (cb) =>
    cb({
      id: socket.id,
      nsp: nsp.name,
      auth: socket.handshake.auth,
      sid: socket.conn.id,
      transport: socket.conn.transport.name,
    }),
  );

  socket.on("echo", (...raw) => {
    const [args, cb] = splitAck(raw);
    if (cb) cb(...args);
    else socket.emit("echo", ...args);
  });

  socket.on("binary", (...raw) => {
    const [args, cb] = splitAck(raw);
    if (cb) cb(...args);
    socket.emit("binary-back", { echoed: args, server: Buffer.from(Array.from({ length: 256 }, (_, i) => i)) });
  });

  socket.on("join", (rooms, cb) => {
    socket.join(roomNames(rooms));
    cb?.(sortedRooms(socket));
  });

  socket.on("leave", (rooms, cb) => {
    for (const room of roomNames(rooms)) socket.leave(room);
    cb?.(sortedRooms(socket));
  });

  socket.on("rooms", (cb) => cb(sortedRooms(socket)));

  socket.on("to-room", (...raw) => {
    const [[rooms, event, ...args], cb] = splitAck(raw);
    socket.to(roomNames(rooms)).emit(event, ...args);
    cb?.("ok");
  });

  socket.on("broadcast", (...raw) => {
    const [[event, ...args], cb] = splitAck(raw);
    socket.broadcast.emit(event, ...args);
    cb?.("ok");
  });

  socket.on("emit-all", (...raw) => {
    const [[event, ...args], cb] = splitAck(raw);
    nsp.emit(event, ...args);
    cb?.("ok");
  });

  socket.on("broadcast-with-ack", (timeoutMs, payload, cb) => {
    const recipients = nsp.sockets.size;
    nsp.timeout(timeoutMs).emit("question", payload, (err, answers) => {
      if (err) cb({ ok: false, error: err.message, answers, missing: recipients - answers.length });
      else cb({ ok: true, answers });
    });
  });

  socket.on("server-ack", (...raw) => {
    const [[payload, timeoutMs], cb] = splitAck(raw);
    socket.timeout(typeof timeoutMs === "number" ? timeoutMs : 5_000).emit("ping-me", payload, (err, answer) => {
      cb(err ? { ok: false, error: err.message } : { ok: true, answer });
    });
  });

  socket.on("server-ack-all", (payload, cb) => {
    socket.timeout(5_000).emit("ping-me", payload, (err, ...args) => {
      cb(err ? { ok: false, error: err.message } : { ok: true, args });
    });
  });

  socket.on("volatile", (n) => {
    for (let i = 0; i < n; i++) socket.volatile.emit("vol", i);
    socket.emit("volatile-done", n);
  });

  socket.on("disconnect-me", (close) => socket.disconnect(close === true));

  socket.on("close-transport", () => socket.conn.close());

  socket.on("disconnect", (reason) => {
    nsp.to("watchers").emit("left", { id: socket.id, nsp: nsp.name, reason });
  });
}

const httpServer = http.createServer((req, res) => {
  res.writeHead(404, { "Content-Type": "text/plain" });
  res.end("not found");
});
const io = new Server(httpServer, config.options);

io.on("connection", register);
const admin = io.of("/admin");
admin.use((socket, next) => {
  if (socket.handshake.auth && socket.handshake.auth.token === "secret") return next();
  const err = new Error("not authorized");
  err.data = { code: 42 };
  return next(err);
});
admin.on("connection", register);
io.of(/^\/dyn-\d+$/).on("connection", register);

httpServer.listen(config.port, config.host, () => {
  const { address, port } = httpServer.address();
  process.stdout.write(`listening on ${address}:${port}\n`);
});

process.once("SIGTERM", () => {
  io.close(() => process.exit(0));
});
