// sockeye-chat as a cluster: three nodes with --redis on a private
// redis-server, socket.io-client users spread over them. The same events
// as on one node, with cluster-wide numUsers, user list, history, unique
// nicknames and private messages.

import assert from "node:assert/strict";
import { test } from "node:test";
import { ack, connect, login, runChatExpectingFailure, startChat } from "../tests/chat-helpers.js";
import { createClient } from "redis";
import { startRedis } from "./cluster-helpers.js";

const TIMEOUT = 60_000;

for (const adapter of ["redis", "redis-sharded", "redis-streams"]) {
  test(`${adapter}: the chat across three nodes`, { timeout: TIMEOUT }, async (t) => {
    const redis = await startRedis(t);
    const nodes = [];
    for (let i = 0; i < 3; i++) nodes.push(await startChat(t, ["--redis", redis.url, "--adapter", adapter]));
    const on = (i) => connect(t, nodes[i].url, { transports: ["websocket"] });

    const alice = await on(0);
    assert.equal((await login(alice, "alice")).login.numUsers, 1);
    const bob = await on(1);
    const bobLogin = (await login(bob, "bob")).login;
    assert.equal(bobLogin.numUsers, 2);
    assert.deepEqual([...bobLogin.users].sort(), ["alice", "bob"]);
    assert.deepEqual(await alice.rec.next("user joined"), { username: "bob", numUsers: 2 });
    const carol = await on(2);
    assert.equal((await login(carol, "carol")).login.numUsers, 3);
    assert.deepEqual(await bob.rec.next("user joined"), { username: "carol", numUsers: 3 });

    // Nicknames are unique across the cluster (ignoring case).
    const dave = await on(2);
    const refused = await ack(dave.socket, "add user", "ALICE");
    assert.equal(refused.ok, false);
    assert.match(refused.error, /taken/);

    // A message reaches every node and lands in the shared history.
    const sent = await ack(alice.socket, "new message", "hello cluster");
    assert.ok(sent.id);
    for (const c of [bob, carol]) {
      const m = await c.rec.next("new message");
      assert.equal(m.username, "alice");
      assert.equal(m.message, "hello cluster");
    }
    const erin = await on(1);
    const erinLogin = (await login(erin, "erin")).login;
    assert.equal(erinLogin.numUsers, 4);
    assert.deepEqual(
      erinLogin.history.map((m) => [m.username, m.message]),
      [["alice", "hello cluster"]],
    );
    // Typing crosses nodes.
    bob.socket.emit("typing");
    assert.deepEqual(await carol.rec.next("typing"), { username: "bob" });
    // A private message to a user on another node, with the sender's ack.
    const pm = await ack(alice.socket, "private message", { to: "Carol", message: "psst" });
    assert.equal(pm.ok, true);
    const got = await carol.rec.next("private message");
    assert.equal(got.from, "alice");
    assert.equal(got.message, "psst");
    const none = await ack(alice.socket, "private message", { to: "nobody", message: "x" });
    assert.equal(none.ok, false);
    // Leaving frees the nickname and counts the cluster.
    bob.socket.disconnect();
    assert.deepEqual(await alice.rec.next("user left"), { username: "bob", numUsers: 3 });
    const bob2 = await on(2);
    assert.equal((await login(bob2, "bob")).login.numUsers, 4);
  });
}

test("a bad or unreachable --redis is a clear error with exit code 2", { timeout: TIMEOUT }, async () => {
  const unreachable = await runChatExpectingFailure(["--redis", "redis://127.0.0.1:1"]);
  assert.equal(unreachable.code, 2);
  assert.match(unreachable.stderr, /--redis/);
  const malformed = await runChatExpectingFailure(["--redis", "nope://x"]);
  assert.equal(malformed.code, 2);
  assert.match(malformed.stderr, /--redis/);
});

test("--recovery with redis-streams: a user comes back on another node", { timeout: TIMEOUT }, async (t) => {
  const redis = await startRedis(t);
  const args = ["--redis", redis.url, "--adapter", "redis-streams", "--recovery"];
  const nodes = [await startChat(t, args), await startChat(t, args)];
  const alice = await connect(t, nodes[0].url, { transports: ["websocket"] });
  await login(alice, "alice");
  const bob = await connect(t, nodes[1].url, { transports: ["websocket"] });
  await login(bob, "bob");
  await ack(bob.socket, "new message", "first");
  await alice.rec.next("new message", (m) => m.message === "first");
  const id = alice.socket.id;
  // Alice drops off node 0; Bob writes meanwhile; she comes back on node 1.
  const gone = new Promise((r) => alice.socket.once("disconnect", r));
  alice.socket.io.engine.close();
  await gone;
  const store = createClient({ url: redis.url });
  store.on("error", () => {});
  await store.connect();
  t.after(() => store.disconnect());
  const deadline = Date.now() + 5_000;
  while ((await store.exists(`sio:session:${alice.socket._pid}`)) !== 1) {
    assert.ok(Date.now() < deadline, "the session was never persisted");
    await new Promise((r) => setTimeout(r, 20));
  }
  await ack(bob.socket, "new message", "while away");
  alice.socket.io.uri = nodes[1].url;
  alice.socket.connect();
  await new Promise((resolve, reject) => {
    alice.socket.once("connect", resolve);
    alice.socket.once("connect_error", reject);
  });
  assert.equal(alice.socket.recovered, true);
  assert.equal(alice.socket.id, id);
  const missed = await alice.rec.next("new message", (m) => m.message === "while away");
  assert.equal(missed.username, "bob");
  // Still logged in as alice, on the new node.
  const sent = await ack(alice.socket, "new message", "back");
  assert.ok(sent.id, JSON.stringify(sent));
  assert.equal((await bob.rec.next("new message", (m) => m.message === "back")).username, "alice");
});
