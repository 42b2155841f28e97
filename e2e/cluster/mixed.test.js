// A mixed cluster on one Redis, for the classic adapter (createAdapter),
// the sharded one (createShardedAdapter) and the streams adapter
// (@socket.io/redis-streams-adapter 0.3): two Sockeye nodes
// (crates/sockeye-redis, example cluster_node) and one Node socket.io 4.8
// node with @socket.io/redis-adapter 8.3, a socket.io-client on each.
// Every operation is started from each node in turn and must reach the
// clients of the two others.

import assert from "node:assert/strict";
import { test } from "node:test";
import { client, got, received, startNode, startRedis, waitForServers } from "./cluster-helpers.js";

const TIMEOUT = 60_000;

async function cluster(t, adapter) {
  const redis = await startRedis(t);
  const nodes = await Promise.all([
    startNode(t, "rust", redis.url, "rust-1", adapter),
    startNode(t, "rust", redis.url, "rust-2", adapter),
    startNode(t, "node", redis.url, "node-1", adapter),
  ]);
  const clients = [];
  for (const n of nodes) clients.push(await client(t, n, `client-of-${n.name}`));
  await waitForServers(clients, 3);
  for (const c of clients) {
    assert.equal(await c.emitWithAck("join", "all"), "ok");
    assert.equal(await c.emitWithAck("join", `room-${c.label}`), "ok");
  }
  return { redis, nodes, clients };
}

for (const adapter of ["redis", "redis-sharded", "redis-streams"]) {
  test(`${adapter}: broadcasts, rooms and except cross in every direction`, { timeout: TIMEOUT }, async (t) => {
    const { clients } = await cluster(t, adapter);
    for (const [i, sender] of clients.entries()) {
      const other = clients[(i + 1) % 3];
      const third = clients[(i + 2) % 3];
      // Everyone.
      await sender.emitWithAck("emit-to", { rooms: ["all"], event: "hello", data: sender.label });
      for (const c of clients) await received(c, "hello", sender.label);
      // One room (its own channel), on another node.
      await sender.emitWithAck("emit-to", { rooms: [`room-${other.label}`], event: "room", data: sender.label });
      // Except one node's client.
      await sender.emitWithAck("emit-to", { except: [`room-${third.label}`], event: "except", data: sender.label });
      // A marker after both: once it arrived, the earlier ones have too.
      await sender.emitWithAck("emit-to", { event: "marker", data: sender.label });
      for (const c of clients) await received(c, "marker", sender.label);
      for (const c of clients) {
        assert.equal(got(c, "room", sender.label), c === other, `${c.label} and room of ${other.label}`);
        assert.equal(got(c, "except", sender.label), c !== third, `${c.label} and except ${third.label}`);
      }
    }
  });

  test(`${adapter}: broadcast acks count the clients of every node`, { timeout: TIMEOUT }, async (t) => {
    const { clients } = await cluster(t, adapter);
    const everyone = clients.map((c) => c.label).sort();
    for (const sender of clients) {
      const reply = await sender.emitWithAck("ask", { rooms: ["all"], timeout: 3000 });
      assert.deepEqual(reply, { answers: everyone }, `asked from ${sender.label}`);
    }
    // One room on another node.
    const reply = await clients[2].emitWithAck("ask", { rooms: [`room-${clients[0].label}`], timeout: 3000 });
    assert.deepEqual(reply, { answers: [clients[0].label] });
  });

  test(`${adapter}: fetchSockets, serverSideEmit with acks and remote joins`, { timeout: TIMEOUT }, async (t) => {
    const { nodes, clients } = await cluster(t, adapter);
    const ids = clients.map((c) => c.id).sort();
    for (const [i, sender] of clients.entries()) {
      assert.deepEqual(await sender.emitWithAck("fetch", { rooms: ["all"] }), ids, `fetch from ${sender.label}`);
      const others = nodes.filter((_, j) => j !== i).map((n) => n.name).sort();
      assert.deepEqual(await sender.emitWithAck("server-side"), others, `server-side from ${sender.label}`);
      // Remote join of the next node's client, then a broadcast to that room.
      const target = clients[(i + 1) % 3];
      const room = `joined-by-${sender.label}`;
      assert.equal(await sender.emitWithAck("remote-join", { id: target.id, room }), 1);
      // The join travels as a request: wait until the room reaches the target.
      const deadline = Date.now() + 5_000;
      for (;;) {
        const found = await sender.emitWithAck("fetch", { rooms: [room] });
        if (found.length === 1) break;
        assert.ok(Date.now() < deadline, `remote join by ${sender.label}`);
      }
      assert.deepEqual(await sender.emitWithAck("fetch", { rooms: [room] }), [target.id]);
      await sender.emitWithAck("emit-to", { rooms: [room], event: "joined", data: sender.label });
      await received(target, "joined", sender.label);
    }
  });
}
