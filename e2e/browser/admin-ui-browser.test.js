// The official Socket.IO Admin UI page (@socket.io/admin-ui 0.5.1's
// ui/dist, served by `sockeye-chat --admin-ui` at /admin/) in Chromium:
// it logs in with a username and password, lists the two chat users'
// sockets with their nicknames in their data, shows a chat message in its
// event log (development mode), and its "disconnect" button disconnects a
// user's socket.
//
// ADMIN_UI_SCREENSHOT, when set, is where the dashboard's screenshot goes
// (the README's is docs/images/admin-ui.png); otherwise a temporary folder.

import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { chromium } from "playwright-core";
import { ack, connect, defer, login, REPO_ROOT, startChat } from "../tests/chat-helpers.js";

const TIMEOUT = 60_000;
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const WAIT = 15_000;
// bcrypt of "s3cret" (cost 8, bcryptjs).
const HASH = "$2a$08$9rKnXUvzVe2gKH4AKHCrauVeYuOfARVUGlVr.o4ExYneNYn6L/ZzW";

let browser;

/** Opens a route of the UI and waits for its page transition to end (one view left). */
async function route(page, url) {
  await page.goto(url);
  await page.waitForFunction(() => document.querySelectorAll(".v-breadcrumbs").length <= 1);
}

before(async () => {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
    timeout: 30_000,
  });
});

after(async () => {
  await browser?.close();
});

test("the Admin UI page: login, the users' sockets with their nicknames, a message event, disconnect", { timeout: TIMEOUT }, async (t) => {
  const chat = await startChat(t, ["--admin-ui", "--admin-user", "admin", "--admin-password-hash", HASH]);
  const ann = await connect(t, chat.url);
  const bob = await connect(t, chat.url);
  await login(ann, "ann");
  await login(bob, "bob");

  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: "en-US" });
  defer(t, () => context.close());
  context.setDefaultTimeout(WAIT);
  // Offline: the page's web fonts cannot load; nothing else is external.
  await context.route(/^https:\/\//, (route) => route.abort());
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (err) => errors.push(String(err)));
  defer(t, () => assert.deepEqual(errors, [], "errors on the page"));

  await page.goto(`${chat.url}/admin/`);
  // The connection dialog: the server URL, the username and the password.
  await page.getByLabel("Server URL").fill(chat.url);
  await page.getByLabel("Username").fill("admin");
  await page.getByLabel("Password").fill("s3cret");
  await page.getByRole("button", { name: "Connect" }).click();
  await page.getByLabel("Server URL").waitFor({ state: "hidden" });
  // The password login's session is kept for the next visits.
  await page.waitForFunction(() => /^[0-9a-f]{32}$/.test(localStorage.getItem("session_id") || ""));

  // Sockets of namespace "/": ann's and bob's.
  await page.goto(`${chat.url}/admin/#/sockets/`);
  const rows = page.locator("tbody tr");
  for (const user of [ann, bob]) await rows.filter({ hasText: user.socket.id }).waitFor();

  // Each socket's page (a click on its row) shows its data: the nickname.
  for (const [user, name] of [
    [ann, "ann"],
    [bob, "bob"],
  ]) {
    await route(page, `${chat.url}/admin/#/sockets/`);
    await rows.filter({ hasText: user.socket.id }).locator("td").first().click();
    await page.waitForURL((u) => u.hash.endsWith(encodeURIComponent(user.socket.id)) || u.hash.endsWith(user.socket.id));
    await page.locator("pre code", { hasText: `"username": "${name}"` }).waitFor();
  }

  // A chat message shows in the event log (development mode).
  await ack(ann.socket, "new message", "hello from the browser test");
  await page.goto(`${chat.url}/admin/#/events/`);
  await page.getByText("new message").first().waitFor();

  // The dashboard, for the README.
  await route(page, `${chat.url}/admin/#/`);
  await page.locator(".v-card").first().waitFor();
  const screenshot = path.resolve(
    REPO_ROOT,
    process.env.ADMIN_UI_SCREENSHOT || path.join(os.tmpdir(), `sockeye-admin-ui-${process.pid}.png`),
  );
  fs.mkdirSync(path.dirname(screenshot), { recursive: true });
  await page.screenshot({ path: screenshot });
  assert.ok(fs.statSync(screenshot).size > 10_000);

  // The "disconnect" button of bob's row on the sockets page.
  const bobId = bob.socket.id;
  const gone = new Promise((resolve) => bob.socket.once("disconnect", resolve));
  await route(page, `${chat.url}/admin/#/sockets/`);
  await rows.filter({ hasText: bobId }).locator("button").click();
  assert.equal(await gone, "io server disconnect");
  // (The click also opens the socket's page, which now says "disconnected".)
  await page.getByText("disconnected").first().waitFor();
  await route(page, `${chat.url}/admin/#/sockets/`);
  await rows.filter({ hasText: ann.socket.id }).waitFor();
  await page.waitForFunction(
    (id) => ![...document.querySelectorAll("tbody tr")].some((r) => r.textContent.includes(id)),
    bobId,
  );
  assert.equal(ann.socket.connected, true);
});
