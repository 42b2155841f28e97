// The chat conversation the HAProxy cluster tests run through the proxy:
// official socket.io-client users (one per transport mode) log in, each
// sends a burst of messages that every other user must receive once and in
// order, a private message crosses nodes with its ack, and no user ever
// sees connect_error, a disconnect or a reconnection attempt.

import assert from "node:assert/strict";
import { io } from "socket.io-client";
import { ack, defer, Recorder } from "../tests/chat-helpers.js";

/** The client modes: polling only, the default (polling then upgrade), WebSocket only. */
export const MODES = {
  polling: { transports: ["polling"] },
  upgrade: {},
  websocket: { transports: ["websocket"] },
};

/**
 * A socket.io-client user through the proxy at `url`, with its cookie
 * jar (`withCredentials`), recording every event, connect_error,
 * disconnect and reconnection attempt. Resolves once connected.
 */
export async function user(t, url, name, mode, options = {}) {
  const socket = io(url, {
    forceNew: true,
    withCredentials: true,
    ...MODES[mode],
    ...options,
  });
  defer(t, () => socket.disconnect());
  const c = { name, mode, socket, rec: new Recorder(socket), errors: [], disconnects: [], attempts: 0 };
  socket.on("connect_error", (err) => c.errors.push(err.message));
  socket.on("disconnect", (reason) => c.disconnects.push(reason));
  socket.io.on("reconnect_attempt", () => c.attempts++);
  await new Promise((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", (err) => reject(new Error(`${name} (${mode}): connect_error ${err.message}`)));
  });
  c.sid = socket.io.engine.id;
  return c;
}

/** Logs `c` in; returns the `login` event. */
export async function login(c) {
  const loginEvent = c.rec.next("login");
  const res = await ack(c.socket, "add user", c.name);
  assert.deepEqual(res, { ok: true }, `${c.name} logs in`);
  return loginEvent;
}

/**
 * Every user sends `count` messages at once (without waiting for acks),
 * then every other user must have received each of them exactly once, in
 * the order sent. Returns how many messages were delivered in all.
 */
export async function burst(users, count, tag = "m") {
  const text = (u, i) => `${tag} ${u.name} ${i}`;
  const sent = users.map((u) => {
    const acks = [];
    for (let i = 0; i < count; i++) acks.push(ack(u.socket, "new message", text(u, i)));
    return Promise.all(acks);
  });
  for (const [k, acks] of (await Promise.all(sent)).entries()) {
    for (const a of acks) assert.ok(a?.id, `${users[k].name}: a message was refused: ${JSON.stringify(a)}`);
  }
  // Everything each user should get, waited for message by message (the
  // Recorder keeps what came early), then checked for order and
  // duplicates over everything received.
  let delivered = 0;
  for (const to of users) {
    for (const from of users) {
      if (from === to) continue;
      for (let i = 0; i < count; i++) {
        await to.rec.next("new message", (m) => m.message === text(from, i));
        delivered++;
      }
      const got = to.rec
        .all("new message")
        .filter((m) => m.username === from.name && m.message.startsWith(`${tag} `))
        .map((m) => m.message);
      assert.deepEqual(
        got,
        Array.from({ length: count }, (_, i) => text(from, i)),
        `${to.name} got ${from.name}'s messages once each, in order`,
      );
    }
  }
  return delivered;
}

/**
 * `a` and `b` take turns, `rounds` times: one sends a message (acked),
 * the other waits for it and answers. For a polling user every turn is a
 * POST and a GET at least. Each side then got the other's messages once,
 * in order.
 */
export async function pingPong(a, b, rounds, tag = "turn") {
  for (let i = 0; i < rounds; i++) {
    for (const [from, to] of [
      [a, b],
      [b, a],
    ]) {
      const got = to.rec.next("new message", (m) => m.message === `${tag} ${from.name} ${i}`);
      assert.ok((await ack(from.socket, "new message", `${tag} ${from.name} ${i}`))?.id);
      await got;
    }
  }
  for (const [from, to] of [
    [a, b],
    [b, a],
  ]) {
    const got = to.rec
      .all("new message")
      .filter((m) => m.message.startsWith(`${tag} ${from.name} `))
      .map((m) => m.message);
    assert.deepEqual(got, Array.from({ length: rounds }, (_, i) => `${tag} ${from.name} ${i}`));
  }
}

/** A private message from `a` to `b` with its ack. */
export async function whisper(a, b, message) {
  const got = b.rec.next("private message", (m) => m.message === message);
  const res = await ack(a.socket, "private message", { to: b.name, message });
  assert.equal(res?.ok, true, `${a.name} -> ${b.name}: ${JSON.stringify(res)}`);
  const m = await got;
  assert.equal(m.from, a.name);
}

/** No connect_error, disconnect or reconnection attempt; still the same session, on the mode's transport. */
export function assertUntroubled(users) {
  for (const c of users) {
    assert.deepEqual(c.errors, [], `${c.name}: connect_error`);
    assert.deepEqual(c.disconnects, [], `${c.name}: disconnects`);
    assert.equal(c.attempts, 0, `${c.name}: reconnection attempts`);
    assert.equal(c.socket.connected, true, `${c.name} connected`);
    assert.equal(c.socket.io.engine.id, c.sid, `${c.name}: same Engine.IO session`);
    const expected = c.mode === "polling" ? "polling" : "websocket";
    assert.equal(c.socket.io.engine.transport.name, expected, `${c.name}'s transport`);
  }
}

/**
 * The whole conversation: one user per mode (named after `names`), login
 * with cluster-wide counts, `count` messages each way as a burst, private
 * messages around the ring. Returns {users, delivered}.
 */
export async function conversation(t, url, { count = 20, modes = ["polling", "upgrade", "websocket"], options = {} } = {}) {
  const users = [];
  for (const [i, mode] of modes.entries()) {
    users.push(await user(t, url, `user${i + 1}-${mode}`, mode, options));
  }
  for (const [i, u] of users.entries()) {
    const l = await login(u);
    assert.equal(l.numUsers, i + 1, `${u.name} sees every user of the cluster`);
  }
  // The default mode upgrades in the background: wait for it, so that the
  // burst also runs over the upgraded transport.
  for (const u of users.filter((u) => u.mode === "upgrade")) {
    if (u.socket.io.engine.transport.name !== "websocket") {
      await new Promise((resolve) => u.socket.io.engine.once("upgrade", resolve));
    }
  }
  const delivered = await burst(users, count);
  for (const [i, a] of users.entries()) await whisper(a, users[(i + 1) % users.length], `psst ${i}`);
  assertUntroubled(users);
  return { users, delivered };
}
