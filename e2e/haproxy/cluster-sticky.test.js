// Three `sockeye-chat --redis` nodes behind HAProxy with cookie
// stickiness, the two usual ways:
//
// * `cookie io prefix indirect nocache` with the nodes started with
//   `--cookie io` (HAProxy prefixes the chat's own session cookie with the
//   server's name, and strips the prefix on the way in);
// * `cookie SERVERID insert indirect nocache` (HAProxy's own cookie; the
//   nodes set none).
//
// Official socket.io-client users on polling only, on the default upgrade
// and on WebSocket only chat across the nodes; the access log proves that
// every request of every session reached one server, and the stats count
// requests on all three.

import test from "node:test";
import { conversation } from "./chat-scenario.js";
import { assert, serversBySid, startHaproxy, startNodes } from "./proxy-helpers.js";

const opts = { timeout: 90_000 };

const SETUPS = [
  {
    name: "cookie io prefix (nodes with --cookie io)",
    nodeArgs: ["--cookie", "io"],
    persistence: ["cookie io prefix indirect nocache"],
    // The node's `io=<sid>` comes back as `io=s<n>~<sid>`.
    cookie: /^io=(s[123])~([\w-]+)$/,
  },
  {
    name: "cookie SERVERID insert (HAProxy's own cookie)",
    nodeArgs: [],
    persistence: ["cookie SERVERID insert indirect nocache"],
    cookie: /^SERVERID=(s[123])$/,
  },
];

/** No Engine.IO forwarding between the nodes, when the chat has it: stickiness alone must do. */
async function noForwarding() {
  const { chatBinary } = await import("../tests/chat-helpers.js");
  const { execFileSync } = await import("node:child_process");
  const help = execFileSync(chatBinary(), ["--help"], { encoding: "utf8" });
  return help.includes("--no-forwarding") ? ["--no-forwarding"] : [];
}

for (const setup of SETUPS) {
  test(`${setup.name}: every session sticks to one of three nodes and chats across them`, opts, async (t) => {
    const { nodes } = await startNodes(t, 3, [...setup.nodeArgs, ...(await noForwarding())]);
    const proxy = await startHaproxy(t, { nodes, persistence: setup.persistence, serverCookies: true });

    const { users, delivered } = await conversation(t, proxy.url, { count: 20 });
    assert.equal(delivered, 3 * 2 * 20);

    const log = proxy.log();
    const bySid = serversBySid(log);
    const homes = [];
    for (const u of users) {
      if (u.mode === "websocket") {
        // One request, without sid or cookie (balanced like a handshake),
        // logged when the WebSocket closes: not yet.
        continue;
      }
      const servers = bySid.get(u.sid) ?? [];
      // The upgrading user's polling requests before its WebSocket: the
      // CONNECT's POST and a GET or two, depending on when the probe
      // releases the pending poll. The polling user makes dozens.
      const least = u.mode === "polling" ? 4 : 2;
      assert.ok(servers.length >= least, `${u.name}: ${servers.length} requests`);
      assert.deepEqual([...new Set(servers)], [servers[0]], `${u.name}'s requests went to one server`);
      homes.push(servers[0]);
    }
    // The handshakes (no cookie yet) were balanced round robin: the two
    // polling sessions live on different nodes.
    assert.equal(new Set(homes).size, 2, `sessions on ${homes}`);

    // Every request of a session carried the cookie naming the server that
    // served it (HAProxy's prefix on the node's io cookie, or its own
    // SERVERID), and no request went without it after the handshake.
    for (const l of log.filter((l) => l.sid)) {
      const named = setup.cookie.exec(l.cookie);
      assert.ok(named, `${l.method} ${l.uri}: cookie ${JSON.stringify(l.cookie)}`);
      assert.equal(l.server, named[1], `${l.method} ${l.uri} with ${l.cookie}`);
      if (named[2]) assert.equal(named[2], l.sid);
    }

    // Per-node counts from HAProxy's stats: every node served requests,
    // and none was refused for an unknown session.
    const stats = await proxy.stats();
    const servers = stats.filter((r) => r.pxname === "nodes" && /^s\d$/.test(r.svname));
    assert.equal(servers.length, 3);
    for (const s of servers) assert.ok(Number(s.stot) > 0, `${s.svname} served requests`);
    assert.equal(log.filter((l) => l.status === 400).length, 0, "no 400 Session ID unknown");
  });
}
