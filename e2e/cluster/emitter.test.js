// The emitters across implementations: Node's @socket.io/redis-emitter
// 5.1 reaches Sockeye's clients, and Sockeye's Rust emitter (example
// `emit`) reaches the clients of a Node socket.io 4.8 node with
// @socket.io/redis-adapter.

import assert from "node:assert/strict";
import { test } from "node:test";
import { Emitter } from "@socket.io/redis-emitter";
import { createClient } from "redis";
import { client, got, received, rustEmit, startNode, startRedis, waitForServers } from "./cluster-helpers.js";

const TIMEOUT = 60_000;

test("the Node emitter reaches Sockeye clients, the Rust emitter Node clients", { timeout: TIMEOUT }, async (t) => {
  const redis = await startRedis(t);
  const nodes = await Promise.all([
    startNode(t, "rust", redis.url, "rust-1"),
    startNode(t, "node", redis.url, "node-1"),
  ]);
  const rust = await client(t, nodes[0], "on-rust");
  const node = await client(t, nodes[1], "on-node");
  await waitForServers([rust, node], 2);
  assert.equal(await rust.emitWithAck("join", "r"), "ok");
  assert.equal(await node.emitWithAck("join", "n"), "ok");

  const pub = createClient({ url: redis.url });
  pub.on("error", () => {});
  await pub.connect();
  t.after(() => pub.disconnect());
  const emitter = new Emitter(pub);

  // Node emitter: everyone, a room on the Sockeye node, binary.
  emitter.emit("from-node-emitter", 1);
  await received(rust, "from-node-emitter", 1);
  await received(node, "from-node-emitter", 1);
  emitter.to("r").emit("room", "r only");
  emitter.to("r").emit("bin", Buffer.from([1, 2, 3]));
  emitter.emit("marker", 1);
  await received(rust, "marker", 1);
  await received(node, "marker", 1);
  assert.ok(got(rust, "room", "r only"));
  assert.ok(!got(node, "room", "r only"));
  const bin = rust.events.find(([e]) => e === "bin");
  assert.deepEqual([...new Uint8Array(bin[1])], [1, 2, 3]);
  // Node emitter: a join on the Sockeye node, then a broadcast there.
  emitter.in(rust.id).socketsJoin("joined-by-emitter");
  const deadline = Date.now() + 5_000;
  while ((await rust.emitWithAck("fetch", { rooms: ["joined-by-emitter"] })).length !== 1) {
    assert.ok(Date.now() < deadline, "the emitter's join");
  }
  emitter.to("joined-by-emitter").emit("joined", true);
  await received(rust, "joined", true);

  // Rust emitter: everyone, then a room on the Node node.
  assert.equal(await rustEmit(redis.url, { event: "from-rust-emitter", data: { a: 1 } }), 0);
  await received(node, "from-rust-emitter", { a: 1 });
  await received(rust, "from-rust-emitter", { a: 1 });
  assert.equal(await rustEmit(redis.url, { room: "n", event: "room-n", data: "n only" }), 0);
  assert.equal(await rustEmit(redis.url, { event: "marker", data: 2 }), 0);
  await received(node, "marker", 2);
  await received(rust, "marker", 2);
  assert.ok(got(node, "room-n", "n only"));
  assert.ok(!got(rust, "room-n", "n only"));
});
