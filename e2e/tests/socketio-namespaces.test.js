// Namespaces with socket.io-client 4.x: a connect middleware that refuses
// (`/admin`), dynamic namespaces (`/dyn-<n>`), unknown namespaces, isolation
// of broadcasts, and several namespaces multiplexed over one connection.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { io } from "socket.io-client";
import { TEST_TIMEOUT, defer } from "./helpers.js";
import {
  Events,
  MODES,
  ack,
  client,
  closeManager,
  connect,
  connectError,
  connected,
  manager,
  startApp,
} from "./socketio-helpers.js";

const opts = { timeout: TEST_TIMEOUT };

for (const [mode, transport] of Object.entries(MODES)) {
  describe(`namespaces, socket.io-client 4 over ${mode}`, () => {
    test("/admin refuses a wrong or missing token: connect_error with message and data", opts, async (t) => {
      const server = await startApp(t);
      for (const auth of [{ token: "wrong" }, {}, undefined]) {
        const socket = client(t, `${server.url}/admin`, { ...transport, ...(auth ? { auth } : {}) });
        const err = await connectError(socket);
        assert.ok(err instanceof Error);
        assert.equal(err.message, "not authorized");
        assert.deepEqual(err.data, { code: 42 });
        assert.equal(socket.connected, false);
        // A refused socket does not retry by itself.
        assert.equal(socket.active, false);
      }
    });

    test("/admin accepts the right token", opts, async (t) => {
      const server = await startApp(t);
      const { socket, events } = await connect(t, `${server.url}/admin`, { ...transport, auth: { token: "secret" } });
      const [welcome] = await events.next("welcome");
      assert.deepEqual(welcome, { id: socket.id, nsp: "/admin" });
      const [hs] = await ack(socket, "handshake");
      assert.equal(hs.nsp, "/admin");
      assert.equal(hs.id, socket.id);
      assert.deepEqual(hs.auth, { token: "secret" });
      assert.deepEqual(await ack(socket, "echo", "in admin"), ["in admin"]);
    });

    test("a refused connection can be retried with the right token", opts, async (t) => {
      const server = await startApp(t);
      const socket = client(t, `${server.url}/admin`, { ...transport, auth: { token: "wrong" } });
      await connectError(socket);
      socket.auth = { token: "secret" };
      socket.connect();
      await connected(socket);
      const [hs] = await ack(socket, "handshake");
      assert.deepEqual(hs.auth, { token: "secret" });
    });

    test("dynamic namespaces: /dyn-1 and /dyn-22 exist on first connect", opts, async (t) => {
      const server = await startApp(t);
      const one = await connect(t, `${server.url}/dyn-1`, transport);
      const two = await connect(t, `${server.url}/dyn-22`, transport);
      assert.deepEqual((await one.events.next("welcome"))[0], { id: one.socket.id, nsp: "/dyn-1" });
      const [hs] = await ack(two.socket, "handshake");
      assert.equal(hs.nsp, "/dyn-22");
      assert.deepEqual(await ack(one.socket, "echo", 1), [1]);
      // A second socket joins the same child namespace.
      const again = await connect(t, `${server.url}/dyn-1`, transport);
      await ack(again.socket, "broadcast", "hi-dyn");
      assert.deepEqual(await one.events.next("hi-dyn"), []);
    });

    test("unknown namespaces get connect_error `Invalid namespace`", opts, async (t) => {
      const server = await startApp(t);
      for (const nsp of ["/nope", "/dyn-x", "/dyn-1/sub", "/admin2"]) {
        const socket = client(t, `${server.url}${nsp}`, transport);
        const err = await connectError(socket);
        assert.equal(err.message, "Invalid namespace", nsp);
      }
    });

    test("broadcasts stay in their namespace", opts, async (t) => {
      const server = await startApp(t);
      const root = await connect(t, server.url, transport);
      const adminA = await connect(t, `${server.url}/admin`, { ...transport, auth: { token: "secret" } });
      const adminB = await connect(t, `${server.url}/admin`, { ...transport, auth: { token: "secret" } });
      const dyn = await connect(t, `${server.url}/dyn-3`, transport);
      await ack(adminA.socket, "broadcast", "admin-news");
      assert.deepEqual(await adminB.events.next("admin-news"), []);
      // Barriers on the other namespaces.
      await ack(root.socket, "emit-all", "root-end");
      await root.events.next("root-end");
      await ack(dyn.socket, "emit-all", "dyn-end");
      await dyn.events.next("dyn-end");
      assert.equal(root.events.count("admin-news"), 0);
      assert.equal(dyn.events.count("admin-news"), 0);
      assert.equal(adminA.events.count("root-end") + adminB.events.count("dyn-end"), 0);
    });

    test("multiplexing: / and /admin over one Engine.IO connection", opts, async (t) => {
      const server = await startApp(t);
      const m = manager(t, server.url, transport);
      const root = m.socket("/");
      const admin = m.socket("/admin", { auth: { token: "secret" } });
      const rootEvents = new Events(root);
      const adminEvents = new Events(admin);
      root.connect();
      admin.connect();
      await Promise.all([connected(root), connected(admin)]);
      assert.equal(root.io, admin.io);
      const [[rootHs], [adminHs]] = await Promise.all([ack(root, "handshake"), ack(admin, "handshake")]);
      assert.equal(rootHs.sid, adminHs.sid, "one Engine.IO session");
      assert.equal(rootHs.sid, m.engine.id);
      assert.notEqual(rootHs.id, adminHs.id);
      assert.deepEqual(rootHs.auth, {});
      assert.deepEqual(adminHs.auth, { token: "secret" });
      root.emit("echo", "r");
      admin.emit("echo", "a");
      assert.deepEqual(await rootEvents.next("echo"), ["r"]);
      assert.deepEqual(await adminEvents.next("echo"), ["a"]);
      assert.equal(rootEvents.count("echo") + adminEvents.count("echo"), 2);

      // Leaving one namespace keeps the connection and the other namespace.
      const engine = m.engine;
      admin.disconnect();
      assert.deepEqual(await ack(root, "echo", "still here"), ["still here"]);
      assert.equal(m.engine, engine);
      assert.equal(engine.readyState, "open");
      // ... and the namespace can be joined again on the same connection.
      admin.connect();
      await connected(admin);
      const [hs2] = await ack(admin, "handshake");
      assert.equal(hs2.sid, rootHs.sid);
    });

    test("multiplexing: a refused namespace leaves the other one connected", opts, async (t) => {
      const server = await startApp(t);
      const m = manager(t, server.url, transport);
      const root = m.socket("/");
      const admin = m.socket("/admin", { auth: { token: "nope" } });
      root.connect();
      await connected(root);
      admin.connect();
      const err = await connectError(admin);
      assert.equal(err.message, "not authorized");
      assert.deepEqual(err.data, { code: 42 });
      assert.deepEqual(await ack(root, "echo", "ok"), ["ok"]);
      assert.equal(root.connected, true);
    });
  });
}

test("multiplexing through io(): io(url) and io(url + '/admin') share a Manager", opts, async (t) => {
  const server = await startApp(t);
  const root = io(server.url, { forceNew: false });
  const admin = io(`${server.url}/admin`, { forceNew: false, auth: { token: "secret" } });
  defer(t, () => closeManager(root.io));
  assert.equal(root.io, admin.io);
  await Promise.all([connected(root), connected(admin)]);
  const [[a], [b]] = await Promise.all([ack(root, "handshake"), ack(admin, "handshake")]);
  assert.equal(a.sid, b.sid);
  assert.equal(a.nsp, "/");
  assert.equal(b.nsp, "/admin");
});
