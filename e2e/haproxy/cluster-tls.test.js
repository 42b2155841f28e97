// HTTPS at the proxy: HAProxy terminates TLS (a self-signed certificate
// made with openssl) in front of three plain-HTTP `sockeye-chat --redis`
// nodes started with `--cookie io --cookie-secure --cookie-same-site none`,
// and `cookie io prefix indirect nocache` keeps sessions on their node.
// Chromium (Debian's, driven by playwright-core) opens the chat page
// through the proxy twice: one user on the default upgrade, one on polling
// only, on different nodes; they chat, and the browser holds the prefixed
// cookie with Secure and SameSite=None.
//
// CHROMIUM names the browser (default /usr/bin/chromium; scripts/test
// installs Debian's package when it is missing). SKIP_BROWSER=1 skips it.

import { after, before, test } from "node:test";
import { chromium } from "playwright-core";
import { defer } from "../tests/chat-helpers.js";
import { assert, selfSignedPem, serversBySid, startHaproxy, startNodes, tempDir } from "./proxy-helpers.js";

const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const WAIT = 15_000;
const SKIP = ["1", "true"].includes(process.env.SKIP_BROWSER) ? "SKIP_BROWSER is set" : false;

let browser;
before(async () => {
  if (SKIP) return;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"],
    timeout: 30_000,
  });
});
after(async () => {
  await browser?.close();
});

/** A browser context that accepts the self-signed certificate, closed after the test. */
async function newContext(t) {
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  context.setDefaultTimeout(WAIT);
  defer(t, () => context.close());
  return context;
}

/** Opens the chat page at `url` and logs in as `name`; JavaScript errors fail the test. */
async function join(t, context, url, name) {
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (err) => errors.push(String(err)));
  defer(t, () => assert.deepEqual(errors, [], `errors on ${name}'s page`));
  await page.goto(url);
  await page.locator('#status[data-state="connected"]').waitFor();
  await page.fill("#nickname", name);
  await page.click("#login-button");
  await page.locator("#login").waitFor({ state: "hidden" });
  return page;
}

async function send(page, text) {
  await page.fill("#composer-input", text);
  await page.press("#composer-input", "Enter");
}

const bubble = (page, text) => page.locator(".msg", { has: page.locator(".text", { hasText: text }) });

test("HAProxy terminates TLS: Chromium chats through it, the cookie is Secure and SameSite=None", { timeout: 90_000, skip: SKIP }, async (t) => {
  const pem = selfSignedPem(tempDir(t));
  const { nodes } = await startNodes(t, 3, ["--cookie", "io", "--cookie-secure", "--cookie-same-site", "none"]);
  const proxy = await startHaproxy(t, {
    nodes,
    persistence: ["cookie io prefix indirect nocache"],
    serverCookies: true,
    pem,
    // The page's own requests go elsewhere: the two handshakes are the
    // first two balanced requests, so they land on two nodes.
    pagesApart: true,
  });
  assert.match(proxy.url, /^https:/);

  const ctxA = await newContext(t);
  const a = await join(t, ctxA, `${proxy.url}/`, "Ada");
  await a.locator('#transport[data-transport="websocket"]').waitFor();
  const ctxB = await newContext(t);
  const b = await join(t, ctxB, `${proxy.url}/?transports=polling`, "Grace");

  await a.locator('#users li[data-user="Grace"]').waitFor();
  await send(a, "Hello over TLS");
  await bubble(b, "Hello over TLS").waitFor();
  await send(b, "Polling through the proxy");
  await bubble(a, "Polling through the proxy").waitFor();
  await b.locator('#transport[data-transport="polling"]').waitFor();

  // Each browser holds the node's cookie with HAProxy's prefix, Secure,
  // SameSite=None, HttpOnly, host-only.
  const homes = [];
  for (const [ctx, page] of [
    [ctxA, a],
    [ctxB, b],
  ]) {
    const sid = await page.evaluate(() => window.chatSocket.io.engine.id);
    const cookies = await ctx.cookies();
    assert.equal(cookies.length, 1, JSON.stringify(cookies));
    const [c] = cookies;
    const m = /^(s[123])~(.+)$/.exec(c.value);
    assert.ok(m, c.value);
    assert.equal(m[2], sid);
    assert.deepEqual(
      { ...c, value: "" },
      { name: "io", value: "", domain: "127.0.0.1", path: "/", expires: -1, httpOnly: true, secure: true, sameSite: "None" },
    );
    // Every request of that session went to the node the cookie names.
    const servers = serversBySid(proxy.log()).get(sid) ?? [];
    assert.ok(servers.length >= 2, `${servers.length} requests of ${sid}`);
    assert.deepEqual([...new Set(servers)], [m[1]]);
    homes.push(m[1]);
  }
  assert.notEqual(homes[0], homes[1], "the two users are on different nodes");
});
