// Connection state recovery with socket.io-client 4.x: after the transport
// drops, the client comes back with the same id and rooms, and gets what was
// broadcast to its rooms meanwhile (server started with --recovery).

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { nextEvent } from "./helpers.js";
import { MODES, ack, client, connect, connected, startApp } from "./socketio-helpers.js";

for (const [mode, transport] of Object.entries(MODES)) {
  describe(`recovery over ${mode}`, () => {
    test("the same id, rooms and the missed events come back", async (t) => {
      const server = await startApp(t, ["--recovery"]);
      // No automatic reconnection: the test decides when to come back, after
      // the broadcast it must not miss.
      const a = client(t, server.url, { ...transport, reconnection: false });
      await connected(a);
      assert.equal(a.recovered, false);
      const id = a.id;
      assert.deepEqual((await ack(a, "join", "r"))[0].sort(), [id, "r"].sort());
      const seen = [];
      a.on("news", (n) => seen.push(n));
      const { socket: b } = await connect(t, server.url, transport);
      const first = nextEvent(a, "news");
      await ack(b, "to-room", "r", "news", 1);
      await first;
      assert.deepEqual(seen, [1]);

      const gone = nextEvent(a, "disconnect");
      a.emit("close-transport");
      const [reason] = await gone;
      assert.equal(reason, "transport close");
      // Missed while away: to its room, and to everyone.
      await ack(b, "to-room", "r", "news", 2);
      await ack(b, "to-room", "elsewhere", "news", "not for a");
      await ack(b, "broadcast", "news", 3);

      const back = connected(a);
      a.connect();
      await back;
      assert.equal(a.recovered, true);
      assert.equal(a.id, id);
      // The missed packets arrive before the CONNECT, so they are here now.
      assert.deepEqual(seen, [1, 2, 3]);
      assert.deepEqual((await ack(a, "rooms"))[0].sort(), [id, "r"].sort());
    });

    test("without the option a reconnect is a new socket", async (t) => {
      const server = await startApp(t);
      const a = client(t, server.url, { ...transport, reconnection: false });
      await connected(a);
      const id = a.id;
      const gone = nextEvent(a, "disconnect");
      a.emit("close-transport");
      await gone;
      const back = connected(a);
      a.connect();
      await back;
      // Without a pid from the server the client does not even set it.
      assert.ok(!a.recovered);
      assert.notEqual(a.id, id);
    });
  });
}
