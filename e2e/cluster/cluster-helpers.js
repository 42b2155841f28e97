// Helpers of the mixed-cluster tests: a private redis-server on a free
// port (stopped by PID), Sockeye and Node cluster nodes, and
// socket.io-client connections to them.
//
// The Rust node is the `cluster_node` example of crates/sockeye-redis:
// SOCKEYE_CLUSTER_NODE points at its binary (default: the debug build
// under ../target). Waits are on events (a stdout line, a reply); polling
// loops have deadlines.

import { spawn } from "node:child_process";
import net from "node:net";
import path from "node:path";
import process from "node:process";
import readline from "node:readline";
import { fileURLToPath } from "node:url";
import { io as connect } from "socket.io-client";

const here = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(here, "..", "..");
export const RUST_NODE =
  process.env.SOCKEYE_CLUSTER_NODE ??
  path.join(process.env.CARGO_TARGET_DIR ?? path.join(ROOT, "target"), "debug", "examples", "cluster_node");
export const NODE_NODE = path.join(here, "..", "reference", "cluster-node.mjs");
/** The Rust emitter (example `emit` of crates/sockeye-redis). */
export const RUST_EMIT = path.join(path.dirname(RUST_NODE), "emit");

/** Runs the Rust emitter once; resolves with its exit code. */
export function rustEmit(redisUrl, { room, event, data }) {
  const argv = ["--redis", redisUrl, "--event", event, "--data", JSON.stringify(data)];
  if (room !== undefined) argv.push("--room", room);
  const child = spawn(RUST_EMIT, argv, { stdio: ["ignore", "ignore", "inherit"] });
  return new Promise((resolve) => child.once("exit", (code) => resolve(code)));
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function redisAnswers(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    s.on("error", () => resolve(false));
    s.on("connect", () => s.write("PING\r\n"));
    s.on("data", (d) => {
      s.destroy();
      resolve(d.toString().startsWith("+PONG"));
    });
  });
}

async function until(what, f, ms = 10_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await f()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A private redis-server; `stop()` kills it by PID, `start()` again on the same port. */
export async function startRedis(t) {
  const port = await freePort();
  const redis = {
    port,
    url: `redis://127.0.0.1:${port}`,
    child: null,
    async start() {
      this.child = spawn("redis-server", ["--port", String(port), "--save", "", "--appendonly", "no"], {
        stdio: "ignore",
      });
      await until("redis-server", () => redisAnswers(port));
    },
    async stop() {
      const child = this.child;
      this.child = null;
      if (!child || child.exitCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGKILL");
      await exited;
    },
  };
  await redis.start();
  t.after(() => redis.stop());
  return redis;
}

/** Starts a cluster node (`kind`: "rust" or "node"); resolves with its port. */
export function startNode(t, kind, redisUrl, name, adapter = "redis", extra = []) {
  const [command, argv] =
    kind === "rust"
      ? [RUST_NODE, []]
      : [process.execPath, [NODE_NODE]];
  const child = spawn(command, [...argv, "--port", "0", "--redis", redisUrl, "--name", name, "--adapter", adapter, ...extra], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  t.after(async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
    await exited;
    clearTimeout(timer);
  });
  return new Promise((resolve, reject) => {
    const lines = readline.createInterface({ input: child.stdout });
    lines.on("line", (line) => {
      const m = /^listening on 127\.0\.0\.1:(\d+)$/.exec(line);
      if (m) resolve({ name, kind, port: Number(m[1]), child });
    });
    child.once("exit", (code) => reject(new Error(`${name} exited with ${code}`)));
  });
}

/** A socket.io-client on a node that answers `question` with `name`, and records every event. */
export async function client(t, node, name) {
  const socket = connect(`http://127.0.0.1:${node.port}`, { transports: ["websocket"], forceNew: true });
  t.after(() => socket.disconnect());
  socket.events = [];
  socket.onAny((event, ...args) => socket.events.push([event, ...args]));
  socket.on("question", (_n, cb) => cb(name));
  await new Promise((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", reject);
  });
  socket.label = name;
  return socket;
}

/** Waits until every node counts `n` servers. */
export async function waitForServers(clients, n) {
  for (const c of clients) {
    await until(`${n} servers seen by ${c.label}`, async () => (await c.emitWithAck("server-count")) === n);
  }
}

/** Waits until the client received `event` with `data`; returns the events before it. */
export async function received(socket, event, data, ms = 5_000) {
  await until(
    `${socket.label} to receive ${event} ${JSON.stringify(data)}`,
    () => socket.events.some(([e, d]) => e === event && JSON.stringify(d) === JSON.stringify(data)),
    ms,
  );
}

/** Whether the client received `event` with `data`. */
export function got(socket, event, data) {
  return socket.events.some(([e, d]) => e === event && JSON.stringify(d) === JSON.stringify(data));
}
