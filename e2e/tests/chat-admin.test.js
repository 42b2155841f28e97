// The chat's --admin-ui against the protocol of @socket.io/admin-ui 0.5.1,
// with socket.io-client in the role of the UI: authentication, config,
// all_sockets with the users' nicknames, the live feed, server_stats and the
// commands. (e2e/browser/ drives the real UI page in Chromium.)

import assert from "node:assert/strict";
import http from "node:http";
import test from "node:test";
import { io } from "socket.io-client";
import { ack, CHAT_TIMEOUT, connect, defer, login, Recorder, runChatExpectingFailure, startChat } from "./chat-helpers.js";

const opts = { timeout: CHAT_TIMEOUT };
// bcrypt of "s3cret" (cost 8, bcryptjs).
const HASH = "$2a$08$9rKnXUvzVe2gKH4AKHCrauVeYuOfARVUGlVr.o4ExYneNYn6L/ZzW";

/** An admin client on /admin; resolves to {socket, rec} once connected, or rejects with the connect_error. */
function admin(t, url, auth) {
  const socket = io(`${url}/admin`, { forceNew: true, reconnection: false, auth });
  const rec = new Recorder(socket);
  defer(t, () => socket.disconnect());
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve({ socket, rec }));
    socket.once("connect_error", (err) => reject(err));
  });
}

/** Resolves to the next `event` whose arguments pass `match` (all arguments). */
function nextArgs(socket, event, match = () => true) {
  return new Promise((resolve) => {
    const on = (...args) => {
      if (match(args)) {
        socket.off(event, on);
        resolve(args);
      }
    };
    socket.on(event, on);
  });
}

test("admin UI protocol: config, all_sockets with nicknames, feed, server_stats, _disconnect", opts, async (t) => {
  const chat = await startChat(t, ["--admin-ui", "--admin-no-auth"]);
  const a = await connect(t, chat.url, { transports: ["websocket"] });
  const b = await connect(t, chat.url, { transports: ["websocket"] });
  await login(a, "ann");
  await login(b, "bob");

  const ui = await admin(t, chat.url, { sessionId: null });
  const config = await ui.rec.next("config");
  assert.deepEqual(config.supportedFeatures, [
    "EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT", "AGGREGATED_EVENTS", "ALL_EVENTS",
  ]);
  const all = await ui.rec.next("all_sockets");
  const chatSockets = all.filter((s) => s.nsp === "/");
  assert.deepEqual(chatSockets.map((s) => s.data.username).sort(), ["ann", "bob"]);
  const ann = chatSockets.find((s) => s.id === a.socket.id);
  assert.equal(ann.transport, "websocket");
  assert.equal(ann.clientId.length, 12);
  assert.ok(ann.rooms.includes(a.socket.id));
  assert.equal(ann.handshake.auth, undefined);
  assert.equal(typeof ann.handshake.issued, "number");
  assert.ok(all.some((s) => s.nsp === "/admin" && s.id === ui.socket.id));

  // A message: received from ann, sent to bob (a broadcast, per recipient).
  const received = nextArgs(ui.socket, "event_received", ([nsp, id]) => nsp === "/" && id === a.socket.id);
  const sent = nextArgs(ui.socket, "event_sent", ([nsp, id, args]) => id === b.socket.id && args[0] === "new message");
  await ack(a.socket, "new message", "hello admin");
  const [, , rargs, rts] = await received;
  assert.deepEqual(rargs, ["new message", "hello admin"]);
  assert.match(rts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  const [, , sargs] = await sent;
  assert.equal(sargs[1].message, "hello admin");

  // A third user: socket_connected, then socket_updated with the nickname.
  const connected = nextArgs(ui.socket, "socket_connected", ([s]) => s.nsp === "/");
  const c = await connect(t, chat.url, { transports: ["websocket"] });
  const [snap] = await connected;
  assert.equal(snap.id, c.socket.id);
  const updated = nextArgs(ui.socket, "socket_updated", ([u]) => u.id === c.socket.id && u.data);
  await login(c, "cat");
  assert.deepEqual((await updated)[0].data, { username: "cat" });

  // server_stats: this node, its clients and namespaces.
  const [stats] = await nextArgs(ui.socket, "server_stats");
  assert.equal(typeof stats.serverId, "string");
  assert.equal(stats.clientsCount, 4);
  assert.deepEqual(
    stats.namespaces.find((n) => n.name === "/"),
    { name: "/", socketsCount: 3 },
  );
  assert.ok(Array.isArray(stats.aggregatedEvents));

  // The UI's "disconnect" on bob's socket.
  // (socket.io-client forgets a socket's id when it disconnects.)
  const bob = b.socket.id;
  const gone = new Promise((resolve) => b.socket.once("disconnect", resolve));
  const reported = nextArgs(ui.socket, "socket_disconnected", ([, id]) => id === bob);
  const roomLeft = nextArgs(ui.socket, "room_left", ([, room, id]) => id === bob && room === bob);
  ui.socket.emit("_disconnect", "/", false, bob);
  assert.equal(await gone, "io server disconnect");
  assert.equal((await reported)[2], "server namespace disconnect");
  await roomLeft;
});

test("admin UI basic auth: invalid credentials, password login with a session, session login", opts, async (t) => {
  const chat = await startChat(t, ["--admin-ui", "--admin-user", "root", "--admin-password-hash", HASH]);
  await assert.rejects(admin(t, chat.url, { sessionId: null }), { message: "invalid credentials" });
  await assert.rejects(admin(t, chat.url, { username: "root", password: "wrong" }), { message: "invalid credentials" });
  const ui = await admin(t, chat.url, { username: "root", password: "s3cret" });
  const session = await ui.rec.next("session");
  assert.match(session, /^[0-9a-f]{32}$/);
  await ui.rec.next("config");
  const again = await admin(t, chat.url, { sessionId: session });
  await again.rec.next("config");
});

test("admin UI flags: no auth refused off loopback, a bad hash refused, /admin/ served", opts, async (t) => {
  const open = await runChatExpectingFailure(["--listen", "0.0.0.0:0", "--admin-ui", "--admin-no-auth"]);
  assert.notEqual(open.code, 0);
  assert.match(open.stderr, /non-loopback/);
  const bad = await runChatExpectingFailure(["--admin-ui", "--admin-user", "a", "--admin-password-hash", "plain"]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /bcrypt/);

  const chat = await startChat(t, ["--admin-ui", "--admin-no-auth"]);
  const get = (p) =>
    new Promise((resolve, reject) =>
      http.get(`${chat.url}${p}`, (res) => {
        let body = "";
        res.on("data", (d) => (body += d));
        res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body }));
      }).on("error", reject),
    );
  const redirect = await get("/admin");
  assert.equal(redirect.status, 301);
  assert.equal(redirect.headers.location, "/admin/");
  const page = await get("/admin/");
  assert.equal(page.status, 200);
  assert.match(page.headers["content-type"], /^text\/html/);
  const script = /src="?(js\/app\.[0-9a-f]+\.js)/.exec(page.body);
  assert.ok(script, page.body);
  const js = await get(`/admin/${script[1]}`);
  assert.equal(js.status, 200);
  assert.match(js.headers["content-type"], /javascript/);
});
