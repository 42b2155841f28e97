// sockeye-chat as a cluster, one node stopped gracefully (SIGTERM): the
// users of the stopped node leave the chat for everyone on the other nodes.
// Its disconnect handlers run during the shutdown, and what they send
// (`user left` through the adapter, the nickname freed in the chat's Redis
// hash) must reach Redis before the node exits, for every adapter the chat
// offers (and the streams adapter's recoverable broadcasts, --recovery).

import assert from "node:assert/strict";
import { test } from "node:test";
import { createClient } from "redis";
import { connect, login, startChat } from "../tests/chat-helpers.js";
import { startRedis } from "./cluster-helpers.js";

const TIMEOUT = 60_000;
/** How long a `user left` may take to arrive once the stopped node is gone. */
const LEFT_WITHIN = 5_000;

/** `promise`, or a failure naming `what` after `ms`. */
function within(promise, ms, what) {
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

const cases = [
  ["redis"],
  ["redis-sharded"],
  ["redis-streams"],
  ["redis-streams", "--recovery"],
];

for (const [adapter, ...extra] of cases) {
  const name = [adapter, ...extra].join(" ");
  test(`${name}: the users of a node stopped with SIGTERM leave the chat on the other nodes`, { timeout: TIMEOUT }, async (t) => {
    const redis = await startRedis(t);
    const args = ["--redis", redis.url, "--adapter", adapter, ...extra];
    const staying = await startChat(t, args);
    // Not registered with `t`: stopped during the test (its exit checked here).
    const stopping = await startChat(null, args);
    t.after(() => stopping.kill("SIGKILL").catch(() => {}));

    const alice = await connect(t, staying.url, { transports: ["websocket"] });
    await login(alice, "alice");
    const bob = await connect(t, stopping.url, { transports: ["websocket"] });
    const bobLogin = (await login(bob, "bob")).login;
    assert.deepEqual([...bobLogin.users].sort(), ["alice", "bob"]);
    assert.deepEqual(await alice.rec.next("user joined"), { username: "bob", numUsers: 2 });

    const bobGone = new Promise((resolve) => bob.socket.once("disconnect", resolve));
    const { code, signal } = await stopping.kill("SIGTERM");
    assert.equal(code, 0, `the stopped node exited with code ${code} (signal ${signal})`);
    await within(bobGone, LEFT_WITHIN, "bob's disconnect");

    // The notice of the stopped node's user, with the new count.
    const left = await within(alice.rec.next("user left"), LEFT_WITHIN, "alice waiting for bob's `user left`");
    assert.deepEqual(left, { username: "bob", numUsers: 1 });
    assert.deepEqual(alice.rec.all("user left"), [left]);

    // The chat's user list in Redis: bob's nickname was freed by his node.
    const store = createClient({ url: redis.url });
    store.on("error", () => {});
    await store.connect();
    t.after(() => store.disconnect());
    assert.deepEqual({ ...(await store.hGetAll("sockeye-chat:users")) }, { alice: alice.socket.id });

    // A newcomer on the remaining node sees the updated user list.
    const carol = await connect(t, staying.url, { transports: ["websocket"] });
    const carolLogin = (await login(carol, "carol")).login;
    assert.equal(carolLogin.numUsers, 2);
    assert.deepEqual([...carolLogin.users].sort(), ["alice", "carol"]);
    assert.deepEqual(await alice.rec.next("user joined"), { username: "carol", numUsers: 2 });
  });
}
