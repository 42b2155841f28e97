// Helpers of the HAProxy cluster tests: a private redis-server, N
// `sockeye-chat --redis` nodes, HAProxy in front of them with a generated
// configuration, its access log (one line per request: server, status,
// method, URI) and its stats CSV.
//
// HAPROXY names the binary (default: `haproxy` on PATH; scripts/test
// installs Debian's package when it is missing). Nothing here sleeps on a
// guess: HAProxy is ready when its frontend answers /healthz through a
// backend, a log line is awaited by its content, and every wait has a
// deadline.

import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { startRedis } from "../cluster/cluster-helpers.js";
import { defer, freePort, startChat } from "../tests/chat-helpers.js";

export const HAPROXY = process.env.HAPROXY || "haproxy";

/** A fresh temporary folder, removed after the test. */
export function tempDir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sockeye-haproxy-"));
  defer(t, () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * A self-signed certificate for 127.0.0.1 and localhost (openssl), with
 * its key, in one PEM file as HAProxy's `crt` wants it. Returns its path.
 */
export function selfSignedPem(dir) {
  const key = path.join(dir, "key.pem");
  const cert = path.join(dir, "cert.pem");
  execFileSync(
    "openssl",
    [
      "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
      "-keyout", key, "-out", cert, "-subj", "/CN=localhost",
      "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
    ],
    { stdio: "ignore" },
  );
  const pem = path.join(dir, "haproxy.pem");
  fs.writeFileSync(pem, fs.readFileSync(cert, "utf8") + fs.readFileSync(key, "utf8"));
  return pem;
}

/**
 * A private redis-server and `count` chat nodes with `--redis` on it plus
 * `args`. Returns {redis, nodes}: each node is startChat's result with its
 * `host` (127.0.0.1:port), `name` (s1, s2, ...: HAProxy's server name) and
 * `crash()` (SIGKILL, resolves once it is gone). After the test every node
 * not crashed gets SIGTERM and must exit 0.
 */
export async function startNodes(t, count, args = []) {
  const redis = await startRedis(t);
  const nodes = [];
  defer(t, async () => {
    for (const node of nodes) {
      if (node.crashed) continue;
      const { code, signal } = await node.kill();
      if (code !== 0) throw new Error(`${node.name} exited with ${code} (${signal}); stderr:\n${node.stderr()}`);
    }
  });
  for (let i = 0; i < count; i++) {
    const node = await startChat(null, ["--redis", redis.url, ...args]);
    node.host = new URL(node.url).host;
    node.name = `s${i + 1}`;
    node.crash = () => {
      node.crashed = true;
      return node.kill("SIGKILL");
    };
    nodes.push(node);
  }
  return { redis, nodes };
}

/**
 * The HAProxy configuration: one frontend (plain, or TLS with `pem`), one
 * backend balancing round robin over `nodes` with the `persistence` lines
 * (e.g. `cookie io prefix indirect nocache`) and `cookie <name>` on each
 * server when `serverCookies`, health checks on /healthz, redispatch when
 * a server is down, and a stats listener. Requests are logged to stdout.
 * With `pagesApart`, requests outside /socket.io/ (the page, its assets)
 * go to a second backend over the same nodes, so that only Engine.IO
 * requests move the round robin of `nodes`.
 */
export function haproxyConfig({ port, statsPort, nodes, persistence = [], serverCookies = false, pem, pagesApart = false }) {
  const servers = nodes
    .map((n) => `  server ${n.name} ${n.host}${serverCookies ? ` cookie ${n.name}` : ""} check inter 250ms fall 1 rise 2`)
    .join("\n");
  // Timeouts above the ping interval plus timeout (25 s + 20 s): a polling
  // GET is held open for up to the ping interval. The log line: server,
  // status, method, the URI with its query (the sid), the request's cookie
  // header and the response's Set-Cookie.
  return `global
  maxconn 1024
  log stdout format raw local0

defaults
  mode http
  log global
  log-format "req %s %ST %HM %{+Q}HU %{+Q}[capture.req.hdr(0)] %{+Q}[capture.res.hdr(0)]"
  option redispatch
  retries 3
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  timeout tunnel 1h
  timeout http-keep-alive 60s

frontend chat
  bind 127.0.0.1:${port}${pem ? ` ssl crt ${pem}` : ""}
  capture request header Cookie len 200
  capture response header Set-Cookie len 200
${pagesApart ? "  use_backend pages if !{ path_beg /socket.io/ }\n" : ""}  default_backend nodes
${pagesApart ? `\nbackend pages\n  balance roundrobin\n${nodes.map((n) => `  server ${n.name} ${n.host}`).join("\n")}\n` : ""}
backend nodes
  balance roundrobin
  option httpchk GET /healthz
${persistence.map((l) => `  ${l}`).join("\n")}
${servers}

listen stats
  bind 127.0.0.1:${statsPort}
  stats enable
  stats uri /stats
`;
}

/** One access-log line: {server, status, method, uri, sid, transport, cookie, setCookie}. */
export function parseLogLine(line) {
  const m = /^req (\S+) (-?\d+) (\S+) "([^"]*)" "([^"]*)" "([^"]*)"$/.exec(line);
  if (!m) return null;
  const [, server, status, method, uri, cookie, setCookie] = m;
  const query = new URL(uri === "-" ? "/" : uri, "http://x").searchParams;
  return {
    server,
    status: Number(status),
    method,
    uri,
    sid: query.get("sid"),
    transport: query.get("transport"),
    cookie: cookie === "-" ? "" : cookie,
    setCookie: setCookie === "-" ? "" : setCookie,
  };
}

/**
 * Writes `config` to `dir`/haproxy.cfg, runs HAProxy on it in the
 * foreground (stopped when the test ends) and waits until it has started.
 * Returns {lines, output(), gone()}: `lines` fills with the parsed
 * access-log lines, `output()` is everything else it printed, `gone()`
 * whether it has exited.
 */
export async function spawnHaproxy(t, dir, config) {
  const cfg = path.join(dir, "haproxy.cfg");
  fs.writeFileSync(cfg, config);

  // -db: stay in the foreground; -V: say "Using epoll() as the polling
  // mechanism." once the listeners are bound and the event loop starts.
  const child = spawn(HAPROXY, ["-db", "-V", "-f", cfg], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const lines = [];
  let pending = "";
  let announce;
  const announced = new Promise((resolve) => (announce = resolve));
  child.stdout.setEncoding("utf8");
  child.stderr.setEncoding("utf8");
  child.stdout.on("data", (chunk) => {
    pending += chunk;
    let nl;
    while ((nl = pending.indexOf("\n")) !== -1) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      const parsed = parseLogLine(line);
      if (parsed) lines.push(parsed);
      else output += `${line}\n`;
      if (/as the polling mechanism/.test(line)) announce();
    }
  });
  child.stderr.on("data", (c) => {
    output += c;
    if (/as the polling mechanism/.test(output)) announce();
  });
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  child.once("error", (err) => {
    output += `\nspawn error: ${err.message}`;
  });
  let gone = false;
  exited.then(() => (gone = true));
  defer(t, async () => {
    if (!gone) child.kill("SIGTERM");
    await exited;
  });

  await Promise.race([
    announced,
    exited.then(() => {
      throw new Error(`haproxy exited at start:\n${output}\n${config}`);
    }),
  ]);
  return { lines, output: () => output, gone: () => gone };
}

/**
 * Starts HAProxy with `haproxyConfig(options)` and waits until its
 * frontend answers /healthz through a backend. Returns {url, statsUrl,
 * log(), stats(), config}: `log()` is every access-log line so far
 * (parsed), `stats()` the stats CSV as rows keyed by column name.
 */
export async function startHaproxy(t, options) {
  const [port, statsPort] = [await freePort(), await freePort()];
  const dir = tempDir(t);
  const config = haproxyConfig({ port, statsPort, ...options });
  const proc = await spawnHaproxy(t, dir, config);
  const { lines, output: outputNow, gone: goneNow } = proc;
  const scheme = options.pem ? "https" : "http";
  const url = `${scheme}://127.0.0.1:${port}`;
  const statsUrl = `http://127.0.0.1:${statsPort}/stats`;
  const stats = async () => {
    const res = await fetch(`${statsUrl};csv;norefresh`);
    const text = await res.text();
    const [head, ...rows] = text.trim().split("\n");
    const names = head.replace(/^# /, "").split(",");
    return rows.map((r) => Object.fromEntries(r.split(",").map((v, i) => [names[i], v])));
  };
  // Ready once every server passed its health check (rise 2: two checks
  // 250 ms apart), so that round robin spreads over all of them from the
  // first request.
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (goneNow()) throw new Error(`haproxy exited at start:\n${outputNow()}`);
    try {
      const up = (await stats()).filter((r) => r.pxname === "nodes" && /^s\d+$/.test(r.svname));
      if (up.length === options.nodes.length && up.every((r) => r.status === "UP")) break;
    } catch (err) {
      if (err.cause?.code !== "ECONNREFUSED") throw err;
    }
    if (Date.now() > deadline) throw new Error(`haproxy's servers are not all up in 10 s:\n${outputNow()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { url, statsUrl, stats, log: () => lines.slice(), config, output: outputNow };
}

/** Engine.IO requests (under /socket.io/) of the access log, grouped by sid: sid -> [server]. */
export function serversBySid(log) {
  const bySid = new Map();
  for (const l of log) {
    if (!l.sid || !l.uri.startsWith("/socket.io/")) continue;
    if (!bySid.has(l.sid)) bySid.set(l.sid, []);
    bySid.get(l.sid).push(l.server);
  }
  return bySid;
}

/** Waits until `check()` holds (polled every 25 ms), for at most `ms`. */
export async function until(what, check, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export { assert };
