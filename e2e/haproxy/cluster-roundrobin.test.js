// No stickiness at all: three `sockeye-chat --redis` nodes (sessions served
// from any node: polling requests forwarded to the session's owner,
// WebSocket upgrades on a non-owner relayed) behind HAProxy with plain
// `balance roundrobin` and no cookie. Official socket.io-client users on
// polling only, on the default upgrade and on WebSocket only log in and
// chat: every message arrives once and in order, no connect_error, no
// reconnection. The access log shows the polling sessions' requests spread
// over the nodes. The nodes share a `--cluster-secret`, so every frame they
// forward carries an HMAC. With `--no-forwarding` the same setup fails at
// once.

import test from "node:test";
import { io } from "socket.io-client";
import { defer } from "../tests/chat-helpers.js";
import { assertUntroubled, burst, conversation, pingPong } from "./chat-scenario.js";
import { assert, serversBySid, startHaproxy, startNodes } from "./proxy-helpers.js";

const opts = { timeout: 120_000 };

test("balance roundrobin without stickiness: polling, upgrade and WebSocket-only users chat across three nodes", opts, async (t) => {
  const { nodes } = await startNodes(t, 3, ["--cluster-secret", "e2e round robin secret"]);
  const proxy = await startHaproxy(t, { nodes });

  const { users, delivered } = await conversation(t, proxy.url, { count: 30 });
  assert.equal(delivered, 3 * 2 * 30);
  // A second round, now that the upgraded user is on WebSocket for good.
  assert.equal(await burst(users, 30, "again"), 3 * 2 * 30);
  // Turn by turn: the polling user's every message is its own POST, and
  // every answer comes back in a GET, each to the next node.
  const [polling, upgraded, websocket] = users;
  await pingPong(polling, upgraded, 40, "turn");
  await pingPong(websocket, polling, 20, "turn2");
  assertUntroubled(users);

  const log = proxy.log();
  const bySid = serversBySid(log);
  for (const u of users.filter((u) => u.mode !== "websocket")) {
    const servers = bySid.get(u.sid) ?? [];
    const spread = new Set(servers);
    t.diagnostic(`${u.name}: ${servers.length} requests over ${[...spread].sort()}`);
    if (u.mode === "polling") {
      // Round robin with no cookie: the session's requests (dozens of
      // them) reached every node.
      assert.ok(servers.length >= 2 * 60, `${u.name}: ${servers.length} requests`);
      assert.equal(spread.size, 3, `${u.name}'s requests went to ${[...spread]}`);
    } else {
      // Handshake, CONNECT and a poll or two before the upgrade (logged
      // so far; the WebSocket is logged when it closes).
      assert.ok(servers.length >= 2, `${u.name}: ${servers.length} requests`);
    }
  }
  assert.deepEqual(
    log.filter((l) => l.status >= 400).map((l) => `${l.status} ${l.method} ${l.uri}`),
    [],
    "no request failed",
  );
  const forwardable = log.filter((l) => l.transport === "polling" && l.sid).length;
  t.diagnostic(`${forwardable} polling requests with a sid, ${log.length} requests in all`);
});

test("the same proxy with --no-forwarding: a polling session fails at its second request", opts, async (t) => {
  const { nodes } = await startNodes(t, 3, ["--no-forwarding"]);
  const proxy = await startHaproxy(t, { nodes });
  const socket = io(proxy.url, { forceNew: true, reconnection: false, transports: ["polling"] });
  defer(t, () => socket.disconnect());
  const error = await new Promise((resolve) => {
    socket.once("connect", () => resolve(null));
    socket.once("connect_error", resolve);
  });
  assert.ok(error, "connected without forwarding or stickiness");
  assert.match(error.message, /xhr (poll|post) error/);
  assert.ok(proxy.log().some((l) => l.status === 400 && l.sid), "400 Session ID unknown on another node");
});
