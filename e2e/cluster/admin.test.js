// The Admin UI's view of a sockeye-chat cluster (two nodes with --redis on
// a private redis-server, --admin-ui on both): a UI connected to one node
// sees both nodes' stats, every user's socket with its nickname, events of
// the other node's users, and its disconnect reaches a socket on the other
// node.

import assert from "node:assert/strict";
import { test } from "node:test";
import { io } from "socket.io-client";
import { ack, connect, defer, login, Recorder, startChat } from "../tests/chat-helpers.js";
import { startRedis } from "./cluster-helpers.js";

const TIMEOUT = 60_000;

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

test("admin UI on a two-node cluster: every node, every socket, remote events and disconnect", { timeout: TIMEOUT }, async (t) => {
  const redis = await startRedis(t);
  const nodes = [];
  for (let i = 0; i < 2; i++) nodes.push(await startChat(t, ["--redis", redis.url, "--admin-ui", "--admin-no-auth"]));
  const ann = await connect(t, nodes[0].url, { transports: ["websocket"] });
  const bob = await connect(t, nodes[1].url, { transports: ["websocket"] });
  await login(ann, "ann");
  await login(bob, "bob");

  const ui = io(`${nodes[0].url}/admin`, { forceNew: true, reconnection: false, transports: ["websocket"] });
  defer(t, () => ui.disconnect());
  const rec = new Recorder(ui);
  // Stats from both nodes, each under its own server id.
  const servers = new Set();
  const bothNodes = new Promise((resolve) =>
    ui.on("server_stats", (s) => {
      servers.add(s.serverId);
      if (servers.size === 2) resolve();
    }),
  );
  const all = await rec.next("all_sockets");
  const users = all.filter((s) => s.nsp === "/");
  assert.deepEqual(users.map((s) => s.data.username).sort(), ["ann", "bob"]);
  await bothNodes;

  // bob's message on node 1 shows up on node 0's UI.
  const received = nextArgs(ui, "event_received", ([nsp, , args]) => nsp === "/" && args[0] === "new message");
  await ack(bob.socket, "new message", "from node one");
  assert.deepEqual((await received)[2], ["new message", "from node one"]);

  // The UI's disconnect, sent to node 0, reaches bob on node 1.
  const bobId = bob.socket.id;
  const gone = new Promise((resolve) => bob.socket.once("disconnect", resolve));
  const reported = nextArgs(ui, "socket_disconnected", ([, id]) => id === bobId);
  ui.emit("_disconnect", "/", false, bobId);
  assert.equal(await gone, "io server disconnect");
  assert.equal((await reported)[2], "server namespace disconnect");
  assert.equal(ann.socket.connected, true);
});
