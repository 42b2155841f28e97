// `scripts/chat --cluster N`: Redis (a private redis-server when nothing
// answers at --redis), N chat nodes and HAProxy on one port; it prints the
// URL, the chat works through it, and SIGTERM stops everything it started.
// Missing binaries are a clear error with the install command.
//
// SOCKEYE_CHAT (set by scripts/test; default target/debug/sockeye-chat) is
// handed to the script, so that it does not build a release binary.

import { spawn } from "node:child_process";
import net from "node:net";
import path from "node:path";
import test from "node:test";
import { startRedis } from "../cluster/cluster-helpers.js";
import { chatBinary, defer, freePort, REPO_ROOT } from "../tests/chat-helpers.js";
import { burst, login, pingPong, user } from "./chat-scenario.js";
import { assert, until } from "./proxy-helpers.js";

const SCRIPT = path.join(REPO_ROOT, "scripts", "chat");
const opts = { timeout: 90_000 };

/** Runs scripts/chat with `args`; resolves stdout lines as they come. */
function runScript(t, args, env = {}) {
  const child = spawn(SCRIPT, args, {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, SOCKEYE_CHAT: chatBinary(), ...env },
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (c) => (stdout += c));
  child.stderr.setEncoding("utf8").on("data", (c) => (stderr += c));
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  let gone = false;
  exited.then(() => (gone = true));
  defer(t, async () => {
    if (!gone) child.kill("SIGKILL");
    await exited;
  });
  return { child, exited, stdout: () => stdout, stderr: () => stderr, gone: () => gone };
}

/** Whether something accepts connections on 127.0.0.1:`port`. */
function listening(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/** Starts the cluster and waits for its URL; returns {url, nodePorts, script}. */
async function startCluster(t, args, env) {
  const script = runScript(t, ["--cluster", "3", ...args], env);
  await until(
    "the cluster's URL",
    () => {
      if (script.gone()) throw new Error(`scripts/chat exited:\n${script.stderr()}`);
      return /^cluster on (http:\/\/\S+)\/$/m.test(script.stdout());
    },
    30_000,
  );
  const url = /^cluster on (http:\/\/\S+)\/$/m.exec(script.stdout())[1];
  const nodePorts = [...script.stderr().matchAll(/node \d on http:\/\/127\.0\.0\.1:(\d+)/g)].map((m) => Number(m[1]));
  assert.equal(nodePorts.length, 3, script.stderr());
  return { url, nodePorts, script };
}

/** SIGTERM: exit 0, and nothing it started still listens. */
async function stopCluster({ script, nodePorts }, ports) {
  script.child.kill("SIGTERM");
  const { code } = await script.exited;
  assert.equal(code, 0, script.stderr());
  assert.match(script.stderr(), /stopped everything it started/);
  for (const port of [...nodePorts, ...ports]) assert.equal(await listening(port), false, `port ${port} still open`);
}

test("scripts/chat --cluster 3 starts Redis, three nodes and HAProxy; the chat works; SIGTERM stops it all", opts, async (t) => {
  const [port, redisPort] = [await freePort(), await freePort()];
  const cluster = await startCluster(t, ["--port", String(port), "--redis", `redis://127.0.0.1:${redisPort}`]);
  assert.equal(cluster.url, `http://127.0.0.1:${port}`);
  assert.match(cluster.script.stderr(), /started a private redis-server at redis:\/\/127\.0\.0\.1:\d+/);
  assert.match(cluster.script.stderr(), /round robin, sessions served from any node/);

  const a = await user(t, cluster.url, "ada", "polling");
  const b = await user(t, cluster.url, "grace", "websocket");
  await login(a);
  assert.equal((await login(b)).numUsers, 2);
  await burst([a, b], 10);
  await pingPong(a, b, 10);
  a.socket.disconnect();
  b.socket.disconnect();

  await stopCluster(cluster, [port, redisPort]);
});

test("scripts/chat --cluster 3 --no-forwarding uses a running Redis and HAProxy's SERVERID cookie", opts, async (t) => {
  const redis = await startRedis(t);
  const port = await freePort();
  const cluster = await startCluster(t, ["--port", String(port), "--redis", redis.url, "--no-forwarding"]);
  assert.match(cluster.script.stderr(), new RegExp(`using the Redis at ${redis.url}`));
  assert.match(cluster.script.stderr(), /SERVERID cookie stickiness/);

  const a = await user(t, cluster.url, "ada", "polling");
  const b = await user(t, cluster.url, "grace", "polling");
  await login(a);
  await login(b);
  await pingPong(a, b, 10);
  a.socket.disconnect();
  b.socket.disconnect();

  await stopCluster(cluster, [port]);
  // Redis was there before: still running.
  assert.equal(await listening(redis.port), true);
});

test("missing haproxy or redis-server: a clear error with the install command, before any build", opts, async (t) => {
  const noProxy = runScript(t, ["--cluster", "3"], { HAPROXY: "/nonexistent/haproxy" });
  const a = await noProxy.exited;
  assert.equal(a.code, 1);
  assert.match(noProxy.stderr(), /haproxy not found.*apt-get install haproxy/);

  const redisPort = await freePort();
  const noRedis = runScript(t, ["--cluster", "3", "--redis", `redis://127.0.0.1:${redisPort}`], {
    REDIS_SERVER: "/nonexistent/redis-server",
  });
  const b = await noRedis.exited;
  assert.equal(b.code, 1);
  assert.match(noRedis.stderr(), /no Redis answers at redis:\/\/127\.0\.0\.1:\d+ and redis-server is not installed.*apt-get install redis-server/);
  assert.doesNotMatch(noRedis.stderr() + noProxy.stderr(), /building/);
});
