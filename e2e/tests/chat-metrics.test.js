// The chat's Prometheus endpoint and logs: /metrics scraped during a chat
// session (counters move as the clients do), --metrics-listen, and
// --log-format json lines with the session and socket ids.

import assert from "node:assert/strict";
import http from "node:http";
import test from "node:test";
import { ack, CHAT_TIMEOUT, connect, login, startChat } from "./chat-helpers.js";

const opts = { timeout: CHAT_TIMEOUT };

function get(url) {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c) => (body += c));
        res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body }));
      })
      .on("error", reject);
  });
}

/** Scrapes `url` and returns a lookup of `name{labels}` -> value. */
async function scrape(url) {
  const res = await get(url);
  assert.equal(res.status, 200, res.body);
  assert.match(res.headers["content-type"], /^application\/openmetrics-text; version=1\.0\.0/);
  assert.ok(res.body.endsWith("# EOF\n"));
  const samples = new Map();
  for (const line of res.body.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const at = line.lastIndexOf(" ");
    samples.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  const value = (key) => {
    assert.ok(samples.has(key), `no sample ${key} in:\n${res.body}`);
    return samples.get(key);
  };
  return value;
}

test("/metrics during a chat session: sockets, broadcasts, acks, upgrades, polling latency, disconnects", opts, async (t) => {
  const chat = await startChat(t, ["--metrics"]);
  const metrics = `${chat.url}/metrics`;
  const before = await scrape(metrics);
  assert.equal(before('sockeye_sockets{namespace="/"}'), 0);

  const a = await connect(t, chat.url);
  const b = await connect(t, chat.url);
  await login(a, "ann");
  await login(b, "bob");
  // The default client opens with polling and upgrades: wait for both.
  for (const c of [a, b]) {
    if (c.socket.io.engine.transport.name !== "websocket") {
      await new Promise((resolve) => c.socket.io.engine.once("upgrade", resolve));
    }
  }
  const seen = b.rec.next("new message");
  const res = await ack(a.socket, "new message", "hello from ann");
  assert.ok(res.id, JSON.stringify(res));
  await seen;

  const during = await scrape(metrics);
  assert.equal(during('sockeye_sockets{namespace="/"}'), 2);
  assert.equal(during("sockeye_connects_total"), 2);
  assert.equal(during('sockeye_engine_handshakes_total{transport="polling",protocol="4"}'), 2);
  assert.equal(during('sockeye_engine_sessions{transport="websocket",protocol="4"}'), 2);
  assert.equal(during('sockeye_engine_sessions{transport="polling",protocol="4"}'), 0);
  assert.equal(during("sockeye_engine_upgrades_total"), 2);
  // "user joined" (to ann when bob logs in) and "new message" (to bob).
  assert.ok(during("sockeye_broadcasts_total") >= 2);
  assert.ok(during("sockeye_broadcast_recipients_total") >= 2);
  assert.ok(during("sockeye_engine_packets_received_total") > before("sockeye_engine_packets_received_total"));
  assert.ok(during("sockeye_engine_sent_bytes_total") > 0);
  assert.ok(during('sockeye_engine_polling_request_duration_seconds_count{method="GET"}') >= 2);
  assert.equal(during('sockeye_limits_tripped_total{limit="parse_error"}'), 0);

  const left = a.rec.next("user left");
  b.socket.disconnect();
  await left;
  const after = await scrape(metrics);
  assert.equal(after('sockeye_sockets{namespace="/"}'), 1);
  assert.equal(after('sockeye_disconnects_total{reason="client namespace disconnect"}'), 1);
  assert.ok(after("sockeye_broadcasts_total") > during("sockeye_broadcasts_total"));
});

test("--metrics-listen serves /metrics on its own address only; no flag, no /metrics", opts, async (t) => {
  const chat = await startChat(t, ["--metrics-listen", "127.0.0.1:0"]);
  assert.ok(chat.metrics, "a `metrics on` line");
  const value = await scrape(chat.metrics);
  assert.equal(value("sockeye_connects_total"), 0);
  assert.equal((await get(`${chat.url}/metrics`)).status, 404);
  assert.equal((await get(chat.metrics.replace("/metrics", "/"))).status, 404);

  const plain = await startChat(t);
  assert.equal((await get(`${plain.url}/metrics`)).status, 404);
});

test("--log-format json: one JSON object per line, session and socket lifecycle in spans with sid and namespace", opts, async (t) => {
  const chat = await startChat(t, ["--log-format", "json"], { env: { RUST_LOG: "info" } });
  const a = await connect(t, chat.url, { transports: ["websocket"] });
  const connected = JSON.parse(await chat.stderrLine((l) => l.includes('"socket connected"')));
  assert.equal(connected.level, "INFO");
  assert.equal(connected.sid, a.socket.id);
  assert.equal(connected.namespace, "/");
  const opened = JSON.parse(await chat.stderrLine((l) => l.includes('"session opened"')));
  assert.equal(opened.transport, "websocket");
  assert.equal(opened.protocol, 4);
  a.socket.disconnect();
  const gone = JSON.parse(await chat.stderrLine((l) => l.includes('"socket disconnected"')));
  assert.equal(gone.sid, a.socket.id ?? connected.sid);
  assert.equal(gone.reason, "client namespace disconnect");
  // Within the socket's span, itself within the session's.
  assert.equal(gone.span?.name, "socket");
  assert.equal(gone.span?.namespace, "/");
  assert.equal(opened.span?.name, "session");
  assert.equal(opened.span?.sid, opened.sid);
  for (const line of chat.stderr().split("\n").filter(Boolean)) JSON.parse(line);
});
