// One Node node of a test cluster: socket.io 4.8 with
// @socket.io/redis-adapter (createAdapter), the twin of
// crates/sockeye-redis/examples/cluster_node.rs (same events, same
// answers). Usage: node cluster-node.mjs --port 0 --redis URL --name NAME
// [--adapter redis|redis-sharded|redis-streams] [--recovery]
// Prints `listening on 127.0.0.1:PORT` once ready.

import { createServer } from "node:http";
import process from "node:process";
import { Server } from "socket.io";
import { createAdapter, createShardedAdapter } from "@socket.io/redis-adapter";
import { createAdapter as createStreamsAdapter } from "@socket.io/redis-streams-adapter";
import { createClient } from "redis";

const args = { port: 0, redis: "redis://127.0.0.1:6379", name: "node", adapter: "redis", recovery: false };
for (let i = 2; i < process.argv.length; i += 1) {
  const key = process.argv[i].replace(/^--/, "");
  if (key === "recovery") {
    args.recovery = true;
  } else {
    args[key] = process.argv[++i];
  }
}

const pub = createClient({ url: args.redis });
const sub = pub.duplicate();
pub.on("error", () => {});
sub.on("error", () => {});
await Promise.all([pub.connect(), sub.connect()]);

const http = createServer();
const adapters = {
  redis: () => createAdapter(pub, sub),
  "redis-sharded": () => createShardedAdapter(pub, sub),
  "redis-streams": () => createStreamsAdapter(pub),
};
if (!adapters[args.adapter]) {
  console.error(`unknown adapter ${args.adapter}`);
  process.exit(2);
}
const io = new Server(http, {
  adapter: adapters[args.adapter](),
  // --recovery: connection state recovery (with redis-streams, across nodes).
  ...(args.recovery ? { connectionStateRecovery: { maxDisconnectionDuration: 120_000 } } : {}),
});

const list = (v) => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
const sorted = (a) => [...a].sort((x, y) => (JSON.stringify(x) < JSON.stringify(y) ? -1 : 1));

// Server-side events are emitted on the namespace.
io.of("/").on("who", (cb) => cb(args.name));

io.on("connection", (socket) => {
  socket.on("join", (room, ack) => {
    socket.join(room);
    ack("ok");
  });
  socket.on("leave", (room, ack) => {
    socket.leave(room);
    ack("ok");
  });
  socket.on("emit-to", (v, ack) => {
    io.to(list(v.rooms)).except(list(v.except)).emit(v.event ?? "x", v.data ?? null);
    ack(true);
  });
  socket.on("ask", async (v, ack) => {
    try {
      const answers = await io
        .to(list(v.rooms))
        .timeout(v.timeout ?? 2000)
        .emitWithAck("question", 1);
      ack({ answers: sorted(answers) });
    } catch (e) {
      ack({ error: e.message, answers: sorted(e.responses ?? []) });
    }
  });
  socket.on("fetch", async (v, ack) => {
    try {
      const sockets = await io.in(list(v.rooms)).fetchSockets();
      ack(sockets.map((s) => s.id).sort());
    } catch (e) {
      ack({ error: e.message });
    }
  });
  socket.on("remote-join", async (v, ack) => {
    const found = await io.in(v.id).fetchSockets();
    for (const s of found) s.join(v.room);
    ack(found.length);
  });
  socket.on("server-side", async (ack) => {
    try {
      ack(sorted(await io.serverSideEmitWithAck("who")));
    } catch (e) {
      ack({ error: e.message });
    }
  });
  socket.on("server-count", async (ack) => {
    ack(await io.of("/").adapter.serverCount());
  });
});

http.listen(Number(args.port), "127.0.0.1", () => {
  console.log(`listening on 127.0.0.1:${http.address().port}`);
});

for (const sig of ["SIGTERM", "SIGINT"]) {
  process.on(sig, () => {
    io.close();
    Promise.allSettled([pub.disconnect(), sub.disconnect()]).then(() => process.exit(0));
  });
}
