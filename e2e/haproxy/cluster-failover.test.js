// A node lost behind HAProxy: three `sockeye-chat --redis --adapter
// redis-streams --recovery --cookie io` nodes behind `cookie io prefix
// indirect nocache` with health checks and `option redispatch`. One user
// per transport mode, each on its own node.
//
// * kill -9: the node's user reconnects through the proxy to another node
//   (its cookie names the dead one; HAProxy redispatches), logs in again
//   under the same nickname and gets the messages it missed from the chat's
//   history; everybody keeps chatting, the others never notice.
// * SIGTERM: the node persists its sessions as it stops; the user
//   reconnects to another node and recovers its session (same socket id,
//   still logged in, its nickname claimed again) with the messages
//   broadcast while it was away.
//
// A session cannot be recovered from a node that was killed: the session
// is written to Redis by the node holding it when it ends, as in Node's
// adapters.

import test from "node:test";
import { ack } from "../tests/chat-helpers.js";
import { assertUntroubled, burst, login, user, whisper } from "./chat-scenario.js";
import { assert, serversBySid, startHaproxy, startNodes, until } from "./proxy-helpers.js";

const opts = { timeout: 90_000 };
/** Fixed reconnection delay: the window in which the others chat without the lost user. */
const RECONNECT = { reconnectionDelay: 1_000, reconnectionDelayMax: 1_000, randomizationFactor: 0 };

/** Three nodes, HAProxy, three users (polling, upgrade, WebSocket) on three nodes, logged in. */
async function setup(t) {
  const { nodes } = await startNodes(t, 3, ["--cookie", "io", "--adapter", "redis-streams", "--recovery"]);
  const proxy = await startHaproxy(t, { nodes, persistence: ["cookie io prefix indirect nocache"], serverCookies: true });
  const users = [];
  for (const [i, mode] of ["polling", "upgrade", "websocket"].entries()) {
    users.push(await user(t, proxy.url, `user${i + 1}-${mode}`, mode, RECONNECT));
  }
  for (const u of users) await login(u);
  const upgrading = users[1];
  if (upgrading.socket.io.engine.transport.name !== "websocket") {
    await new Promise((resolve) => upgrading.socket.io.engine.once("upgrade", resolve));
  }
  await burst(users, 5, "before");
  return { nodes, proxy, users };
}

/**
 * The server that served `sid` (every request of it went to one), once
 * the access log has one of its requests (logged when answered).
 */
async function homeOf(proxy, sid) {
  await until(`a request of ${sid} in the access log`, () => serversBySid(proxy.log()).has(sid));
  const servers = [...new Set(serversBySid(proxy.log()).get(sid))];
  assert.equal(servers.length, 1, `${sid} on ${servers}`);
  return servers[0];
}

/**
 * Stops the node of `victim` with `stop(node)`; while the victim is away
 * (between its disconnect and its reconnection, 1 s apart), each of the
 * others broadcasts a message. Resolves once the victim is connected again,
 * with {home, away: [texts], reason}.
 */
async function lose(proxy, nodes, users, victim, stop) {
  const home = await homeOf(proxy, victim.sid);
  const node = nodes.find((n) => n.name === home);
  const gone = new Promise((resolve) => victim.socket.once("disconnect", resolve));
  // Connected again: the manager's `reconnect` comes with the Engine.IO
  // handshake, before the namespace's CONNECT reply says `recovered`.
  const back = new Promise((resolve) =>
    victim.socket.once("disconnect", () => victim.socket.once("connect", resolve)),
  );
  await stop(node);
  const reason = await gone;
  const away = [];
  for (const u of users.filter((u) => u !== victim)) {
    const text = `while away from ${u.name}`;
    assert.ok((await ack(u.socket, "new message", text))?.id);
    away.push(text);
  }
  await back;
  return { home, away, reason };
}

test("kill -9 of a node: its user reconnects through the proxy to another node and keeps chatting", opts, async (t) => {
  const { nodes, proxy, users } = await setup(t);
  const [victim, ...others] = users;
  const oldSid = victim.sid;
  const { home, away, reason } = await lose(proxy, nodes, users, victim, (n) => n.crash());
  assert.match(reason, /transport (error|close)/);

  // A new session on another node: the cookie named the dead one.
  victim.sid = victim.socket.io.engine.id;
  assert.notEqual(victim.sid, oldSid);
  assert.equal(victim.socket.recovered, false, "nothing to recover from a killed node");
  const now = await homeOf(proxy, victim.sid);
  assert.notEqual(now, home);
  // Same nickname again (its old entry belongs to no live socket); the
  // history has what it missed, in order.
  const l = await login(victim);
  assert.equal(l.numUsers, 3);
  const history = l.history.map((m) => m.message);
  assert.deepEqual(history.filter((m) => m.startsWith("while away")), away);

  // Everybody keeps chatting, the others never noticed.
  victim.disconnects = [];
  victim.attempts = 0;
  victim.errors = [];
  await burst(users, 10, "after");
  await whisper(others[0], victim, "welcome back");
  await whisper(victim, others[1], "thanks");
  assertUntroubled(users);
});

test("SIGTERM of a node: its user recovers its session on another node with what it missed", opts, async (t) => {
  const { nodes, proxy, users } = await setup(t);
  const victim = users[1]; // the upgraded one: on WebSocket
  const oldId = victim.socket.id;
  const { home, away, reason } = await lose(proxy, nodes, users, victim, (n) => n.kill("SIGTERM"));
  assert.equal(reason, "transport close");

  assert.equal(victim.socket.recovered, true, "recovered");
  assert.equal(victim.socket.id, oldId, "same socket id");
  victim.sid = victim.socket.io.engine.id;
  assert.notEqual(await homeOf(proxy, victim.sid), home);
  // The broadcasts it missed arrived on reconnection, in order, once.
  for (const text of away) await victim.rec.next("new message", (m) => m.message === text);
  const missed = victim.rec.all("new message").filter((m) => m.message.startsWith("while away"));
  assert.deepEqual(
    missed.map((m) => m.message),
    away,
  );

  // Still logged in (its nickname came back with the session): it chats
  // without `add user`, and the others see it (back) in the user list.
  for (const u of users.filter((u) => u !== victim)) {
    // (The first user also saw its first login, with 2 users.)
    await u.rec.next("user joined", (m) => m.username === victim.name && m.numUsers === 3);
  }
  victim.disconnects = [];
  victim.attempts = 0;
  victim.errors = [];
  const upgraded = victim.socket.io.engine.transport.name === "websocket"
    ? Promise.resolve()
    : new Promise((resolve) => victim.socket.io.engine.once("upgrade", resolve));
  await upgraded;
  await burst(users, 10, "after");
  await whisper(users[0], victim, "welcome back");
  await whisper(victim, users[2], "thanks");
  assertUntroubled(users);
});
