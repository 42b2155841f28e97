// Sticky sessions: two `sockeye-chat` instances with `--cookie io` behind
// HAProxy (`cookie io prefix indirect nocache`, `balance roundrobin`).
//
// Without stickiness, polling sessions break at once: the request after the
// handshake reaches the other instance, which answers 400 "Session ID
// unknown". With it, requests without the cookie still alternate between
// the instances, and a socket.io-client on polling (carrying the cookie
// through its cookie jar, `withCredentials: true`) logs in and chats over
// many requests, each routed by the cookie to the instance that knows it.
//
// HAPROXY names the binary (default: `haproxy` on PATH; scripts/test
// installs Debian's package when it is missing).

import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import test from "node:test";
import { io } from "socket.io-client";
import { ack, defer, freePort, Recorder, startChat } from "../tests/chat-helpers.js";
import { spawnHaproxy } from "./proxy-helpers.js";

const TIMEOUT = 60_000;
const opts = { timeout: TIMEOUT };
/** Messages exchanged through the proxy, each one a polling POST and GET. */
const MESSAGES = 40;

/** Starts HAProxy in front of `backends` and waits until both frontends answer. */
async function startHaproxy(t, backends) {
  const [sticky, plain] = [await freePort(), await freePort()];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sockeye-haproxy-"));
  defer(t, () => fs.rmSync(dir, { recursive: true, force: true }));
  const servers = (withCookie) =>
    backends
      .map((b, i) => `  server s${i + 1} ${b}${withCookie ? ` cookie s${i + 1}` : ""}`)
      .join("\n");
  // Timeouts above the ping interval plus timeout (25 s + 20 s): a polling
  // GET is held open for up to the ping interval.
  const config = `global
  maxconn 512

defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 60s

frontend sticky
  bind 127.0.0.1:${sticky}
  default_backend sticky

frontend plain
  bind 127.0.0.1:${plain}
  default_backend plain

backend sticky
  balance roundrobin
  cookie io prefix indirect nocache
${servers(true)}

backend plain
  balance roundrobin
${servers(false)}
`;
  const proc = await spawnHaproxy(t, dir, config);
  // The listeners may be bound just after HAProxy says it started: ready once both
  // frontends answer /healthz through a backend (a refused connection is
  // retried, for at most 10 s).
  const deadline = Date.now() + 10_000;
  for (const port of [sticky, plain]) {
    for (;;) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/healthz`, { headers: { connection: "close" } });
        assert.equal(await res.text(), "ok", `haproxy on ${port}`);
        break;
      } catch (err) {
        if (proc.gone() || Date.now() > deadline || err.cause?.code !== "ECONNREFUSED") {
          throw new Error(`haproxy does not answer on ${port}: ${err.message}\n${proc.output()}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  }
  return { sticky: `http://127.0.0.1:${sticky}`, plain: `http://127.0.0.1:${plain}` };
}

/** Two chat instances with the io cookie, and HAProxy in front of them. */
async function cluster(t) {
  const one = await startChat(t, ["--cookie", "io"]);
  const two = await startChat(t, ["--cookie", "io"]);
  const backends = [one.url, two.url].map((u) => new URL(u).host);
  return startHaproxy(t, backends);
}

/** A polling handshake, each request on a fresh connection. */
async function handshake(base, headers = {}) {
  const res = await fetch(`${base}/socket.io/?EIO=4&transport=polling`, {
    headers: { connection: "close", ...headers },
  });
  const body = await res.text();
  assert.equal(res.status, 200, body);
  assert.equal(body[0], "0");
  return { sid: JSON.parse(body.slice(1)).sid, setCookie: res.headers.getSetCookie() };
}

function connectPolling(t, url, options = {}) {
  const socket = io(url, {
    forceNew: true,
    reconnection: false,
    transports: ["polling"],
    ...options,
  });
  const rec = new Recorder(socket);
  defer(t, () => socket.disconnect());
  const outcome = new Promise((resolve) => {
    socket.once("connect", () => resolve({ ok: true }));
    socket.once("connect_error", (err) => resolve({ ok: false, error: err }));
  });
  return { socket, rec, outcome };
}

test("without stickiness, polling sessions fail with 400 Session ID unknown", opts, async (t) => {
  const proxy = await cluster(t);
  for (let i = 0; i < 3; i++) {
    const { sid } = await handshake(proxy.plain);
    // Round robin: this request goes to the other instance.
    const res = await fetch(`${proxy.plain}/socket.io/?EIO=4&transport=polling&sid=${sid}`, {
      method: "POST",
      headers: { connection: "close", "content-type": "text/plain;charset=UTF-8" },
      body: "40",
    });
    assert.equal(res.status, 400);
    assert.deepEqual(await res.json(), { code: 1, message: "Session ID unknown" });
  }
  // And the official client cannot even connect.
  const client = connectPolling(t, proxy.plain, { withCredentials: true });
  const { ok, error } = await client.outcome;
  assert.equal(ok, false);
  assert.match(error.message, /xhr (poll|post) error/);
});

test("with `cookie io prefix`: requests alternate without the cookie, sessions stick with it", opts, async (t) => {
  const proxy = await cluster(t);

  // Without the cookie, round robin: the handshakes alternate instances,
  // which HAProxy names in the cookie's prefix.
  const prefixes = [];
  for (let i = 0; i < 4; i++) {
    const { sid, setCookie } = await handshake(proxy.sticky);
    assert.equal(setCookie.length, 1);
    const m = /^io=(s[12])~([^;]+); Path=\/; HttpOnly; SameSite=Lax$/.exec(setCookie[0]);
    assert.ok(m, setCookie[0]);
    assert.equal(m[2], sid);
    prefixes.push(m[1]);
  }
  assert.deepEqual(new Set(prefixes), new Set(["s1", "s2"]));
  assert.notEqual(prefixes[0], prefixes[1]);
  assert.notEqual(prefixes[1], prefixes[2]);

  // With it, every request of a session reaches its instance.
  const { sid, setCookie } = await handshake(proxy.sticky);
  const cookie = setCookie[0].split(";")[0];
  const url = `${proxy.sticky}/socket.io/?EIO=4&transport=polling&sid=${sid}`;
  const headers = { connection: "close", cookie };
  const post = await fetch(url, { method: "POST", headers, body: "40" });
  assert.equal(post.status, 200);
  assert.equal(await post.text(), "ok");
  const connected = await fetch(url, { headers });
  assert.match(await connected.text(), /^40\{"sid":"[^"]+"\}$/);
  for (let i = 0; i < 10; i++) {
    const res = await fetch(url, {
      method: "POST",
      headers,
      body: `42${i}["new message","raw ${i}"]`,
    });
    assert.equal(res.status, 200, `request ${i}`);
    await res.text();
  }
  // Without the cookie, the same session is unknown half the time: one of
  // two consecutive requests reaches the other instance.
  const statuses = [];
  for (let i = 0; i < 2; i++) {
    const res = await fetch(url, { method: "POST", headers: { connection: "close" }, body: "3" });
    statuses.push(res.status);
    await res.text();
  }
  assert.ok(statuses.includes(400), statuses.join(","));
});

test("socket.io-client on polling with its cookie jar logs in and chats through the proxy", opts, async (t) => {
  const proxy = await cluster(t);

  // Three clients, one after the other: round robin puts two of them on the
  // same instance, and `login.users` tells which.
  const clients = [];
  for (const name of ["Ada", "Grace", "Linus"]) {
    const c = connectPolling(t, proxy.sticky, { withCredentials: true });
    const { ok, error } = await c.outcome;
    assert.ok(ok, `${name}: ${error?.message}`);
    const loginEvent = c.rec.next("login");
    assert.deepEqual(await ack(c.socket, "add user", name), { ok: true });
    c.name = name;
    c.login = await loginEvent;
    c.sid = c.socket.io.engine.id;
    clients.push(c);
  }
  assert.deepEqual(
    clients.map((c) => c.login.numUsers).sort(),
    [1, 1, 2],
    "two instances, three users",
  );
  const b = clients.find((c) => c.login.numUsers === 2);
  const a = clients.find((c) => c.name === b.login.users.find((n) => n !== b.name));
  const alone = clients.find((c) => c !== a && c !== b);
  assert.ok(a && b && alone);

  // Many messages both ways, each acknowledged and received: every one is a
  // polling POST plus the GET that brings it, all routed by the cookie.
  for (let i = 0; i < MESSAGES; i++) {
    const [from, to] = i % 2 === 0 ? [a, b] : [b, a];
    const got = to.rec.next("new message", (m) => m.message === `message ${i}`);
    const res = await ack(from.socket, "new message", `message ${i}`);
    const m = await got;
    assert.equal(m.id, res.id);
    assert.equal(m.username, from.name);
  }
  const secret = b.rec.next("private message");
  assert.equal((await ack(a.socket, "private message", { to: b.name, message: "psst" })).ok, true);
  assert.equal((await secret).from, a.name);
  // The lone client's instance knows nothing of the others.
  const lonely = await ack(alone.socket, "private message", { to: a.name, message: "hi" });
  assert.equal(lonely.ok, false);

  // Still the same sessions, on polling, never disconnected.
  for (const c of clients) {
    assert.equal(c.socket.io.engine.id, c.sid);
    assert.equal(c.socket.io.engine.transport.name, "polling");
    assert.equal(c.socket.connected, true);
  }

  // Disconnect notices go through the proxy too.
  const left = b.rec.next("user left");
  a.socket.disconnect();
  assert.deepEqual(await left, { username: a.name, numUsers: 1 });
});

test("the same client without the cookie jar fails behind the sticky proxy", opts, async (t) => {
  const proxy = await cluster(t);
  // Without withCredentials the Node client keeps no cookies: the request
  // after the handshake is balanced like any other.
  const c = connectPolling(t, proxy.sticky, { withCredentials: false });
  const { ok } = await c.outcome;
  assert.equal(ok, false);
});
