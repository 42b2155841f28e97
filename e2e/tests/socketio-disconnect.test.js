// Disconnections with socket.io-client 4.x: by the server (namespace or
// whole connection), by the client (namespace or transport), and the
// client's automatic reconnection after the server closed the transport.
// The server reports each disconnect reason to the room `watchers`.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { TEST_TIMEOUT, nextEvent } from "./helpers.js";
import { Events, MODES, ack, client, connect, connected, manager, startApp, upgraded } from "./socketio-helpers.js";

const opts = { timeout: TEST_TIMEOUT };

/** A client in the room `watchers` of `nsp`, which sees every `left`. */
async function watcher(t, url, transport, connectOpts = {}) {
  const w = await connect(t, url, { ...transport, ...connectOpts });
  await w.socket.emitWithAck("join", "watchers");
  return w;
}

for (const [mode, transport] of Object.entries(MODES)) {
  describe(`disconnections, socket.io-client 4 over ${mode}`, () => {
    test("server-side socket.disconnect(): `io server disconnect`, no reconnection", opts, async (t) => {
      const server = await startApp(t);
      const w = await watcher(t, server.url, transport);
      const { socket } = await connect(t, server.url, transport);
      const id = socket.id;
      const disconnected = nextEvent(socket, "disconnect");
      socket.emit("disconnect-me");
      const [reason] = await disconnected;
      assert.equal(reason, "io server disconnect");
      assert.equal(socket.connected, false);
      assert.equal(socket.active, false, "the client does not reconnect");
      const [left] = await w.events.next("left");
      assert.deepEqual(left, { id, nsp: "/", reason: "server namespace disconnect" });
    });

    test("client-side socket.disconnect(): the others see `client namespace disconnect`", opts, async (t) => {
      const server = await startApp(t);
      const w = await watcher(t, server.url, transport);
      const { socket } = await connect(t, server.url, transport);
      const id = socket.id;
      const disconnected = nextEvent(socket, "disconnect");
      socket.disconnect();
      const [reason] = await disconnected;
      assert.equal(reason, "io client disconnect");
      const [left] = await w.events.next("left");
      assert.deepEqual(left, { id, nsp: "/", reason: "client namespace disconnect" });
      // The watcher is unaffected.
      assert.deepEqual(await ack(w.socket, "echo", 1), [1]);
    });

    test("the client closing its connection: the others see `transport close`", opts, async (t) => {
      const server = await startApp(t);
      const w = await watcher(t, server.url, transport);
      const { socket } = await connect(t, server.url, { ...transport, reconnection: false });
      const id = socket.id;
      const disconnected = nextEvent(socket, "disconnect");
      socket.io.engine.close();
      await disconnected;
      const [left] = await w.events.next("left");
      assert.deepEqual(left, { id, nsp: "/", reason: "transport close" });
    });

    test("the server closes the transport: the client reconnects with a new socket", opts, async (t) => {
      const server = await startApp(t);
      const w = await watcher(t, server.url, transport);
      const socket = client(t, server.url, transport);
      const events = new Events(socket);
      await connected(socket);
      const firstId = socket.id;
      const firstSid = socket.io.engine.id;
      const disconnected = nextEvent(socket, "disconnect");
      const reconnected = nextEvent(socket.io, "reconnect");
      socket.emit("close-transport");
      const [reason] = await disconnected;
      assert.equal(reason, "transport close");
      const [left] = await w.events.next("left");
      assert.deepEqual(left, { id: firstId, nsp: "/", reason: "forced close" });
      await reconnected;
      if (!socket.connected) await connected(socket);
      assert.notEqual(socket.id, firstId);
      assert.notEqual(socket.io.engine.id, firstSid);
      // The connection handler ran again: a second welcome, for the new id.
      await events.next("welcome");
      const [welcome] = await events.next("welcome");
      assert.equal(welcome.id, socket.id);
      assert.deepEqual(await ack(socket, "echo", "again"), ["again"]);
      const [hs] = await ack(socket, "handshake");
      assert.equal(hs.id, socket.id);
    });

    // Over polling the close packet must come in the poll after the queued
    // DISCONNECT packets (as engine.io, which waits for `drain`):
    // socket.io-client dispatches packets on nextTick, so a `41\x1e1` poll
    // would make it see the transport close first and reconnect.
    test("server-side disconnect of the whole connection: every namespace gets `io server disconnect`", opts, async (t) => {
      const server = await startApp(t);
      const w = await watcher(t, server.url, transport);
      const m = manager(t, server.url, transport);
      const root = m.socket("/");
      const admin = m.socket("/admin", { auth: { token: "secret" } });
      root.connect();
      admin.connect();
      await Promise.all([connected(root), connected(admin)]);
      if (mode === "upgrade") await upgraded(m.engine);
      const rootId = root.id;
      const engineClosed = nextEvent(m.engine, "close");
      const gone = [nextEvent(root, "disconnect"), nextEvent(admin, "disconnect")];
      admin.emit("disconnect-me", true);
      const [[r1], [r2]] = await Promise.all(gone);
      assert.equal(r1, "io server disconnect");
      assert.equal(r2, "io server disconnect");
      await engineClosed;
      const [left] = await w.events.next("left");
      assert.deepEqual(left, { id: rootId, nsp: "/", reason: "server namespace disconnect" });
      assert.equal(root.active || admin.active, false, "no reconnection");
    });
  });
}
