// The chat protocol of `sockeye-chat`, end to end with socket.io-client:
// logins and their refusals, broadcasts, acks, history, private messages,
// typing, disconnect notices; and the binary's HTTP side and options.

import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import test from "node:test";
import { WebSocket } from "ws";
import {
  ack,
  CHAT_TIMEOUT,
  CLIENT_DIST,
  connect,
  login,
  runChatExpectingFailure,
  startChat,
} from "./chat-helpers.js";

const opts = { timeout: CHAT_TIMEOUT };
const clientVersion = JSON.parse(
  fs.readFileSync(path.join(CLIENT_DIST, "..", "package.json"), "utf8"),
).version;

/** A plain HTTP request; resolves to {status, headers, body}. */
function request(url, { method = "GET", headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () =>
        resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }),
      );
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** A WebSocket handshake with an Origin: resolves to "open" or the HTTP status. */
function wsAttempt(url, origin) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { origin });
    ws.on("open", () => {
      ws.close();
      resolve("open");
    });
    ws.on("unexpected-response", (_req, res) => {
      resolve(res.statusCode);
      res.resume();
    });
    ws.on("error", () => {});
  });
}

test("add user: login with users and history, user joined to the others, ack ok", opts, async (t) => {
  const chat = await startChat(t);
  const a = await connect(t, chat.url);
  const b = await connect(t, chat.url);

  const first = await login(a, "  Ada ");
  assert.deepEqual(first.ack, { ok: true });
  assert.deepEqual(first.login, { numUsers: 1, users: ["Ada"], history: [] });

  const joined = a.rec.next("user joined");
  const second = await login(b, "Grace");
  assert.deepEqual(second.login, { numUsers: 2, users: ["Ada", "Grace"], history: [] });
  assert.deepEqual(await joined, { username: "Grace", numUsers: 2 });
  // B, connected but not logged in yet, heard of Ada; nobody hears of
  // their own login.
  assert.deepEqual(b.rec.all("user joined"), [{ username: "Ada", numUsers: 1 }]);
  const probe = b.rec.next("new message");
  await ack(a.socket, "new message", "probe");
  await probe;
  assert.deepEqual(a.rec.all("user joined"), [{ username: "Grace", numUsers: 2 }]);
});

test("add user refusals: taken (ignoring case), empty, too long, not a string, twice", opts, async (t) => {
  const chat = await startChat(t);
  const a = await connect(t, chat.url);
  const b = await connect(t, chat.url);
  await login(a, "Ada");

  for (const name of ["ada", " ADA  ", "", "   ", "x".repeat(33), 42, null]) {
    const res = await ack(b.socket, "add user", name);
    assert.equal(res.ok, false, `nickname ${JSON.stringify(name)}`);
    assert.equal(typeof res.error, "string");
    assert.ok(res.error.length > 0);
  }
  assert.match((await ack(b.socket, "add user", "ADA")).error, /taken/);
  assert.match((await ack(b.socket, "add user", "x".repeat(33))).error, /too long/);

  // Without an ack the refusal comes as `login error`.
  b.socket.emit("add user", "aDa");
  const refusal = await b.rec.next("login error");
  assert.match(refusal.message, /taken/);

  // 32 characters (after trimming) is fine; a second add user is not.
  const max = "é".repeat(32);
  assert.deepEqual(await ack(b.socket, "add user", `  ${max} `), { ok: true });
  const again = await ack(b.socket, "add user", "Other");
  assert.equal(again.ok, false);
  assert.match(again.error, /already/);
  assert.equal(b.rec.all("login").length, 1);
});

test("new message: broadcast to every other socket with id and at, ack with the same id", opts, async (t) => {
  const chat = await startChat(t);
  const a = await connect(t, chat.url);
  const b = await connect(t, chat.url);
  const lurker = await connect(t, chat.url); // never logs in
  await login(a, "Ada");
  await login(b, "Grace");

  const atB = b.rec.next("new message");
  const atLurker = lurker.rec.next("new message");
  const before = Date.now();
  const res = await ack(a.socket, "new message", "hello <b>world</b>");
  assert.deepEqual(Object.keys(res).sort(), ["at", "id"]);
  assert.equal(typeof res.id, "string");
  assert.ok(res.at >= before - 5_000 && res.at <= Date.now() + 5_000, `at ${res.at}`);
  const expected = { username: "Ada", message: "hello <b>world</b>", id: res.id, at: res.at };
  assert.deepEqual(await atB, expected);
  assert.deepEqual(await atLurker, expected);

  // Without an ack it is broadcast all the same; the sender never gets its own.
  a.socket.emit("new message", "second");
  assert.equal((await b.rec.next("new message", (m) => m.message === "second")).username, "Ada");
  const third = await ack(b.socket, "new message", "from grace");
  const atA = await a.rec.next("new message");
  assert.equal(atA.id, third.id);
  assert.notEqual(third.id, res.id);
  assert.equal(a.rec.all("new message").length, 1);
  assert.ok(b.rec.all("new message").every((m) => m.username === "Ada"));
});

test("new message refusals: before add user, empty, over 2000 characters, not a string", opts, async (t) => {
  const chat = await startChat(t);
  const a = await connect(t, chat.url);
  const b = await connect(t, chat.url);

  const early = await ack(a.socket, "new message", "too early");
  assert.equal(early.ok, false);
  assert.match(early.error, /add user/);

  await login(a, "Ada");
  await login(b, "Grace");
  for (const text of ["", "   ", "x".repeat(2001), 5, { a: 1 }]) {
    const res = await ack(a.socket, "new message", text);
    assert.equal(res.ok, false, `message ${JSON.stringify(text).slice(0, 40)}`);
    assert.ok(res.error.length > 0);
  }
  assert.match((await ack(a.socket, "new message", "x".repeat(2001))).error, /too long/);
  // Without an ack the refusal comes as `chat error`.
  a.socket.emit("new message", "");
  assert.match((await a.rec.next("chat error")).message, /empty/);

  // Exactly 2000 characters is fine, and the only message anyone received.
  const max = "m".repeat(2000);
  const ok = await ack(a.socket, "new message", max);
  assert.equal(typeof ok.id, "string");
  const got = await b.rec.next("new message");
  assert.equal(got.message, max);
  assert.equal(b.rec.all("new message").length, 1);
});

test("login history: the last 50 public messages, oldest first", opts, async (t) => {
  const chat = await startChat(t);
  const a = await connect(t, chat.url);
  await login(a, "Ada");
  const ids = [];
  for (let i = 0; i < 55; i++) ids.push((await ack(a.socket, "new message", `m${i}`)).id);

  const b = await connect(t, chat.url);
  const { login: got } = await login(b, "Grace");
  assert.equal(got.history.length, 50);
  assert.deepEqual(
    got.history.map((m) => m.message),
    Array.from({ length: 50 }, (_, i) => `m${i + 5}`),
  );
  assert.deepEqual(got.history.map((m) => m.id), ids.slice(5));
  assert.ok(got.history.every((m) => m.username === "Ada" && typeof m.at === "number"));
});

test("private message: only the recipient gets it; ack ok with id, or ok false", opts, async (t) => {
  const chat = await startChat(t);
  const a = await connect(t, chat.url);
  const b = await connect(t, chat.url);
  const c = await connect(t, chat.url);
  await login(a, "Ada");
  await login(b, "Grace");
  await login(c, "Linus");

  const atB = b.rec.next("private message");
  const res = await ack(a.socket, "private message", { to: "grace", message: "psst" });
  assert.equal(res.ok, true);
  assert.equal(typeof res.id, "string");
  const got = await atB;
  assert.deepEqual(Object.keys(got).sort(), ["at", "from", "id", "message"]);
  assert.equal(got.from, "Ada");
  assert.equal(got.message, "psst");
  assert.equal(got.id, res.id);

  // A round trip through C after the private message: had C received it, it
  // would have arrived first.
  const probe = c.rec.next("new message");
  await ack(b.socket, "new message", "probe");
  await probe;
  assert.equal(c.rec.all("private message").length, 0);
  assert.equal(a.rec.all("private message").length, 0);

  const unknown = await ack(a.socket, "private message", { to: "nobody", message: "hi" });
  assert.equal(unknown.ok, false);
  assert.match(unknown.error, /nobody/);
  for (const bad of [{ to: "Grace", message: "" }, { to: "Grace" }, "Grace", { message: "x" }]) {
    const r = await ack(a.socket, "private message", bad);
    assert.equal(r.ok, false, JSON.stringify(bad));
  }
  // Before logging in.
  const d = await connect(t, chat.url);
  const early = await ack(d.socket, "private message", { to: "Ada", message: "hi" });
  assert.equal(early.ok, false);
  // Private messages are not in the history.
  assert.deepEqual(
    (await login(d, "Dennis")).login.history.map((m) => m.message),
    ["probe"],
  );
});

test("typing and stop typing reach the others with the username", opts, async (t) => {
  const chat = await startChat(t);
  const a = await connect(t, chat.url);
  const b = await connect(t, chat.url);
  await login(a, "Ada");
  await login(b, "Grace");

  a.socket.emit("typing");
  assert.deepEqual(await b.rec.next("typing"), { username: "Ada" });
  a.socket.emit("stop typing");
  assert.deepEqual(await b.rec.next("stop typing"), { username: "Ada" });
  // Round trip: the sender got neither.
  const probe = a.rec.next("new message");
  await ack(b.socket, "new message", "probe");
  await probe;
  assert.equal(a.rec.all("typing").length + a.rec.all("stop typing").length, 0);
});

test("disconnect: the others get user left with the new count; the nickname is free again", opts, async (t) => {
  const chat = await startChat(t);
  const a = await connect(t, chat.url);
  const b = await connect(t, chat.url);
  const c = await connect(t, chat.url);
  await login(a, "Ada");
  await login(b, "Grace");
  await login(c, "Linus");

  const leftA = a.rec.next("user left");
  const leftC = c.rec.next("user left");
  b.socket.disconnect();
  assert.deepEqual(await leftA, { username: "Grace", numUsers: 2 });
  assert.deepEqual(await leftC, { username: "Grace", numUsers: 2 });

  const d = await connect(t, chat.url);
  const { login: got } = await login(d, "grace");
  assert.deepEqual(got.users, ["Ada", "Linus", "grace"]);
  assert.equal(got.numUsers, 3);

  // A socket that never logged in leaves silently.
  const e = await connect(t, chat.url);
  e.socket.disconnect();
  const probe = a.rec.next("new message");
  await ack(d.socket, "new message", "probe");
  await probe;
  assert.equal(a.rec.all("user left").length, 1);
});

test("HTTP: the page, /healthz, and the client bundle with ETag and 304", opts, async (t) => {
  const chat = await startChat(t);
  const health = await request(`${chat.url}/healthz`);
  assert.equal(health.status, 200);
  assert.equal(health.body, "ok");

  const page = await request(`${chat.url}/`);
  assert.equal(page.status, 200);
  assert.match(page.headers["content-type"], /^text\/html/);
  assert.match(page.body, /<script src="\/socket\.io\/socket\.io\.min\.js"/);

  for (const file of [
    "socket.io.js",
    "socket.io.min.js",
    "socket.io.esm.min.js",
    "socket.io.msgpack.min.js",
  ]) {
    const res = await request(`${chat.url}/socket.io/${file}`);
    assert.equal(res.status, 200, file);
    assert.equal(res.headers["content-type"], "application/javascript; charset=utf-8");
    assert.equal(res.headers.etag, `"${clientVersion}"`);
    assert.equal(res.headers["cache-control"], "public, max-age=0");
    assert.equal(res.body, fs.readFileSync(path.join(CLIENT_DIST, file), "utf8"), file);
    const map = await request(`${chat.url}/socket.io/${file}.map`);
    assert.equal(map.status, 200);
    assert.equal(map.headers["content-type"], "application/json");
    for (const tag of [`"${clientVersion}"`, `W/"${clientVersion}"`]) {
      const cached = await request(`${chat.url}/socket.io/${file}`, { headers: { "if-none-match": tag } });
      assert.equal(cached.status, 304);
      assert.equal(cached.body, "");
    }
  }
  const gz = await request(`${chat.url}/socket.io/socket.io.min.js`, {
    headers: { "accept-encoding": "gzip" },
  });
  assert.equal(gz.headers["content-encoding"], "gzip");
  assert.equal((await request(`${chat.url}/nope`)).status, 404);
});

test("--path: the page, the bundle and the connection all follow it", opts, async (t) => {
  const chat = await startChat(t, ["--path", "/chat/io"]);
  const page = await request(`${chat.url}/`);
  assert.match(page.body, /<script src="\/chat\/io\/socket\.io\.min\.js"/);
  assert.match(page.body, /data-path="\/chat\/io\/"/);
  assert.equal((await request(`${chat.url}/chat/io/socket.io.min.js`)).status, 200);
  assert.equal((await request(`${chat.url}/socket.io/socket.io.min.js`)).status, 404);

  const a = await connect(t, chat.url, { path: "/chat/io/" });
  const b = await connect(t, chat.url, { path: "/chat/io/" });
  await login(a, "Ada");
  await login(b, "Grace");
  const got = b.rec.next("new message");
  await ack(a.socket, "new message", "custom path");
  assert.equal((await got).message, "custom path");
  await assert.rejects(connect(t, chat.url, { path: "/socket.io/" }), /connect_error/);
});

test("--transports: polling only and websocket only", opts, async (t) => {
  const polling = await startChat(t, ["--transports", "polling"]);
  const page = await request(`${polling.url}/`);
  assert.match(page.body, /data-transports="polling"/);
  const p = await connect(t, polling.url);
  await login(p, "Ada");
  assert.equal(p.socket.io.engine.transport.name, "polling");
  await assert.rejects(connect(t, polling.url, { transports: ["websocket"] }), /connect_error/);

  const ws = await startChat(t, ["--transports", "websocket"]);
  const w = await connect(t, ws.url, { transports: ["websocket"] });
  await login(w, "Ada");
  assert.equal(w.socket.io.engine.transport.name, "websocket");
  await assert.rejects(connect(t, ws.url, { transports: ["polling"] }), /connect_error/);
});

test("--cookie: the polling handshake sets it with the attributes asked for", opts, async (t) => {
  const off = await startChat(t);
  const plain = await request(`${off.url}/socket.io/?EIO=4&transport=polling`);
  assert.equal(plain.status, 200);
  assert.equal(plain.headers["set-cookie"], undefined);

  const on = await startChat(t, [
    "--cookie",
    "io",
    "--cookie-same-site",
    "strict",
    "--cookie-max-age",
    "600",
    "--cookie-path",
    "/socket.io/",
  ]);
  const res = await request(`${on.url}/socket.io/?EIO=4&transport=polling`);
  const sid = JSON.parse(res.body.slice(1)).sid;
  const [cookie] = res.headers["set-cookie"];
  assert.equal(cookie, `io=${sid}; Max-Age=600; Path=/socket.io/; HttpOnly; SameSite=Strict`);

  const env = await startChat(t, [], {
    env: { SOCKEYE_CHAT_COOKIE: "sticky", SOCKEYE_CHAT_NO_COOKIE_HTTP_ONLY: "true" },
  });
  const viaEnv = await request(`${env.url}/socket.io/?EIO=4&transport=polling`);
  const sid2 = JSON.parse(viaEnv.body.slice(1)).sid;
  assert.equal(viaEnv.headers["set-cookie"][0], `sticky=${sid2}; Path=/; SameSite=Lax`);
});

test("invalid options stop the program at start with the reason and a non-zero exit", opts, async () => {
  const cases = [
    [["--cookie", "io", "--cookie-same-site", "none"], /SameSite=None requires Secure/],
    [["--cookie", "io", "--cookie-partitioned"], /Partitioned requires Secure/],
    [["--cookie", "__Host-io", "--cookie-domain", "example.com", "--cookie-secure"], /__Host- prefix/],
    [["--cookie", "a b"], /not an RFC 6265 token/],
    [["--cookie-secure"], /--cookie/],
    [["--transports", "carrier-pigeon"], /unknown transport/],
    [["--allowed-origin", "http://127.0.0.1:3000/"], /no path or trailing slash/],
    [["--path", "/"], /cannot be `\/`/],
    [["--client-dist", "/nonexistent/dist"], /package\.json/],
  ];
  for (const [args, message] of cases) {
    const { code, stderr } = await runChatExpectingFailure(args);
    assert.notEqual(code, 0, `${args.join(" ")}: exit code ${code}`);
    assert.match(stderr, message, args.join(" "));
  }
});

test("--allowed-origin: CORS for those origins and the allowlist enforced on both transports", opts, async (t) => {
  const allowed = "http://good.test:8080";
  const chat = await startChat(t, ["--allowed-origin", allowed, "--allowed-origin", "https://also.test"]);
  const handshake = `${chat.url}/socket.io/?EIO=4&transport=polling`;

  const good = await request(handshake, { headers: { origin: allowed } });
  assert.equal(good.status, 200);
  assert.equal(good.headers["access-control-allow-origin"], allowed);
  assert.equal(good.headers["access-control-allow-credentials"], "true");

  const evil = await request(handshake, { headers: { origin: "http://evil.test" } });
  assert.equal(evil.status, 403);
  assert.equal(evil.headers["access-control-allow-origin"], undefined);

  // No Origin header (non-browser clients): accepted.
  assert.equal((await request(handshake)).status, 200);
  const node = await connect(t, chat.url);
  await login(node, "Ada");

  const wsUrl = `${chat.url.replace("http", "ws")}/socket.io/?EIO=4&transport=websocket`;
  assert.equal(await wsAttempt(wsUrl, "http://evil.test"), 403);
  assert.equal(await wsAttempt(wsUrl, allowed), "open");
  assert.equal(await wsAttempt(wsUrl, "https://also.test"), "open");
});

test("HTTP and HTTPS listeners share one chat; port 0 prints the bound addresses", opts, async (t) => {
  const chat = await startChat(t, ["--listen", "127.0.0.1:0", "--tls-listen", "127.0.0.1:0"]);
  assert.equal(chat.http.length, 1);
  assert.equal(chat.https.length, 1);
  assert.match(chat.https[0], /^https:\/\/127\.0\.0\.1:\d+$/);
  assert.match(chat.stderr(), /self-signed certificate/);

  const a = await connect(t, chat.http[0]);
  const b = await connect(t, chat.https[0], { rejectUnauthorized: false });
  await login(a, "Ada");
  const joined = a.rec.next("user joined");
  const { login: got } = await login(b, "Grace");
  assert.deepEqual(got.users, ["Ada", "Grace"]);
  await joined;
  const msg = a.rec.next("new message");
  await ack(b.socket, "new message", "over TLS");
  assert.equal((await msg).message, "over TLS");
});

test("SIGTERM with clients connected: they are told, and the program exits 0 within seconds", opts, async (t) => {
  const chat = await startChat(null, ["--tls-listen", "127.0.0.1:0"]);
  const ws = await connect(t, chat.url, { transports: ["websocket"] });
  const polling = await connect(t, chat.url, { transports: ["polling"] });
  const tls = await connect(t, chat.https[0], { rejectUnauthorized: false });
  await login(ws, "Ada");
  await login(polling, "Grace");
  await login(tls, "Linus");
  const reasons = [ws, polling, tls].map(
    (c) => new Promise((resolve) => c.socket.once("disconnect", (reason) => resolve(reason))),
  );
  const started = Date.now();
  const { code, signal } = await chat.kill("SIGTERM");
  const elapsed = Date.now() - started;
  assert.equal(code, 0, `exit code ${code}, signal ${signal}; stderr:\n${chat.stderr()}`);
  assert.ok(elapsed < 8_000, `took ${elapsed} ms`);
  for (const reason of await Promise.all(reasons)) {
    assert.ok(["io server disconnect", "transport close", "transport error"].includes(reason), reason);
  }
  assert.match(chat.stderr(), /SIGTERM/);
});

test("SIGINT stops it gracefully too", opts, async (t) => {
  const chat = await startChat(null);
  const a = await connect(t, chat.url);
  await login(a, "Ada");
  const told = new Promise((resolve) => a.socket.once("disconnect", resolve));
  const { code } = await chat.kill("SIGINT");
  assert.equal(code, 0);
  await told;
});
