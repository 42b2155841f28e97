// Connection state recovery across nodes with the streams adapter: a
// socket.io-client drops off one node and reconnects to another; it gets
// its id back and the packets it missed. Rust to Rust, and Node
// (@socket.io/redis-streams-adapter 0.3.1) to Rust.

import assert from "node:assert/strict";
import { test } from "node:test";
import { createClient } from "redis";
import { io as connect } from "socket.io-client";
import { client, startNode, startRedis, waitForServers } from "./cluster-helpers.js";

const TIMEOUT = 60_000;

async function until(what, f, ms = 5_000) {
  const deadline = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

for (const first of ["rust", "node"]) {
  test(`a session moves from a ${first} node to a Rust node`, { timeout: TIMEOUT }, async (t) => {
    const redis = await startRedis(t);
    const [from, to, other] = await Promise.all([
      startNode(t, first, redis.url, "from", "redis-streams", ["--recovery"]),
      startNode(t, "rust", redis.url, "to", "redis-streams", ["--recovery"]),
      startNode(t, "rust", redis.url, "other", "redis-streams", ["--recovery"]),
    ]);
    const sender = await client(t, other, "sender");
    const store = createClient({ url: redis.url });
    store.on("error", () => {});
    await store.connect();
    t.after(() => store.disconnect());

    const socket = connect(`http://127.0.0.1:${from.port}`, {
      transports: ["websocket"],
      forceNew: true,
      reconnection: false,
    });
    t.after(() => socket.disconnect());
    const events = [];
    socket.onAny((event, ...args) => events.push([event, ...args]));
    await new Promise((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("connect_error", reject);
    });
    await waitForServers([sender], 3);
    const id = socket.id;
    assert.equal(await socket.emitWithAck("join", "news"), "ok");
    await sender.emitWithAck("emit-to", { rooms: ["news"], event: "before", data: 1 });
    await until("the first event", () => events.some(([e]) => e === "before"));

    // Drop off: the session is kept under sio:session:<pid>.
    socket.io.engine.close();
    await until("the session in Redis", async () => (await store.exists(`sio:session:${socket._pid}`)) === 1);
    await sender.emitWithAck("emit-to", { rooms: ["news"], event: "missed", data: 2 });
    await sender.emitWithAck("emit-to", { rooms: ["elsewhere"], event: "not-for-it", data: 3 });
    await sender.emitWithAck("emit-to", { event: "everyone", data: 4 });
    await until("three entries after the first", async () => (await store.xLen("socket.io")) >= 4);

    // Back, on another node.
    socket.io.uri = `http://127.0.0.1:${to.port}`;
    socket.connect();
    await new Promise((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("connect_error", reject);
    });
    assert.equal(socket.recovered, true, "recovered");
    assert.equal(socket.id, id, "same id");
    await until("the missed events", () => events.some(([e]) => e === "everyone"));
    const names = events.map(([e]) => e);
    assert.deepEqual(names, ["before", "missed", "everyone"]);
    // Its room came along.
    await sender.emitWithAck("emit-to", { rooms: ["news"], event: "after", data: 5 });
    await until("a room event on the new node", () => events.some(([e]) => e === "after"));
  });
}
