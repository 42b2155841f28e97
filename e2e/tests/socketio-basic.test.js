// socket.io-client 4.x against `sockeye-testserver socketio-app`: handshake
// and auth, events and acknowledgements both ways, binary, rooms, volatile
// events; over HTTP long-polling only, WebSocket only, and polling with the
// upgrade to WebSocket.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { TEST_TIMEOUT, nextEvent, pseudoRandomBytes } from "./helpers.js";
import {
  Events,
  MODES,
  ack,
  client,
  connect,
  connected,
  isBinary,
  manager,
  startApp,
  toBuffer,
  upgraded,
} from "./socketio-helpers.js";

const opts = { timeout: TEST_TIMEOUT };

for (const [mode, transport] of Object.entries(MODES)) {
  describe(`socket.io-client 4 over ${mode}`, () => {
    test("connects with auth; the handshake has the auth and the socket id", opts, async (t) => {
      const server = await startApp(t);
      const auth = { token: "abc", n: 1, nested: { list: [1, "two", null] } };
      const socket = client(t, server.url, { ...transport, auth });
      const events = new Events(socket);
      const order = [];
      socket.on("connect", () => order.push("connect"));
      socket.on("welcome", () => order.push("welcome"));
      await connected(socket);
      const [welcome] = await events.next("welcome");
      // The CONNECT reply comes before what the connection handler emits.
      assert.deepEqual(order, ["connect", "welcome"]);
      assert.deepEqual(welcome, { id: socket.id, nsp: "/" });

      const [hs] = await ack(socket, "handshake");
      assert.deepEqual(hs.auth, auth);
      assert.equal(hs.id, socket.id);
      assert.equal(hs.nsp, "/");
      // The socket id is not the Engine.IO session id.
      assert.equal(hs.sid, socket.io.engine.id);
      assert.notEqual(socket.id, socket.io.engine.id);
      assert.match(socket.id, /^[\w-]{20}$/);
      if (mode === "websocket") assert.equal(hs.transport, "websocket");
      if (mode === "polling") assert.equal(hs.transport, "polling");
    });

    test("connects without auth: the handshake auth is {}", opts, async (t) => {
      const server = await startApp(t);
      const { socket } = await connect(t, server.url, transport);
      const [hs] = await ack(socket, "handshake");
      assert.deepEqual(hs.auth, {});
    });

    test("events both ways, with several arguments of every JSON type", opts, async (t) => {
      const server = await startApp(t);
      const { socket, events } = await connect(t, server.url, transport);
      const args = ["text", 42, -1.5, true, false, null, [1, [2, [3]]], { a: { b: "c" }, e: [] }, "ünïcødé ✓"];
      socket.emit("echo", ...args);
      assert.deepEqual(await events.next("echo"), args);
      socket.emit("echo");
      assert.deepEqual(await events.next("echo"), []);
    });

    test("client-to-server acks: each ack gets its own arguments", opts, async (t) => {
      const server = await startApp(t);
      const { socket } = await connect(t, server.url, transport);
      assert.deepEqual(await ack(socket, "echo", "x", 2, { k: "v" }), ["x", 2, { k: "v" }]);
      assert.deepEqual(await ack(socket, "echo"), []);
      assert.equal(await socket.emitWithAck("echo", "first"), "first");
      // Many acks in flight at once are matched by id.
      const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => ack(socket, "echo", i, `n${i}`)));
      assert.deepEqual(replies, Array.from({ length: 50 }, (_, i) => [i, `n${i}`]));
    });

    test("server-to-client acks: the server gets the client's answer", opts, async (t) => {
      const server = await startApp(t);
      const { socket } = await connect(t, server.url, transport);
      socket.on("ping-me", (data, cb) => cb({ got: data }));
      const [reply] = await ack(socket, "server-ack", { q: [1, 2] });
      assert.deepEqual(reply, { ok: true, answer: { got: { q: [1, 2] } } });
    });

    test("server-to-client acks with several arguments: the server can read every one", opts, async (t) => {
      const server = await startApp(t);
      const { socket } = await connect(t, server.url, transport);
      socket.on("ping-me", (data, cb) => cb(5, { test: true }, data));
      const [reply] = await ack(socket, "server-ack-all", "x");
      assert.deepEqual(reply, { ok: true, args: [5, { test: true }, "x"] });
      // The first-argument form still reads the first one only.
      const [first] = await ack(socket, "server-ack", "y");
      assert.deepEqual(first, { ok: true, answer: 5 });
    });

    test("server-to-client acks time out when the client does not answer", opts, async (t) => {
      const server = await startApp(t);
      const { socket } = await connect(t, server.url, transport);
      let asked;
      socket.on("ping-me", (data) => {
        asked = data; // no answer
      });
      const [reply] = await ack(socket, "server-ack", "hello?", 200);
      assert.deepEqual(reply, { ok: false, error: "operation has timed out" });
      assert.equal(asked, "hello?");
    });

    test("server-to-client acks with binary: the client answers with a Buffer", opts, async (t) => {
      const server = await startApp(t);
      const { socket } = await connect(t, server.url, transport);
      const answer = pseudoRandomBytes(3000, 11);
      socket.on("ping-me", (_data, cb) => cb({ bytes: answer, n: 1 }));
      const [reply] = await ack(socket, "server-ack", "send bytes");
      assert.equal(reply.ok, true, JSON.stringify(reply));
      assert.equal(reply.answer.n, 1);
      assert.ok(toBuffer(reply.answer.bytes).equals(answer));
    });

    test("events emitted before the connection is up are buffered and all handled", opts, async (t) => {
      const server = await startApp(t);
      const socket = client(t, server.url, transport);
      const events = new Events(socket);
      const acks = Array.from({ length: 30 }, (_, i) => ack(socket, "echo", "early", i));
      for (let i = 0; i < 30; i++) socket.emit("echo", "plain", i);
      assert.deepEqual(await Promise.all(acks), Array.from({ length: 30 }, (_, i) => ["early", i]));
      const plain = [];
      for (let i = 0; i < 30; i++) plain.push(await events.next("echo"));
      assert.deepEqual(
        plain.sort((x, y) => x[1] - y[1]),
        Array.from({ length: 30 }, (_, i) => ["plain", i]),
      );
    });

    test("binary both ways (Buffers at the top level and nested)", opts, async (t) => {
      const server = await startApp(t);
      const { socket, events } = await connect(t, server.url, transport);
      const big = pseudoRandomBytes(100_000);
      const small = Buffer.from([0, 1, 2, 254, 255]);
      const empty = Buffer.alloc(0);
      const reply = await ack(socket, "binary", big, { nested: [small, "s"], n: 7 }, "text", empty);
      assert.equal(reply.length, 4);
      assert.ok(isBinary(reply[0]));
      assert.ok(toBuffer(reply[0]).equals(big));
      assert.ok(toBuffer(reply[1].nested[0]).equals(small));
      assert.equal(reply[1].nested[1], "s");
      assert.equal(reply[1].n, 7);
      assert.equal(reply[2], "text");
      assert.equal(toBuffer(reply[3]).length, 0);

      const [back] = await events.next("binary-back");
      assert.ok(isBinary(back.server));
      assert.ok(toBuffer(back.server).equals(Buffer.from(Array.from({ length: 256 }, (_, i) => i))));
      assert.ok(toBuffer(back.echoed[0]).equals(big));
      assert.ok(toBuffer(back.echoed[1].nested[0]).equals(small));
    });

    test("rooms: a socket is in its own room; join and leave", opts, async (t) => {
      const server = await startApp(t);
      const { socket } = await connect(t, server.url, transport);
      const sorted = (list) => [...list].sort();
      assert.deepEqual(await socket.emitWithAck("rooms"), [socket.id]);
      assert.deepEqual(await socket.emitWithAck("join", ["b", "a"]), sorted(["a", "b", socket.id]));
      assert.deepEqual(await socket.emitWithAck("join", "a"), sorted(["a", "b", socket.id]));
      assert.deepEqual(await socket.emitWithAck("leave", "a"), sorted(["b", socket.id]));
      assert.deepEqual(await socket.emitWithAck("leave", "not-joined"), sorted(["b", socket.id]));
      assert.deepEqual(await socket.emitWithAck("rooms"), sorted(["b", socket.id]));
    });

    test("volatile events: never duplicated or reordered, and followed by a normal event", opts, async (t) => {
      const server = await startApp(t);
      const { socket, events } = await connect(t, server.url, transport);
      const n = 50;
      socket.emit("volatile", n);
      assert.deepEqual(await events.next("volatile-done"), [n]);
      const got = events.all("vol").map(([i]) => i);
      assert.ok(got.length <= n, `got ${got.length} of ${n}`);
      for (let i = 1; i < got.length; i++) assert.ok(got[i] > got[i - 1], `out of order: ${got}`);
      // An idle WebSocket takes the first one at once (as the reference does).
      if (mode === "websocket") assert.ok(got.length >= 1 && got[0] === 0, `got ${got}`);
    });

    test("a connection that joins no namespace is closed after the connect timeout", opts, async (t) => {
      const server = await startApp(t, ["--connect-timeout", "200"]);
      // Only the Engine.IO connection: no Socket.IO CONNECT is sent.
      const m = manager(t, server.url, { ...transport, autoConnect: false, reconnection: false });
      const opened = new Promise((resolve, reject) => m.open((err) => (err ? reject(err) : resolve())));
      await opened;
      const [reason] = await nextEvent(m.engine, "close");
      assert.equal(reason, "transport close");
    });

    test("a socket that joined a namespace is not closed by the connect timeout", opts, async (t) => {
      const server = await startApp(t, ["--connect-timeout", "200", "--ping-interval", "100"]);
      const { socket } = await connect(t, server.url, transport);
      // Outlive the timeout by heartbeats, not by sleeping.
      for (let i = 0; i < 4; i++) await nextEvent(socket.io.engine, "ping");
      assert.equal(socket.connected, true);
      assert.deepEqual(await ack(socket, "echo", "alive"), ["alive"]);
    });

    test("a 4.x client on a server that also accepts Engine.IO v3", opts, async (t) => {
      const server = await startApp(t, ["--allow-eio3"]);
      const { socket } = await connect(t, server.url, { ...transport, auth: { a: 1 } });
      const [hs] = await ack(socket, "handshake");
      assert.deepEqual(hs.auth, { a: 1 });
      assert.equal(hs.id, socket.id);
      assert.deepEqual(await ack(socket, "echo", Buffer.from([1])).then(([b]) => [...toBuffer(b)]), [1]);
    });

    if (mode === "upgrade") {
      test("upgrades to WebSocket and keeps the Socket.IO session", opts, async (t) => {
        const server = await startApp(t);
        const socket = client(t, server.url, transport);
        const events = new Events(socket);
        await connected(socket);
        await upgraded(socket.io.engine);
        const [hs] = await ack(socket, "handshake");
        assert.equal(hs.transport, "websocket");
        assert.equal(hs.id, socket.id);
        socket.emit("echo", "after upgrade");
        assert.deepEqual(await events.next("echo"), ["after upgrade"]);
      });
    }
  });
}
