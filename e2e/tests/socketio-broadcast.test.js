// Broadcasts with socket.io-client 4.x: to every other socket, to rooms
// (the sender excluded), with acknowledgements from every recipient, and a
// fan-out to 10 clients.
//
// "X did not receive E" is checked without waiting for time to pass: the
// server writes to one socket in order, so once X got a later packet that
// the server sent after E would have been sent to X (an ack, or a second
// broadcast), E can no longer arrive.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { TEST_TIMEOUT } from "./helpers.js";
import { MODES, ack, connect, startApp } from "./socketio-helpers.js";

const opts = { timeout: TEST_TIMEOUT };

/** Connect `n` clients to `url`; resolves with [{socket, events}]. */
function connectAll(t, url, n, transport) {
  return Promise.all(Array.from({ length: n }, () => connect(t, url, transport)));
}

for (const [mode, transport] of Object.entries(MODES)) {
  describe(`broadcasts, socket.io-client 4 over ${mode}`, () => {
    test("broadcast reaches every other socket once, not the sender", opts, async (t) => {
      const server = await startApp(t);
      const [a, b, c] = await connectAll(t, server.url, 3, transport);
      // The ack comes after the server broadcast: anything for `a` is in first.
      assert.deepEqual(await ack(a.socket, "broadcast", "news", 1, { x: "y" }), ["ok"]);
      assert.deepEqual(await b.events.next("news"), [1, { x: "y" }]);
      assert.deepEqual(await c.events.next("news"), [1, { x: "y" }]);
      assert.equal(a.events.count("news"), 0);
      // A second broadcast is a barrier for duplicates of the first.
      await ack(a.socket, "broadcast", "end");
      await Promise.all([b.events.next("end"), c.events.next("end")]);
      assert.equal(b.events.count("news"), 1);
      assert.equal(c.events.count("news"), 1);
      assert.equal(a.events.count("news") + a.events.count("end"), 0);
    });

    test("to-room reaches the other members of the room only", opts, async (t) => {
      const server = await startApp(t);
      const [a, b, c, d] = await connectAll(t, server.url, 4, transport);
      await a.socket.emitWithAck("join", "r");
      await b.socket.emitWithAck("join", ["r", "other"]);
      await d.socket.emitWithAck("join", "other");
      assert.deepEqual(await ack(a.socket, "to-room", "r", "msg", "hello", 2), ["ok"]);
      assert.deepEqual(await b.events.next("msg"), ["hello", 2]);
      assert.equal(a.events.count("msg"), 0);
      // A broadcast to everyone after it is the barrier for c and d.
      await ack(a.socket, "emit-all", "end");
      await Promise.all([a, b, c, d].map((x) => x.events.next("end")));
      assert.equal(b.events.count("msg"), 1);
      assert.equal(c.events.count("msg"), 0);
      assert.equal(d.events.count("msg"), 0);

      // A non-member may send to a room; after leaving, nothing arrives.
      await b.socket.emitWithAck("leave", "r");
      assert.deepEqual(await ack(c.socket, "to-room", "r", "msg2"), ["ok"]);
      assert.deepEqual(await a.events.next("msg2"), []);
      await ack(c.socket, "emit-all", "end2");
      await Promise.all([a, b, c, d].map((x) => x.events.next("end2")));
      assert.equal(b.events.count("msg2"), 0);
      assert.equal(c.events.count("msg2"), 0);
      assert.equal(a.events.count("msg2"), 1);
    });

    test("to-room with several rooms: a union, each member once", opts, async (t) => {
      const server = await startApp(t);
      const [a, b, c, d] = await connectAll(t, server.url, 4, transport);
      await b.socket.emitWithAck("join", ["r1", "r2"]); // in both
      await c.socket.emitWithAck("join", "r2");
      await a.socket.emitWithAck("join", "r1"); // the sender, excluded anyway
      await ack(a.socket, "to-room", ["r1", "r2"], "multi", "x");
      await ack(a.socket, "emit-all", "end");
      await Promise.all([a, b, c, d].map((x) => x.events.next("end")));
      assert.equal(b.events.count("multi"), 1);
      assert.equal(c.events.count("multi"), 1);
      assert.equal(a.events.count("multi") + d.events.count("multi"), 0);
      // A socket's own id is a room too.
      await ack(d.socket, "to-room", c.socket.id, "direct", "to c");
      assert.deepEqual(await c.events.next("direct"), ["to c"]);
      await ack(d.socket, "emit-all", "end2");
      await Promise.all([a, b, c, d].map((x) => x.events.next("end2")));
      assert.equal(a.events.count("direct") + b.events.count("direct") + d.events.count("direct"), 0);
    });

    test("emit-all reaches the sender too; binary broadcasts arrive intact", opts, async (t) => {
      const server = await startApp(t);
      const clients = await connectAll(t, server.url, 3, transport);
      const blob = Buffer.from("broadcast bytes");
      await ack(clients[0].socket, "emit-all", "blob", { blob, n: 1 });
      for (const { events } of clients) {
        const [got] = await events.next("blob");
        assert.equal(got.n, 1);
        assert.ok(Buffer.from(got.blob).equals(blob));
      }
    });

    test("broadcast with acks collects the answers of 3 clients", opts, async (t) => {
      const server = await startApp(t);
      const clients = await connectAll(t, server.url, 3, transport);
      const asked = [];
      clients.forEach(({ socket }, i) => {
        socket.on("question", (payload, cb) => {
          asked.push([i, payload]);
          cb(`answer-${i}`);
        });
      });
      // The server asks every socket of the namespace, the sender included.
      const [reply] = await ack(clients[1].socket, "broadcast-with-ack", 5_000, { q: "?" });
      assert.equal(reply.ok, true, JSON.stringify(reply));
      assert.deepEqual([...reply.answers].sort(), ["answer-0", "answer-1", "answer-2"]);
      assert.deepEqual(
        asked.sort((x, y) => x[0] - y[0]),
        [0, 1, 2].map((i) => [i, { q: "?" }]),
      );
    });

    test("broadcast with acks times out with the answers so far and the missing count", opts, async (t) => {
      const server = await startApp(t);
      const clients = await connectAll(t, server.url, 3, transport);
      clients[0].socket.on("question", (_payload, cb) => cb("a"));
      clients[1].socket.on("question", (_payload, cb) => cb("b"));
      clients[2].socket.on("question", () => {}); // never answers
      const [reply] = await ack(clients[0].socket, "broadcast-with-ack", 300, "q");
      assert.equal(reply.ok, false, JSON.stringify(reply));
      assert.match(reply.error, /^operation has timed out/);
      assert.deepEqual([...reply.answers].sort(), ["a", "b"]);
      assert.equal(reply.missing, 1);
    });
  });
}

describe("fan-out", () => {
  test("10 clients (mixed transports): every client gets each broadcast exactly once", opts, async (t) => {
    const server = await startApp(t);
    const transports = Object.values(MODES);
    const clients = await Promise.all(
      Array.from({ length: 10 }, (_, i) => connect(t, server.url, transports[i % transports.length])),
    );
    // Every client broadcasts to the others at the same time.
    await Promise.all(clients.map(({ socket }, i) => ack(socket, "broadcast", "from", i)));
    // Then one emit to all: a barrier, after every broadcast above.
    await ack(clients[0].socket, "emit-all", "round", 1);
    await Promise.all(clients.map(({ events }) => events.next("round")));
    clients.forEach(({ events }, i) => {
      const senders = events.all("from").map(([from]) => from).sort((x, y) => x - y);
      const expected = Array.from({ length: 10 }, (_, j) => j).filter((j) => j !== i);
      assert.deepEqual(senders, expected, `client ${i}`);
      assert.equal(events.count("round"), 1, `client ${i}`);
    });
    // Ten more rounds from one sender arrive once each. (Each event gets
    // its own handler task, so only what one handler does is ordered.)
    const rounds = Array.from({ length: 10 }, (_, i) => i + 2);
    await Promise.all(rounds.map((r) => ack(clients[3].socket, "emit-all", "round", r)));
    await ack(clients[3].socket, "emit-all", "done");
    await Promise.all(clients.map(({ events }) => events.next("done")));
    for (const { events } of clients) {
      assert.deepEqual(
        events.all("round").map(([r]) => r).sort((x, y) => x - y),
        Array.from({ length: 11 }, (_, i) => i + 1),
      );
    }
  });
});
