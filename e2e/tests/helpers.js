// Shared helpers for the Sockeye end-to-end tests.
//
// The server under test comes from the environment variable
// SOCKEYE_TESTSERVER:
//   - a path to the `sockeye-testserver` binary (scripts/test sets it), or
//   - `node-reference`, to run the same tests against the Node reference
//     implementation in e2e/reference/ (proves that the tests are correct).
//
// Nothing here sleeps: every wait is on an event (a stdout line, a process
// exit, a socket event). Hanging waits are bounded by the per-test timeout.

import { spawn } from "node:child_process";
import path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { Socket } from "engine.io-client";

const here = path.dirname(fileURLToPath(import.meta.url));
export const E2E_DIR = path.resolve(here, "..");
export const REFERENCE_ENGINEIO_SERVER = path.join(E2E_DIR, "reference", "engineio-server.mjs");
export const REFERENCE_SOCKETIO_APP = path.join(E2E_DIR, "reference", "socketio-app.mjs");
/** The Node reference server of each mode. */
const REFERENCE_SERVERS = {
  engineio: REFERENCE_ENGINEIO_SERVER,
  "socketio-app": REFERENCE_SOCKETIO_APP,
};

/** Per-test timeout (ms); generous because debug builds and CI are slow. */
export const TEST_TIMEOUT = 30_000;

/** How long a started server may take to print its `listening on` line. */
const STARTUP_TIMEOUT = 20_000;
/**
 * How long a server may take to exit after SIGTERM before we SIGKILL it and
 * fail the test (generous: a graceful shutdown may drain connections).
 */
const SHUTDOWN_TIMEOUT = 10_000;
/** Bound on a test's whole cleanup (closing clients, stopping servers). */
const CLEANUP_TIMEOUT = 20_000;

const LISTENING_RE = /^listening on (127\.0\.0\.1):(\d+)$/;

/** True when the tests run against the Node reference server. */
export function isReference() {
  return process.env.SOCKEYE_TESTSERVER === "node-reference";
}

function serverCommand(mode, args) {
  const target = process.env.SOCKEYE_TESTSERVER;
  if (!target) {
    throw new Error(
      "SOCKEYE_TESTSERVER is not set: point it at the sockeye-testserver binary " +
        "(scripts/test does this) or set it to `node-reference`",
    );
  }
  if (target === "node-reference") {
    const script = REFERENCE_SERVERS[mode];
    if (!script) throw new Error(`no Node reference server for mode ${mode}`);
    return { command: process.execPath, argv: [script, mode, ...args] };
  }
  return { command: target, argv: [mode, ...args] };
}

// Servers still running when the test process exits (e.g. after a crash)
// are killed so they never outlive the test run.
const liveChildren = new Set();
function killLiveChildren() {
  for (const child of liveChildren) {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
}
process.on("exit", killLiveChildren);
for (const [signal, code] of [
  ["SIGINT", 130],
  ["SIGTERM", 143],
]) {
  process.once(signal, () => {
    killLiveChildren();
    process.exit(code);
  });
}

// Per-test cleanup stacks: cleanups run in reverse order of registration
// (clients close before their server is killed), all of them even if one
// fails; the first failure is rethrown.
const cleanupStacks = new WeakMap();

/** Run `fn` after the test `t`, before the cleanups registered earlier. */
export function defer(t, fn) {
  let stack = cleanupStacks.get(t);
  if (!stack) {
    stack = [];
    cleanupStacks.set(t, stack);
    t.after(async () => {
      let failure;
      while (stack.length > 0) {
        try {
          await stack.pop()();
        } catch (err) {
          failure ??= err;
        }
      }
      if (failure) throw failure;
    }, { timeout: CLEANUP_TIMEOUT });
  }
  stack.push(fn);
}

/**
 * Start a test server and wait until it prints `listening on HOST:PORT`.
 *
 * @param {import("node:test").TestContext | undefined} t when given, the
 *   server is killed (SIGTERM, awaited) after the test.
 * @param {string[]} args extra CLI arguments, e.g. ["--max-payload", "1000"].
 * @param {{mode?: string}} [options]
 * @returns {Promise<{url: string, port: number, host: string, kill: () => Promise<void>, stderr: () => string}>}
 */
export async function startServer(t, args = [], { mode = "engineio" } = {}) {
  const { command, argv } = serverCommand(mode, ["--host", "127.0.0.1", "--port", "0", ...args]);
  const child = spawn(command, argv, { stdio: ["ignore", "pipe", "pipe"] });
  liveChildren.add(child);

  let stderr = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk) => {
    stderr += chunk;
    if (process.env.E2E_VERBOSE) process.stderr.write(chunk);
  });

  // Resolves when the process is gone, or was never started (spawn error).
  let spawnError;
  const exited = new Promise((resolve) => {
    child.once("exit", (code, signal) => {
      liveChildren.delete(child);
      resolve({ code, signal });
    });
    child.once("error", (err) => {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) return;
      spawnError = err;
      liveChildren.delete(child);
      resolve({ code: null, signal: null });
    });
  });
  let hasExited = false;
  exited.then(() => {
    hasExited = true;
  });

  let killing;
  let ready = false;
  const kill = () => {
    killing ??= (async () => {
      if (hasExited) {
        if (!ready) return; // startup failure, already reported
        const { code, signal } = await exited;
        throw new Error(
          `server exited on its own during the test (code ${code}, signal ${signal}); stderr:\n${stderr}`,
        );
      }
      child.kill("SIGTERM");
      let timer;
      const timedOut = new Promise((resolve) => {
        timer = setTimeout(() => resolve("timeout"), SHUTDOWN_TIMEOUT);
      });
      const result = await Promise.race([exited, timedOut]);
      clearTimeout(timer);
      if (result === "timeout") {
        child.kill("SIGKILL");
        await exited;
        throw new Error(`server did not exit within ${SHUTDOWN_TIMEOUT} ms of SIGTERM`);
      }
    })();
    return killing;
  };
  if (t) defer(t, kill);

  const listening = new Promise((resolve, reject) => {
    let buffered = "";
    let firstLineSeen = false;
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk) => {
      if (firstLineSeen) return; // keep draining the pipe
      buffered += chunk;
      const newline = buffered.indexOf("\n");
      if (newline === -1) return;
      firstLineSeen = true;
      const line = buffered.slice(0, newline).replace(/\r$/, "");
      const match = LISTENING_RE.exec(line);
      if (!match) {
        reject(new Error(`unexpected first stdout line from server: ${JSON.stringify(line)}`));
        return;
      }
      resolve({ host: match[1], port: Number(match[2]) });
    });
    exited.then(({ code, signal }) => {
      if (spawnError) {
        reject(new Error(`failed to spawn ${command}: ${spawnError.message}`));
        return;
      }
      reject(
        new Error(
          `server exited before it was ready (code ${code}, signal ${signal}); stderr:\n${stderr}`,
        ),
      );
    });
  });

  let timer;
  const startupTimeout = new Promise((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`server did not print "listening on" within ${STARTUP_TIMEOUT} ms; stderr:\n${stderr}`)),
      STARTUP_TIMEOUT,
    );
  });
  let address;
  try {
    address = await Promise.race([listening, startupTimeout]);
    ready = true;
  } catch (err) {
    await kill().catch(() => {});
    throw err;
  } finally {
    clearTimeout(timer);
  }

  const { host, port } = address;
  return {
    url: `http://${host}:${port}`,
    host,
    port,
    kill,
    stderr: () => stderr,
  };
}

/**
 * Wait for the next `event` on a component-emitter (engine.io-client Socket)
 * or Node EventEmitter. Rejects if one of `rejectOn` fires first.
 */
export function nextEvent(emitter, event, { rejectOn = [] } = {}) {
  return new Promise((resolve, reject) => {
    const cleanups = [];
    const cleanup = () => {
      for (const fn of cleanups) fn();
    };
    const on = (name, fn) => {
      emitter.on(name, fn);
      cleanups.push(() => emitter.off(name, fn));
    };
    on(event, (...args) => {
      cleanup();
      resolve(args);
    });
    for (const name of rejectOn) {
      on(name, (...args) => {
        cleanup();
        reject(new Error(`got "${name}" while waiting for "${event}": ${describeArgs(args)}`));
      });
    }
  });
}

function describeArgs(args) {
  return args
    .map((a) => {
      if (a instanceof Error) return `${a.name}: ${a.message}${a.description ? ` (${describeArgs([a.description])})` : ""}`;
      if (a && typeof a === "object") {
        try {
          return JSON.stringify(a, (k, v) => (k === "target" || k === "req" ? undefined : v));
        } catch {
          return String(a);
        }
      }
      return String(a);
    })
    .join(", ");
}

/**
 * Buffers every `message` of a socket from the moment it is created, so that
 * no message can be missed between two awaits.
 */
export class Inbox {
  constructor(socket) {
    this.queue = [];
    this.waiters = [];
    this.failure = null;
    socket.on("message", (data) => {
      const waiter = this.waiters.shift();
      if (waiter) waiter.resolve(data);
      else this.queue.push(data);
    });
    socket.on("close", (reason, description) => {
      this.failure = new Error(`socket closed (${reason}) ${describeArgs([description])}`);
      for (const waiter of this.waiters.splice(0)) waiter.reject(this.failure);
    });
  }

  /** The next message (in arrival order). */
  next() {
    if (this.queue.length > 0) return Promise.resolve(this.queue.shift());
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** The next `n` messages, in arrival order. */
  async take(n) {
    const out = [];
    for (let i = 0; i < n; i++) out.push(await this.next());
    return out;
  }
}

/**
 * Create an engine.io-client Socket, close it after the test, and wait for
 * it to open. Returns {socket, inbox, handshake}.
 */
export async function openSocket(t, url, options = {}) {
  const socket = new Socket(url, { path: "/engine.io/", ...options });
  const inbox = new Inbox(socket);
  let handshake;
  socket.on("handshake", (data) => {
    handshake = data;
  });
  defer(t, () => closeSocket(socket));
  await nextEvent(socket, "open", { rejectOn: ["error", "close"] });
  return { socket, inbox, handshake };
}

/** Close an engine.io-client Socket (if still open) and wait for `close`. */
export async function closeSocket(socket) {
  if (socket.readyState === "closed") return;
  const closed = nextEvent(socket, "close");
  if (socket.readyState !== "closing") socket.close();
  await closed;
}

/** Deterministic pseudo-random bytes (xorshift32), for binary payloads. */
export function pseudoRandomBytes(length, seed = 0x9e3779b9) {
  const out = Buffer.alloc(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** A printable ASCII string of exactly `length` characters (and bytes). */
export function asciiText(length) {
  const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";
  let s = "";
  const chunk = Array.from({ length: 4096 }, (_, i) => alphabet[(i * 7 + (i >> 6)) % alphabet.length]).join("");
  while (s.length < length) s += chunk;
  return s.slice(0, length);
}
