// The msgpack parser: `sockeye-testserver socketio-app --msgpack` against
// socket.io-client 4.x with `socket.io-msgpack-parser`, whose packets are
// single binary Engine.IO messages with binary data inline.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import msgpackParser from "socket.io-msgpack-parser";
import { TEST_TIMEOUT, pseudoRandomBytes } from "./helpers.js";
import {
  MODES,
  ack,
  client,
  connect,
  connectError,
  isBinary,
  startApp,
  toBuffer,
} from "./socketio-helpers.js";

const opts = { timeout: TEST_TIMEOUT };

for (const [mode, transport] of Object.entries(MODES)) {
  describe(`msgpack, socket.io-client 4 over ${mode}`, () => {
    const withParser = { ...transport, parser: msgpackParser };

    test("connects with auth; the handshake has it", opts, async (t) => {
      const server = await startApp(t, ["--msgpack"]);
      const auth = { token: "abc", n: 3, list: [1.5, null, true] };
      const { socket, events } = await connect(t, server.url, { ...withParser, auth });
      const [welcome] = await events.next("welcome");
      assert.deepEqual(welcome, { id: socket.id, nsp: "/" });
      const [hs] = await ack(socket, "handshake");
      assert.deepEqual(hs.auth, auth);
      assert.equal(hs.id, socket.id);
    });

    test("events both ways", opts, async (t) => {
      const server = await startApp(t, ["--msgpack"]);
      const { socket, events } = await connect(t, server.url, withParser);
      const args = ["text", 42, -7, 2 ** 40, 0.25, true, null, [1, [2]], { a: { b: "c" } }, "ünïcødé ✓"];
      socket.emit("echo", ...args);
      assert.deepEqual(await events.next("echo"), args);
    });

    test("acks both ways", opts, async (t) => {
      const server = await startApp(t, ["--msgpack"]);
      const { socket } = await connect(t, server.url, withParser);
      assert.deepEqual(await ack(socket, "echo", "x", 2, { k: "v" }), ["x", 2, { k: "v" }]);
      const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => ack(socket, "echo", i)));
      assert.deepEqual(replies, Array.from({ length: 20 }, (_, i) => [i]));
      socket.on("ping-me", (data, cb) => cb({ got: data }));
      const [reply] = await ack(socket, "server-ack", [1, "two"]);
      assert.deepEqual(reply, { ok: true, answer: { got: [1, "two"] } });
    });

    test("binary both ways", opts, async (t) => {
      const server = await startApp(t, ["--msgpack"]);
      const { socket, events } = await connect(t, server.url, withParser);
      const big = pseudoRandomBytes(70_000, 7);
      const small = Buffer.from([9, 8, 7]);
      const reply = await ack(socket, "binary", big, { nested: [small] }, "s");
      assert.equal(reply.length, 3);
      assert.ok(isBinary(reply[0]));
      assert.ok(toBuffer(reply[0]).equals(big));
      assert.ok(toBuffer(reply[1].nested[0]).equals(small));
      assert.equal(reply[2], "s");
      const [back] = await events.next("binary-back");
      assert.ok(toBuffer(back.server).equals(Buffer.from(Array.from({ length: 256 }, (_, i) => i))));
      assert.ok(toBuffer(back.echoed[0]).equals(big));
    });

    test("rooms and broadcasts", opts, async (t) => {
      const server = await startApp(t, ["--msgpack"]);
      const a = await connect(t, server.url, withParser);
      const b = await connect(t, server.url, withParser);
      const c = await connect(t, server.url, withParser);
      await b.socket.emitWithAck("join", "r");
      await ack(a.socket, "to-room", "r", "msg", Buffer.from("hi"), 1);
      const [data, n] = await b.events.next("msg");
      assert.ok(toBuffer(data).equals(Buffer.from("hi")));
      assert.equal(n, 1);
      await ack(a.socket, "emit-all", "end");
      await Promise.all([a, b, c].map((x) => x.events.next("end")));
      assert.equal(a.events.count("msg") + c.events.count("msg"), 0);
      // Broadcast with acks.
      for (const [i, x] of [a, b, c].entries()) x.socket.on("question", (_q, cb) => cb(i));
      const [reply] = await ack(c.socket, "broadcast-with-ack", 5_000, "q");
      assert.equal(reply.ok, true, JSON.stringify(reply));
      assert.deepEqual([...reply.answers].sort(), [0, 1, 2]);
    });

    test("/admin refused: connect_error message and data", opts, async (t) => {
      const server = await startApp(t, ["--msgpack"]);
      const socket = client(t, `${server.url}/admin`, { ...withParser, auth: { token: "no" } });
      const err = await connectError(socket);
      assert.equal(err.message, "not authorized");
      assert.deepEqual(err.data, { code: 42 });
      const ok = await connect(t, `${server.url}/admin`, { ...withParser, auth: { token: "secret" } });
      const [hs] = await ack(ok.socket, "handshake");
      assert.equal(hs.nsp, "/admin");
    });
  });
}
