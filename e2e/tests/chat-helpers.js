// Helpers for the tests of the `sockeye-chat` binary (examples/chat): start
// it, connect socket.io-client sockets, wait for chat events.
//
// The binary comes from SOCKEYE_CHAT (scripts/test builds it and sets it);
// without it, target/debug/sockeye-chat of the repository is used. Nothing
// here sleeps: every wait is on an event (a stdout line, a process exit, a
// socket event), bounded by the test's timeout.

import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import process from "node:process";
import { io } from "socket.io-client";
import { defer, E2E_DIR } from "./helpers.js";

export { defer } from "./helpers.js";

export const REPO_ROOT = path.resolve(E2E_DIR, "..");
// The chat's own browser assets (examples/chat/package.json; scripts/test
// installs them before the chat tests), as a user's chat serves them.
export const CLIENT_DIST = path.join(REPO_ROOT, "examples", "chat", "node_modules", "socket.io-client", "dist");

/** Per-test timeout (ms) of the chat tests. */
export const CHAT_TIMEOUT = 30_000;
const STARTUP_TIMEOUT = 20_000;
const SHUTDOWN_TIMEOUT = 10_000;

export function chatBinary() {
  const bin = process.env.SOCKEYE_CHAT || path.join(REPO_ROOT, "target", "debug", "sockeye-chat");
  if (!fs.existsSync(bin)) {
    throw new Error(
      `sockeye-chat not found at ${bin}: build it (cargo build -p sockeye-chat) or set SOCKEYE_CHAT`,
    );
  }
  return bin;
}

const live = new Set();
process.on("exit", () => {
  for (const child of live) {
    try {
      child.kill("SIGKILL");
    } catch {
      // gone
    }
  }
});

/** How many listeners these arguments ask for (the default HTTP one and --metrics-listen included). */
function listenerCount(args) {
  let http = 0;
  let https = 0;
  let metrics = 0;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const count = (flag) =>
      a === flag ? 1 : a.startsWith(flag + "=") ? 1 : 0;
    if (count("--listen")) http += (a.includes("=") ? a.split("=")[1] : args[i + 1]).split(",").length;
    if (count("--tls-listen")) https += (a.includes("=") ? a.split("=")[1] : args[i + 1]).split(",").length;
    if (count("--metrics-listen")) metrics = 1;
  }
  return (http || 1) + https + metrics;
}

function spawnChat(args, env) {
  const child = spawn(chatBinary(), args, {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, SOCKEYE_CHAT_CLIENT_DIST: CLIENT_DIST, RUST_LOG: "info", ...env },
  });
  live.add(child);
  let stderr = "";
  let stderrWaiters = [];
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk) => {
    stderr += chunk;
    stderrWaiters = stderrWaiters.filter((w) => !w());
    if (process.env.E2E_VERBOSE) process.stderr.write(chunk);
  });
  // Resolves to the first stderr line that passes `match` (now or later).
  const stderrLine = (match) =>
    new Promise((resolve) => {
      const check = () => {
        const line = stderr.split("\n").find((l) => match(l));
        if (line === undefined) return false;
        resolve(line);
        return true;
      };
      if (!check()) stderrWaiters.push(check);
    });
  const exited = new Promise((resolve) => {
    child.once("exit", (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    });
    child.once("error", (err) => {
      live.delete(child);
      resolve({ code: null, signal: null, error: err });
    });
  });
  return { child, exited, stderr: () => stderr, stderrLine };
}

/**
 * Runs sockeye-chat with `args` and waits for its `listening on` lines (one
 * per listener). When `t` is given, the process gets SIGTERM after the test,
 * and the test fails unless it exits 0 in time.
 *
 * Returns {http: [url], https: [url], url, metrics (the --metrics-listen URL),
 * kill, exited, stderr, stderrLine(match) (the first stderr line that passes
 * `match`, waited for)}: `kill()`
 * sends SIGTERM and resolves to the exit status.
 */
export async function startChat(t, args = [], { env = {} } = {}) {
  const argv = args.some((a) => a === "--listen" || a.startsWith("--listen="))
    ? args
    : ["--listen", "127.0.0.1:0", ...args];
  const expected = listenerCount(argv);
  const { child, exited, stderr, stderrLine } = spawnChat(argv, env);
  let gone = false;
  exited.then(() => {
    gone = true;
  });

  const lines = [];
  const ready = new Promise((resolve, reject) => {
    let buffered = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk) => {
      buffered += chunk;
      let nl;
      while ((nl = buffered.indexOf("\n")) !== -1) {
        const line = buffered.slice(0, nl).trim();
        buffered = buffered.slice(nl + 1);
        const m = /^(listening|metrics) on (https?):\/\/(\S+)$/.exec(line);
        if (!m) {
          reject(new Error(`unexpected stdout line from sockeye-chat: ${JSON.stringify(line)}`));
          return;
        }
        lines.push({ scheme: m[1] === "metrics" ? "metrics" : m[2], addr: m[3] });
        if (lines.length === expected) resolve();
      }
    });
    exited.then(({ code, signal, error }) =>
      reject(
        new Error(
          `sockeye-chat exited before it was ready (code ${code}, signal ${signal}${error ? `, ${error.message}` : ""}); stderr:\n${stderr()}`,
        ),
      ),
    );
  });
  let timer;
  try {
    await Promise.race([
      ready,
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`sockeye-chat was not ready in ${STARTUP_TIMEOUT} ms; stderr:\n${stderr()}`)),
          STARTUP_TIMEOUT,
        );
      }),
    ]);
  } catch (err) {
    child.kill("SIGKILL");
    throw err;
  } finally {
    clearTimeout(timer);
  }

  let killing;
  const kill = (signal = "SIGTERM") => {
    killing ??= (async () => {
      if (!gone) child.kill(signal);
      let timer;
      const result = await Promise.race([
        exited,
        new Promise((resolve) => {
          timer = setTimeout(() => resolve("timeout"), SHUTDOWN_TIMEOUT);
        }),
      ]);
      clearTimeout(timer);
      if (result === "timeout") {
        child.kill("SIGKILL");
        await exited;
        throw new Error(`sockeye-chat did not exit within ${SHUTDOWN_TIMEOUT} ms of ${signal}`);
      }
      return result;
    })();
    return killing;
  };
  if (t) {
    defer(t, async () => {
      if (gone) {
        const { code, signal } = await exited;
        throw new Error(`sockeye-chat exited during the test (code ${code}, signal ${signal}); stderr:\n${stderr()}`);
      }
      const { code, signal } = await kill();
      if (code !== 0) {
        throw new Error(`sockeye-chat exited with code ${code} (signal ${signal}) after SIGTERM; stderr:\n${stderr()}`);
      }
    });
  }
  const http = lines.filter((l) => l.scheme === "http").map((l) => `http://${l.addr}`);
  const https = lines.filter((l) => l.scheme === "https").map((l) => `https://${l.addr}`);
  const metrics = lines.filter((l) => l.scheme === "metrics").map((l) => `http://${l.addr}/metrics`)[0];
  return { http, https, url: http[0], metrics, kill, exited, stderr, stderrLine, pid: child.pid };
}

/** Runs sockeye-chat expecting it to fail at start: resolves to {code, stderr}. */
export async function runChatExpectingFailure(args) {
  const { exited, stderr, child } = spawnChat(["--listen", "127.0.0.1:0", ...args], {});
  let timer;
  const result = await Promise.race([
    exited,
    new Promise((resolve) => {
      timer = setTimeout(() => resolve("timeout"), STARTUP_TIMEOUT);
    }),
  ]);
  clearTimeout(timer);
  if (result === "timeout") {
    child.kill("SIGKILL");
    await exited;
    throw new Error(`sockeye-chat kept running with ${JSON.stringify(args)}; stderr:\n${stderr()}`);
  }
  return { code: result.code, signal: result.signal, stderr: stderr() };
}

/** A free TCP port on 127.0.0.1 (closed again before it is returned). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Records every event a socket.io-client socket receives from its
 * creation, so that none is missed between two awaits.
 */
export class Recorder {
  constructor(socket) {
    this.events = [];
    this.waiters = [];
    socket.onAny((event, ...args) => {
      this.events.push({ event, args });
      this.waiters = this.waiters.filter((w) => !w.check());
    });
  }

  /** Every received `event`'s first argument so far. */
  all(event) {
    return this.events.filter((e) => e.event === event).map((e) => e.args[0]);
  }

  /**
   * The first `event` (after the `skip` earlier ones) whose first argument
   * passes `match`; waits for it.
   */
  next(event, match = () => true) {
    return new Promise((resolve) => {
      const check = () => {
        const found = this.events.find((e) => e.event === event && match(e.args[0]) && !e.taken);
        if (!found) return false;
        found.taken = true;
        resolve(found.args[0]);
        return true;
      };
      if (!check()) this.waiters.push({ check });
    });
  }
}

/**
 * A connected socket.io-client socket to the chat at `url`, closed after
 * the test. Returns {socket, rec}.
 */
export async function connect(t, url, options = {}) {
  const socket = io(url, { forceNew: true, reconnection: false, ...options });
  const rec = new Recorder(socket);
  defer(t, () => socket.disconnect());
  await new Promise((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", (err) => reject(new Error(`connect_error: ${err.message}`)));
  });
  return { socket, rec };
}

/** `emitWithAck` bounded in time. */
export function ack(socket, event, ...args) {
  return socket.timeout(10_000).emitWithAck(event, ...args);
}

/** Logs in with an ack; returns {ack, login}. */
export async function login(client, name) {
  const loginEvent = client.rec.next("login");
  const res = await ack(client.socket, "add user", name);
  if (!res || res.ok !== true) throw new Error(`add user ${name} refused: ${JSON.stringify(res)}`);
  return { ack: res, login: await loginEvent };
}
