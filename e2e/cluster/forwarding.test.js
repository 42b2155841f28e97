// Sessions served from any node: three sockeye-chat nodes with --redis on a
// private redis-server (forwarding is on by default), and every request of
// one session sent to another node than the one before.
//
// - Raw HTTP: the polling requests of one Socket.IO session alternate
//   between the three nodes on every request; nothing is lost or reordered.
// - The official socket.io-client (polling-only, and the default
//   polling-then-WebSocket) behind a round-robin proxy written here: every
//   HTTP request and every WebSocket goes to the next node in turn.
// - --no-forwarding keeps the old behaviour (a session on another node is
//   unknown).

import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";
import { test } from "node:test";
import WebSocket from "ws";
import { ack, connect, login, startChat } from "../tests/chat-helpers.js";
import { startRedis } from "./cluster-helpers.js";

const TIMEOUT = 60_000;

/** One HTTP request on its own connection: {status, body}. */
function request(port, method, path, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: "127.0.0.1",
        port,
        method,
        path,
        agent: false,
        headers: body === undefined ? {} : { "content-type": "text/plain;charset=UTF-8" },
      },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

const portOf = (node) => Number(new URL(node.url).port);

/**
 * A round-robin proxy in front of `ports`: each HTTP request goes to the
 * next port in turn, except handshakes (no sid), which all go to the first
 * port, and WebSockets of polling sessions, which all go to the second: so
 * every upgrade lands on a node that does not own its session. Counts what
 * went where.
 */
async function roundRobin(t, ports) {
  let next = 0;
  const pick = () => ports[next++ % ports.length];
  const counts = { requests: 0, upgrades: 0 };
  const server = http.createServer((req, res) => {
    counts.requests++;
    const port = req.url.includes("sid=") ? pick() : ports[0];
    const upstream = http.request(
      { host: "127.0.0.1", port, method: req.method, path: req.url, headers: req.headers, agent: false },
      (up) => {
        res.writeHead(up.statusCode, up.headers);
        up.pipe(res);
      },
    );
    upstream.on("error", () => res.destroy());
    req.pipe(upstream);
  });
  server.on("upgrade", (req, socket, head) => {
    counts.upgrades++;
    const upstream = net.connect(req.url.includes("sid=") ? ports[1] : pick(), "127.0.0.1", () => {
      const lines = [`${req.method} ${req.url} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      upstream.write(lines.join("\r\n") + "\r\n\r\n");
      if (head.length) upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    const drop = () => {
      upstream.destroy();
      socket.destroy();
    };
    upstream.on("error", drop);
    socket.on("error", drop);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => {
    server.closeAllConnections?.();
    return new Promise((r) => server.close(r));
  });
  return { url: `http://127.0.0.1:${server.address().port}`, counts };
}

/** Splits a v4 polling payload into its packets. */
const packets = (body) => body.split("\x1e");

async function threeNodes(t, extra = []) {
  const redis = await startRedis(t);
  const nodes = [];
  for (let i = 0; i < 3; i++) nodes.push(await startChat(t, ["--redis", redis.url, ...extra]));
  return nodes.map(portOf);
}

test("raw polling requests of one session alternate between the nodes", { timeout: TIMEOUT }, async (t) => {
  const ports = await threeNodes(t);
  let turn = 0;
  const nextPort = () => ports[turn++ % 3];
  const hs = await request(nextPort(), "GET", "/socket.io/?EIO=4&transport=polling");
  assert.equal(hs.status, 200);
  const { sid } = JSON.parse(hs.body.slice(1));
  const path = `/socket.io/?EIO=4&transport=polling&sid=${sid}`;
  const post = async (body) => {
    const res = await request(nextPort(), "POST", path, body);
    assert.deepEqual(res, { status: 200, body: "ok" });
  };
  // Everything the server sent, in order, whatever node answered the GET.
  const received = [];
  const pollUntil = async (pred) => {
    while (!received.some(pred)) {
      const res = await request(nextPort(), "GET", path);
      assert.equal(res.status, 200, res.body);
      received.push(...packets(res.body));
    }
  };
  await post("40");
  await pollUntil((p) => p.startsWith("40{"));
  await post('420["add user","raw"]');
  await pollUntil((p) => p.startsWith("430"));
  assert.equal(JSON.parse(received.find((p) => p.startsWith("430")).slice(3))[0].ok, true);
  // Ten messages, one POST each, through alternating nodes: their acks come
  // back in order.
  for (let i = 1; i <= 10; i++) await post(`42${i}["new message","m${i}"]`);
  await pollUntil((p) => p.startsWith("4310["));
  const acks = received.filter((p) => /^43\d+\[/.test(p)).map((p) => Number(/^43(\d+)/.exec(p)[1]));
  assert.deepEqual(acks, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  // A well-formed sid that no session has: refused at once.
  const unknown = await request(ports[1], "GET", `/socket.io/?EIO=4&transport=polling&sid=${sid.slice(0, 4)}AAAAAAAAAAAAAAAA`);
  assert.equal(unknown.status, 400);
  assert.equal(JSON.parse(unknown.body).code, 1);
  await post("41");
});

for (const [label, transports] of [
  ["polling-only", ["polling"]],
  ["default (polling, then WebSocket)", ["polling", "websocket"]],
]) {
  test(`socket.io-client ${label} through a round-robin proxy`, { timeout: TIMEOUT }, async (t) => {
    const ports = await threeNodes(t);
    const proxy = await roundRobin(t, ports);
    const alice = await connect(t, proxy.url, { transports });
    await login(alice, "alice");
    // Bob listens directly on one node.
    const bob = await connect(t, `http://127.0.0.1:${ports[2]}`, { transports: ["websocket"] });
    await login(bob, "bob");
    if (transports.length > 1) {
      // The upgrade completes whatever node the WebSocket reached.
      await new Promise((resolve) => {
        if (alice.socket.io.engine.transport.name === "websocket") resolve();
        else alice.socket.io.engine.once("upgrade", resolve);
      });
    }
    for (let i = 0; i < 20; i++) {
      const res = await ack(alice.socket, "new message", `hello ${i}`);
      assert.ok(res.id, JSON.stringify(res));
    }
    for (let i = 0; i < 20; i++) {
      const m = await bob.rec.next("new message");
      assert.equal(m.message, `hello ${i}`);
    }
    // Bob's messages reach alice through the forwarded polls or the relay.
    await ack(bob.socket, "new message", "hi alice");
    assert.equal((await alice.rec.next("new message")).message, "hi alice");
    assert.ok(proxy.counts.requests >= 3, JSON.stringify(proxy.counts));
    assert.equal(proxy.counts.upgrades, transports.length - 1, JSON.stringify(proxy.counts));
    assert.equal(alice.socket.connected, true);
  });
}

/** A raw polling Socket.IO session logged in as `name`, its requests sent to `ports` in turn. */
async function rawUser(owner, ports, name) {
  let turn = 0;
  const nextPort = () => ports[turn++ % ports.length];
  const hs = await request(owner, "GET", "/socket.io/?EIO=4&transport=polling");
  const { sid } = JSON.parse(hs.body.slice(1));
  const path = `/socket.io/?EIO=4&transport=polling&sid=${sid}`;
  const received = [];
  const pollUntil = async (pred) => {
    while (!received.some(pred)) received.push(...packets((await request(nextPort(), "GET", path)).body));
  };
  assert.equal((await request(nextPort(), "POST", path, "40")).body, "ok");
  await pollUntil((p) => p.startsWith("40{"));
  assert.equal((await request(nextPort(), "POST", path, `420["add user","${name}"]`)).body, "ok");
  await pollUntil((p) => p.startsWith("430"));
  return { sid, path };
}

test("kill -9 of a forwarder closes its sessions on the owner; of an owner, its sessions fail fast", { timeout: TIMEOUT }, async (t) => {
  const redis = await startRedis(t);
  const nodes = [];
  for (let i = 0; i < 3; i++) {
    // Not registered with `t`: two of them die during the test.
    const node = await startChat(null, ["--redis", redis.url]);
    t.after(() => node.kill("SIGKILL").catch(() => {}));
    nodes.push(node);
  }
  const [a, b, c] = nodes.map(portOf);
  const bob = await connect(t, `http://127.0.0.1:${a}`, { transports: ["websocket"] });
  await login(bob, "bob");
  // carol's session lives on b; her WebSocket (relayed) on c.
  const carol = await rawUser(b, [a, c], "carol");
  const ws = new WebSocket(`ws://127.0.0.1:${c}/socket.io/?EIO=4&transport=websocket&sid=${carol.sid}`);
  const frames = [];
  let wake = () => {};
  ws.on("message", (d) => {
    frames.push(d.toString());
    wake();
  });
  ws.on("error", () => {});
  const frame = async (pred) => {
    while (!frames.some(pred)) await new Promise((r) => (wake = r));
  };
  await new Promise((r) => ws.once("open", r));
  ws.send("2probe");
  await frame((f) => f === "3probe");
  ws.send("5");
  // Acked through the relay: the owner serves carol through c.
  ws.send('421["new message","through c"]');
  await frame((f) => f.startsWith("431["));
  const killedAt = Date.now();
  await nodes[2].kill("SIGKILL");
  assert.deepEqual(await bob.rec.next("user left", (u) => u.username === "carol"), { username: "carol", numUsers: 1 });
  const cleanup = Date.now() - killedAt;
  assert.ok(cleanup < 6_000, `the owner closed carol ${cleanup} ms after her forwarder died`);
  // dave's session lives on b, which dies: requests through a fail, fast
  // once b's lease is gone.
  const dave = await rawUser(b, [a], "dave");
  const ownerKilledAt = Date.now();
  await nodes[1].kill("SIGKILL");
  let last;
  for (;;) {
    const start = Date.now();
    const res = await request(a, "POST", dave.path, '42["new message","x"]');
    assert.equal(res.status, 400, res.body);
    assert.equal(JSON.parse(res.body).code, 1);
    last = Date.now() - start;
    if (last < 100) break;
    assert.ok(Date.now() - ownerKilledAt < 8_000, "the dead owner was not detected in time");
  }
  const detected = Date.now() - ownerKilledAt;
  assert.ok(detected < 6_000, `refused at once ${detected} ms after the owner died`);
  console.log(`forwarder death -> owner cleanup: ${cleanup} ms; owner death -> fast refusals: ${detected} ms`);
});

test("--no-forwarding: a session is unknown on the other nodes", { timeout: TIMEOUT }, async (t) => {
  const ports = await threeNodes(t, ["--no-forwarding"]);
  const hs = await request(ports[0], "GET", "/socket.io/?EIO=4&transport=polling");
  const { sid } = JSON.parse(hs.body.slice(1));
  const res = await request(ports[1], "POST", `/socket.io/?EIO=4&transport=polling&sid=${sid}`, "40");
  assert.equal(res.status, 400);
  assert.equal(JSON.parse(res.body).code, 1);
});
