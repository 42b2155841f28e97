// Redis killed in the middle of a mixed cluster (two Sockeye nodes, one
// Node node, classic adapter) and restarted on the same port: each node
// keeps serving its own clients, cluster calls fail with an error in
// time, and cross-node delivery resumes without restarting anything.

import assert from "node:assert/strict";
import { test } from "node:test";
import { client, got, received, startNode, startRedis, waitForServers } from "./cluster-helpers.js";

const TIMEOUT = 60_000;

test("a Redis outage in a mixed cluster", { timeout: TIMEOUT }, async (t) => {
  const redis = await startRedis(t);
  const nodes = await Promise.all([
    startNode(t, "rust", redis.url, "rust-1"),
    startNode(t, "rust", redis.url, "rust-2"),
    startNode(t, "node", redis.url, "node-1"),
  ]);
  const clients = [];
  for (const n of nodes) clients.push(await client(t, n, `client-of-${n.name}`));
  await waitForServers(clients, 3);
  for (const c of clients) assert.equal(await c.emitWithAck("join", `room-${c.label}`), "ok");
  const [r1, r2, n1] = clients;

  await redis.stop();
  // Local delivery and acks go on on the Sockeye nodes.
  for (const c of [r1, r2]) {
    assert.equal(await c.emitWithAck("emit-to", { rooms: [`room-${c.label}`], event: "local", data: c.label }), true);
    await received(c, "local", c.label);
  }
  // Cluster calls fail with an error, in time.
  const started = Date.now();
  const fetched = await r1.timeout(15_000).emitWithAck("fetch", { rooms: ["x"] });
  assert.ok(fetched.error, JSON.stringify(fetched));
  assert.ok(Date.now() - started < 10_000, `${Date.now() - started} ms`);

  await redis.start();
  // Cross-node delivery resumes by itself, in every direction.
  let n = 0;
  const deadline = Date.now() + 20_000;
  for (;;) {
    n += 1;
    await r1.emitWithAck("emit-to", { event: "after", data: n });
    await n1.emitWithAck("emit-to", { event: "after-node", data: n });
    await new Promise((r) => setTimeout(r, 100));
    const done =
      got(r2, "after", n) && got(n1, "after", n) && got(r1, "after-node", n) && got(r2, "after-node", n);
    if (done) break;
    assert.ok(Date.now() < deadline, "cluster delivery never resumed");
  }
  assert.deepEqual(await r2.emitWithAck("fetch", {}), clients.map((c) => c.id).sort());
});
