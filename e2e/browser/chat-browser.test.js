// The chat page in a real browser: Playwright (playwright-core) driving
// Debian's Chromium against the `sockeye-chat` binary, over HTTP and HTTPS,
// WebSocket and polling, with the cookie, origin and path options.
//
// CHROMIUM names the browser (default /usr/bin/chromium; scripts/test
// installs Debian's package when it is missing). CHAT_SCREENSHOT, when set,
// is where the two-user chat's screenshot goes (the README's is
// docs/chat-screenshot.png); otherwise it goes to a temporary folder.

import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { chromium } from "playwright-core";
import {
  defer,
  REPO_ROOT,
  runChatExpectingFailure,
  startChat,
} from "../tests/chat-helpers.js";

const TIMEOUT = 60_000;
const opts = { timeout: TIMEOUT };
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
/** How long one page-level wait may take. */
const WAIT = 15_000;

let browser;

before(async () => {
  // Playwright gives the browser a fresh, temporary user-data-dir.
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_FLAGS,
    timeout: 30_000,
  });
});

after(async () => {
  await browser?.close();
});

/** A new browser context, closed after the test. */
async function newContext(t, options = {}) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 680 }, ...options });
  context.setDefaultTimeout(WAIT);
  let closed = false;
  context.on("close", () => {
    closed = true;
  });
  defer(t, async () => {
    if (!closed) await context.close();
  });
  return context;
}

/** Opens the chat page; JavaScript errors on it fail the test. */
async function openChat(t, context, url) {
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (err) => errors.push(err));
  defer(t, () => assert.deepEqual(errors.map(String), [], "errors on the page"));
  await page.goto(url);
  await page.locator('#status[data-state="connected"]').waitFor();
  return page;
}

/** Opens the page and logs in as `name`. */
async function join(t, context, url, name) {
  const page = await openChat(t, context, url);
  await page.fill("#nickname", name);
  await page.click("#login-button");
  await page.locator("#login").waitFor({ state: "hidden" });
  await page.locator("#me", { hasText: name }).waitFor();
  return page;
}

async function send(page, text) {
  await page.fill("#composer-input", text);
  await page.press("#composer-input", "Enter");
}

const userItem = (page, name) => page.locator(`#users li[data-user="${name}"]`);
const bubble = (page, text) => page.locator(".msg", { has: page.locator(".text", { hasText: text }) });
const notice = (page, text) => page.locator(".notice", { hasText: text });

async function transportOf(page) {
  return page.locator("#transport").getAttribute("data-transport");
}

/**
 * The whole conversation between two users, then a third context, then a
 * departure. `urlA` and `urlB` may be different listeners of one chat.
 */
async function conversation(t, { urlA, urlB, contextB = {}, transport, screenshot }) {
  const ctxA = await newContext(t);
  const ctxB = await newContext(t, contextB);
  const ctxC = await newContext(t, contextB);

  const a = await join(t, ctxA, urlA, "Ada");
  const b = await join(t, ctxB, urlB, "Grace");

  // Both see each other in the user list.
  await userItem(a, "Grace").waitFor();
  await userItem(b, "Ada").waitFor();
  await userItem(a, "Ada").waitFor();
  assert.equal(await a.locator("#user-count").textContent(), "2");
  await notice(a, "Grace joined").waitFor();

  // A broadcast reaches the other, and the sender sees it delivered.
  await send(a, "Hello Grace! How is the chat over here?");
  await bubble(b, "Hello Grace!").waitFor();
  await bubble(a, "Hello Grace!").and(a.locator(".msg.own.delivered")).waitFor();
  assert.equal(await bubble(b, "Hello Grace!").locator(".author").textContent(), "Ada");

  // Typing indicator.
  await b.fill("#composer-input", "Fast");
  await b.dispatchEvent("#composer-input", "input");
  await a.locator("#typing", { hasText: "Grace is typing" }).waitFor();
  await send(b, "Fast and friendly. Sockeye swims upstream.");
  await bubble(a, "Sockeye swims upstream").waitFor();
  await a.locator("#typing", { hasText: /^$/ }).waitFor();
  await bubble(b, "Sockeye swims upstream").and(b.locator(".msg.own.delivered")).waitFor();

  if (transport) {
    await a.locator(`#transport[data-transport="${transport}"]`).waitFor();
    await b.locator(`#transport[data-transport="${transport}"]`).waitFor();
  }
  if (screenshot) {
    fs.mkdirSync(path.dirname(screenshot), { recursive: true });
    await a.screenshot({ path: screenshot });
  }

  // A third context: the duplicate nickname is refused, another works.
  const c = await openChat(t, ctxC, urlB);
  await c.fill("#nickname", "ada");
  await c.click("#login-button");
  await c.locator("#login-error", { hasText: "taken" }).waitFor();
  assert.equal(await c.locator("#login").isVisible(), true);
  await c.fill("#nickname", "Linus");
  await c.click("#login-button");
  await c.locator("#login").waitFor({ state: "hidden" });
  await userItem(a, "Linus").waitFor();
  // The history came along.
  await bubble(c, "Hello Grace!").waitFor();

  // A private message, by clicking the user: only the recipient gets it,
  // and the sender sees it delivered.
  await userItem(a, "Grace").click();
  await a.locator("#private-target", { hasText: "Grace" }).waitFor();
  await send(a, "psst, a secret for Grace");
  await bubble(b, "a secret for Grace").and(b.locator(".msg.private")).waitFor();
  assert.equal(await bubble(b, "a secret for Grace").locator(".author").textContent(), "Ada");
  await bubble(a, "a secret for Grace").and(a.locator(".msg.own.private.delivered")).waitFor();
  // Back to everyone; once C has this later broadcast, it would have had the
  // private one too.
  await a.click("#private-cancel");
  await send(a, "public again");
  await bubble(c, "public again").waitFor();
  assert.equal(await bubble(c, "a secret").count(), 0);

  // Closing one shows `left` to the others.
  await ctxB.close();
  await notice(a, "Grace left").waitFor();
  await userItem(a, "Grace").waitFor({ state: "detached" });
  assert.equal(await a.locator("#user-count").textContent(), "2");
  return { a, c };
}

test("two users chat over WebSocket: users, broadcast, private, duplicate refused, left", opts, async (t) => {
  const chat = await startChat(t);
  const screenshot =
    process.env.CHAT_SCREENSHOT || path.join(os.tmpdir(), `sockeye-chat-screenshot-${process.pid}.png`);
  await conversation(t, {
    urlA: `${chat.url}/`,
    urlB: `${chat.url}/`,
    transport: "websocket",
    screenshot: path.resolve(REPO_ROOT, screenshot),
  });
  assert.ok(fs.statSync(path.resolve(REPO_ROOT, screenshot)).size > 10_000);
});

test("the same with the page forced to polling only", opts, async (t) => {
  const chat = await startChat(t);
  const { a } = await conversation(t, {
    urlA: `${chat.url}/?transports=polling`,
    urlB: `${chat.url}/?transports=polling`,
    transport: "polling",
  });
  assert.equal(await transportOf(a), "polling");
});

test("the same across listeners: one user on HTTP, the others on HTTPS", opts, async (t) => {
  const chat = await startChat(t, ["--listen", "127.0.0.1:0", "--tls-listen", "127.0.0.1:0"]);
  await conversation(t, {
    urlA: `${chat.http[0]}/`,
    urlB: `${chat.https[0]}/`,
    contextB: { ignoreHTTPSErrors: true },
    transport: "websocket",
  });
});

test("a server on polling only: the page follows it", opts, async (t) => {
  const chat = await startChat(t, ["--transports", "polling"]);
  const ctx = await newContext(t);
  const page = await join(t, ctx, `${chat.url}/`, "Ada");
  assert.equal(await transportOf(page), "polling");
});

test("cookie over HTTPS: the browser holds io with exactly the attributes asked for", opts, async (t) => {
  const chat = await startChat(t, [
    "--tls-listen",
    "127.0.0.1:0",
    "--cookie",
    "io",
    "--cookie-same-site",
    "none",
    "--cookie-secure",
  ]);
  const ctx = await newContext(t, { ignoreHTTPSErrors: true });
  const page = await join(t, ctx, `${chat.https[0]}/`, "Ada");
  const sid = await page.evaluate(() => window.chatSocket.io.engine.id);
  const cookies = await ctx.cookies();
  assert.deepEqual(cookies, [
    {
      name: "io",
      value: sid,
      domain: "127.0.0.1",
      path: "/",
      expires: -1,
      httpOnly: true,
      secure: true,
      sameSite: "None",
    },
  ]);
});

test("without --cookie the browser holds no cookie at all", opts, async (t) => {
  const chat = await startChat(t, ["--tls-listen", "127.0.0.1:0"]);
  const ctx = await newContext(t, { ignoreHTTPSErrors: true });
  await join(t, ctx, `${chat.https[0]}/`, "Ada");
  const plain = await newContext(t);
  await join(t, plain, `${chat.http[0]}/?transports=polling`, "Grace");
  assert.deepEqual(await ctx.cookies(), []);
  assert.deepEqual(await plain.cookies(), []);
});

test("SameSite=None without Secure: the program exits with the error", opts, async () => {
  const { code, stderr } = await runChatExpectingFailure([
    "--tls-listen",
    "127.0.0.1:0",
    "--cookie",
    "io",
    "--cookie-same-site",
    "none",
  ]);
  assert.notEqual(code, 0);
  assert.match(stderr, /SameSite=None requires Secure/);
});

/**
 * A tiny page server on two ports (two origins). Its page, given the chat's
 * URL in `?chat=`, loads the client bundle from the chat and offers
 * `probe(transport)`, which tries to connect and log in.
 */
async function probeServers(t) {
  const page = `<!doctype html><html><body><script>
const chat = new URLSearchParams(location.search).get("chat");
window.loaded = new Promise((resolve, reject) => {
  const script = document.createElement("script");
  script.src = chat + "/socket.io/socket.io.min.js";
  script.onload = resolve;
  script.onerror = () => reject(new Error("cannot load the client bundle"));
  document.head.append(script);
});
window.probe = (transport) => new Promise((resolve) => {
  const socket = io(chat, { transports: [transport], reconnection: false, forceNew: true });
  socket.on("connect", () => {
    socket.emit("add user", "probe-" + transport + "-" + Math.random().toString(36).slice(2, 8), (res) => {
      socket.disconnect();
      resolve(res && res.ok ? "connected" : "refused: " + JSON.stringify(res));
    });
  });
  socket.on("connect_error", (err) => resolve("connect_error: " + err.message));
});
</script></body></html>`;
  const origins = [];
  for (let i = 0; i < 2; i++) {
    const server = http.createServer((req, res) => {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      res.end(page);
    });
    await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
    origins.push(`http://127.0.0.1:${server.address().port}`);
    defer(t, () => new Promise((resolve) => server.close(resolve)));
    defer(t, () => server.closeAllConnections());
  }
  return origins;
}

async function probe(t, ctx, origin, chatUrl, transport) {
  const page = await ctx.newPage();
  await page.goto(`${origin}/?chat=${encodeURIComponent(chatUrl)}`);
  await page.evaluate(() => window.loaded);
  const result = await page.evaluate((tr) => window.probe(tr), transport);
  await page.close();
  return result;
}

test("--allowed-origin: another origin cannot connect by polling or WebSocket, the right one can", opts, async (t) => {
  const [good, bad] = await probeServers(t);
  const chat = await startChat(t, ["--allowed-origin", good]);
  const ctx = await newContext(t);
  for (const transport of ["polling", "websocket"]) {
    assert.equal(await probe(t, ctx, good, chat.url, transport), "connected", `${transport} from ${good}`);
    assert.match(await probe(t, ctx, bad, chat.url, transport), /^connect_error/, `${transport} from ${bad}`);
  }
  // The refusals were the server's (403), not only the browser's CORS check.
  const handshake = await fetch(`${chat.url}/socket.io/?EIO=4&transport=polling`, { headers: { origin: bad } });
  assert.equal(handshake.status, 403);
  await handshake.arrayBuffer();
});

test("a custom --path works end to end", opts, async (t) => {
  const chat = await startChat(t, ["--path", "/chat/realtime/"]);
  const ctxA = await newContext(t);
  const ctxB = await newContext(t);
  const requested = [];
  ctxA.on("request", (req) => requested.push(new URL(req.url()).pathname));
  const a = await join(t, ctxA, `${chat.url}/`, "Ada");
  const b = await join(t, ctxB, `${chat.url}/`, "Grace");
  await userItem(a, "Grace").waitFor();
  await send(b, "hello on a custom path");
  await bubble(a, "hello on a custom path").waitFor();
  await bubble(b, "hello on a custom path").and(b.locator(".msg.own.delivered")).waitFor();
  await a.locator('#transport[data-transport="websocket"]').waitFor();
  assert.ok(requested.includes("/chat/realtime/socket.io.min.js"), requested.join(" "));
  assert.ok(requested.some((p) => p === "/chat/realtime/"), requested.join(" "));
  assert.ok(!requested.some((p) => p.startsWith("/socket.io/")), requested.join(" "));
});

test("reconnection: after the connection drops, the page logs in again under the same nickname", opts, async (t) => {
  const chat = await startChat(t);
  const ctxA = await newContext(t);
  const ctxB = await newContext(t);
  const a = await join(t, ctxA, `${chat.url}/`, "Ada");
  const b = await join(t, ctxB, `${chat.url}/`, "Grace");
  await userItem(b, "Ada").waitFor();
  await send(a, "before the drop");
  await bubble(b, "before the drop").waitFor();

  // Drop Ada's connection underneath the client (as a network failure
  // would): socket.io-client reconnects by itself, and the page logs in
  // again.
  const oldSid = await a.evaluate(() => window.chatSocket.io.engine.id);
  await a.evaluate(() => window.chatSocket.io.engine.close());
  await notice(b, "Ada left").waitFor();
  await notice(a, "Connection lost").waitFor();
  await notice(a, "Reconnected").waitFor();
  await notice(b, "Ada joined").waitFor();
  await a.locator('#status[data-state="connected"]').waitFor();
  assert.notEqual(await a.evaluate(() => window.chatSocket.io.engine.id), oldSid);
  assert.equal(await a.locator("#me").textContent(), "you are Ada");
  // The history did not come twice.
  assert.equal(await bubble(a, "before the drop").count(), 1);

  await send(a, "after the drop");
  await bubble(b, "after the drop").waitFor();
  await bubble(a, "after the drop").and(a.locator(".msg.own.delivered")).waitFor();
  await userItem(b, "Ada").waitFor();
});
