// A node killed behind a round-robin HAProxy with no stickiness: three
// forwarding `sockeye-chat --redis` nodes, health checks and `option
// redispatch`. The node that owns the polling user's session is killed
// (-9) mid-chat: that user reconnects through the proxy (to the nodes
// left), logs in again and chats on; so does anyone whose request was in
// flight through the dead node; afterwards every message still arrives
// once and in order, and HAProxy has taken the node out.

import test from "node:test";
import { ack } from "../tests/chat-helpers.js";
import { burst, login, pingPong, user, whisper } from "./chat-scenario.js";
import { assert, startHaproxy, startNodes, until } from "./proxy-helpers.js";

const RECONNECT = { reconnectionDelay: 200, reconnectionDelayMax: 500, randomizationFactor: 0 };

/** The first 4 characters of a sid name the node that owns it: each node's, from a handshake of its own. */
async function tagOf(node) {
  const res = await fetch(`${node.url}/socket.io/?EIO=4&transport=polling`, { headers: { connection: "close" } });
  const sid = JSON.parse((await res.text()).slice(1)).sid;
  return sid.slice(0, 4);
}

/**
 * Waits until `u` is connected again; when its session is new (not
 * recovered) logs it in again and resolves to how long the nickname stayed
 * taken (ms): a session whose WebSocket was relayed by the dead node lives
 * on at its owner until the owner sees the relay's node die (its lease,
 * 3 s), and holds the nickname until then. Resolves to null when the user
 * kept its session.
 */
async function back(u) {
  await until(`${u.name} connected again`, () => u.socket.connected, 20_000);
  if (u.socket.io.engine.id === u.sid || u.socket.recovered) return null;
  u.sid = u.socket.io.engine.id;
  const t0 = Date.now();
  for (;;) {
    const res = await ack(u.socket, "add user", u.name);
    if (res?.ok === true) break;
    assert.match(res?.error ?? "", /taken/, `${u.name}: ${JSON.stringify(res)}`);
    assert.ok(Date.now() - t0 < 10_000, `${u.name}'s nickname still taken after 10 s`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  await u.rec.next("login");
  return Date.now() - t0;
}

test("round robin, no stickiness: the owner of a session is killed; its user reconnects elsewhere and everyone chats on", { timeout: 120_000 }, async (t) => {
  const { nodes } = await startNodes(t, 3);
  const tags = await Promise.all(nodes.map(tagOf));
  assert.equal(new Set(tags).size, 3, `node tags ${tags}`);
  const proxy = await startHaproxy(t, { nodes });

  const users = [];
  for (const [i, mode] of ["polling", "upgrade", "websocket"].entries()) {
    users.push(await user(t, proxy.url, `user${i + 1}-${mode}`, mode, RECONNECT));
  }
  for (const u of users) await login(u);
  await burst(users, 10, "before");

  const [victim] = users;
  const owner = nodes[tags.indexOf(victim.sid.slice(0, 4))];
  assert.ok(owner, `the owner of ${victim.sid}`);
  const oldSid = victim.sid;
  const lost = new Promise((resolve) => victim.socket.once("disconnect", resolve));
  await owner.crash();
  assert.match(await lost, /transport (error|close)/);

  // Everybody is (again) connected and logged in; the victim on a new
  // session owned by a live node.
  const relogged = [];
  for (const u of users) {
    const waited = await back(u);
    if (waited !== null) relogged.push(`${u.name} (nickname free after ${waited} ms)`);
  }
  assert.ok(relogged.some((r) => r.startsWith(victim.name)), `logged in again: ${relogged}`);
  assert.notEqual(victim.sid, oldSid);
  const live = nodes.filter((n) => n !== owner).map((n) => tags[nodes.indexOf(n)]);
  assert.ok(live.includes(victim.sid.slice(0, 4)), `${victim.sid} owned by a live node (${live})`);
  t.diagnostic(`logged in again after the kill: ${relogged.join(", ")}`);

  // HAProxy's health check took the node out.
  await until("the dead node marked DOWN", async () =>
    (await proxy.stats()).some((r) => r.pxname === "nodes" && r.svname === owner.name && /DOWN/.test(r.status)),
  );
  // Everyone chats on: bursts, turn by turn, private messages, in order.
  await burst(users, 15, "after");
  await pingPong(victim, users[1], 15);
  await whisper(users[2], victim, "welcome back");
  for (const u of users) assert.equal(u.socket.connected, true, `${u.name} connected`);
});
