// Socket.IO 2.x clients (socket.io-client 2.5.0: Engine.IO v3, Socket.IO
// protocol v4) against `sockeye-testserver socketio-app --allow-eio3`: the
// server connects them to `/` by itself, namespaces take their auth from
// the query string, refusals come as an `error` event with the data.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { TEST_TIMEOUT, nextEvent, pseudoRandomBytes } from "./helpers.js";
import { MODES, ack, clientV2, connect, isBinary, startApp, toBuffer } from "./socketio-helpers.js";

const opts = { timeout: TEST_TIMEOUT };

/** A 2.x socket, once connected; the events named in `record` are recorded from the start. */
async function connectV2(t, url, clientOpts, record = []) {
  const socket = clientV2(t, url, clientOpts);
  const recorded = new Map(record.map((e) => [e, []]));
  for (const event of record) socket.on(event, (...args) => recorded.get(event).push(args));
  await nextEvent(socket, "connect", { rejectOn: ["error", "connect_error"] });
  return { socket, recorded };
}

for (const [mode, transport] of Object.entries(MODES)) {
  describe(`socket.io-client 2.x over ${mode}`, () => {
    const eio3 = ["--allow-eio3"];

    test("connects to / without a CONNECT packet; the socket id is the Engine.IO sid", opts, async (t) => {
      const server = await startApp(t, eio3);
      const socket = clientV2(t, server.url, { ...transport, query: { q: "1" } });
      const welcome = nextEvent(socket, "welcome");
      await nextEvent(socket, "connect", { rejectOn: ["error", "connect_error"] });
      assert.equal(socket.id, socket.io.engine.id);
      const [hs] = await ack(socket, "handshake");
      assert.equal(hs.id, socket.id);
      assert.equal(hs.sid, socket.io.engine.id);
      assert.equal(hs.nsp, "/");
      // The query string is not the auth of `/`: it is `{}` as in the reference.
      assert.deepEqual(hs.auth, {});
      const [w] = await welcome;
      assert.deepEqual(w, { id: socket.id, nsp: "/" });
    });

    test("events and acks both ways", opts, async (t) => {
      const server = await startApp(t, eio3);
      const { socket } = await connectV2(t, server.url, transport);
      const echoed = nextEvent(socket, "echo");
      socket.emit("echo", "a", 1, { b: [true, null] });
      assert.deepEqual(await echoed, ["a", 1, { b: [true, null] }]);
      assert.deepEqual(await ack(socket, "echo", "x", 2), ["x", 2]);
      const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => ack(socket, "echo", i)));
      assert.deepEqual(replies, Array.from({ length: 20 }, (_, i) => [i]));
      socket.on("ping-me", (data, cb) => cb({ got: data }));
      const [reply] = await ack(socket, "server-ack", { q: 1 });
      assert.deepEqual(reply, { ok: true, answer: { got: { q: 1 } } });
    });

    test("binary both ways", opts, async (t) => {
      const server = await startApp(t, eio3);
      const { socket } = await connectV2(t, server.url, transport);
      const big = pseudoRandomBytes(20_000, 3);
      const small = Buffer.from([1, 2, 3]);
      const back = nextEvent(socket, "binary-back");
      const reply = await ack(socket, "binary", big, { nested: [small] });
      assert.ok(isBinary(reply[0]));
      assert.ok(toBuffer(reply[0]).equals(big));
      assert.ok(toBuffer(reply[1].nested[0]).equals(small));
      const [got] = await back;
      assert.ok(toBuffer(got.server).equals(Buffer.from(Array.from({ length: 256 }, (_, i) => i))));
    });

    test("a namespace with query auth: events and acks", opts, async (t) => {
      const server = await startApp(t, eio3);
      const { socket } = await connectV2(t, `${server.url}/admin`, { ...transport, query: { token: "secret" } });
      const [hs] = await ack(socket, "handshake");
      assert.equal(hs.nsp, "/admin");
      assert.deepEqual(hs.auth, { token: "secret" });
      assert.equal(hs.sid, socket.io.engine.id);
      const echoed = nextEvent(socket, "echo");
      socket.emit("echo", "in admin");
      assert.deepEqual(await echoed, ["in admin"]);
      assert.deepEqual(await ack(socket, "echo", 1, "two"), [1, "two"]);
      socket.on("ping-me", (data, cb) => cb(data * 2));
      const [reply] = await ack(socket, "server-ack", 21);
      assert.deepEqual(reply, { ok: true, answer: 42 });
    });

    test("a namespace socket id is `<nsp>#<engine sid>` (as the reference and the 2.x client)", opts, async (t) => {
      const server = await startApp(t, eio3);
      const { socket } = await connectV2(t, `${server.url}/admin`, { ...transport, query: { token: "secret" } });
      assert.equal(socket.id, `/admin#${socket.io.engine.id}`);
      const [hs] = await ack(socket, "handshake");
      assert.equal(hs.id, socket.id);
    });

    test("a refused namespace on a multiplexed connection: `error` event with the middleware's data", opts, async (t) => {
      const server = await startApp(t, eio3);
      const { socket: root } = await connectV2(t, server.url, transport);
      // A second namespace on the same connection.
      const admin = root.io.socket("/admin", { query: { token: "wrong" } });
      const [data] = await nextEvent(admin, "error", { rejectOn: ["connect", "connect_error"] });
      assert.deepEqual(data, { code: 42 });
      assert.equal(admin.connected, false);
      // The connection and `/` stay usable.
      assert.deepEqual(await ack(root, "echo", "still"), ["still"]);
      const good = root.io.socket("/dyn-2", { query: { token: "any" } });
      await nextEvent(good, "connect", { rejectOn: ["error"] });
      const [hs] = await ack(good, "handshake");
      assert.equal(hs.sid, root.io.engine.id, "one Engine.IO session");
      assert.deepEqual(hs.auth, { token: "any" });
    });

    // The reference sends `{"message":"Invalid namespace"}` whatever the
    // protocol (socket.io `client.ts`); only middleware refusals are
    // `err.data || err.message` for Socket.IO 2.x clients.
    test(
      "an unknown namespace: `error` event `{message: \"Invalid namespace\"}`",
      opts,
      async (t) => {
        const server = await startApp(t, eio3);
        const socket = clientV2(t, `${server.url}/nope`, transport);
        const [data] = await nextEvent(socket, "error", { rejectOn: ["connect", "connect_error"] });
        assert.deepEqual(data, { message: "Invalid namespace" });
      },
    );

    test("a dynamic namespace", opts, async (t) => {
      const server = await startApp(t, eio3);
      const { socket } = await connectV2(t, `${server.url}/dyn-7`, transport);
      const [hs] = await ack(socket, "handshake");
      assert.equal(hs.nsp, "/dyn-7");
      assert.deepEqual(await ack(socket, "echo", "dyn"), ["dyn"]);
    });

    test("server-side disconnect: `io server disconnect`", opts, async (t) => {
      const server = await startApp(t, eio3);
      const { socket } = await connectV2(t, server.url, transport);
      const disconnected = nextEvent(socket, "disconnect");
      socket.emit("disconnect-me");
      const [reason] = await disconnected;
      assert.equal(reason, "io server disconnect");
    });

    test("broadcasts between 2.x and 4.x clients", opts, async (t) => {
      const server = await startApp(t, eio3);
      const v2 = await connectV2(t, server.url, transport, ["news", "end"]);
      const v4 = await connect(t, server.url, transport);
      const got = nextEvent(v2.socket, "news");
      await ack(v4.socket, "broadcast", "news", "from v4", Buffer.from([5]));
      const [text, bin] = await got;
      assert.equal(text, "from v4");
      assert.ok(toBuffer(bin).equals(Buffer.from([5])));
      await ack(v2.socket, "broadcast", "news", "from v2");
      assert.deepEqual(await v4.events.next("news"), ["from v2"]);
      // Neither got its own broadcast: the second ack came after it.
      assert.equal(v4.events.count("news"), 1);
      assert.equal(v2.recorded.get("news").length, 1);
    });

    test("Engine.IO v3 heartbeats (client pings) keep the connection up", opts, async (t) => {
      const server = await startApp(t, [...eio3, "--ping-interval", "50", "--ping-timeout", "1000"]);
      const { socket } = await connectV2(t, server.url, transport);
      for (let i = 0; i < 3; i++) await nextEvent(socket.io.engine, "pong", { rejectOn: ["close"] });
      assert.deepEqual(await ack(socket, "echo", "alive"), ["alive"]);
    });
  });
}
