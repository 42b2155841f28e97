// The frame of every hostile case: one server per file, and for each case
// a bystander session opened before it, the case itself (which returns a
// short description of the outcome it checked), then the bystander's round
// trip, the server still alive, and the growth of its RSS (sampled during
// the case) under a ceiling. Each case appends a row to the results file
// that run.mjs prints as the summary table.

import { after, before, describe, test } from "node:test";
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import { Socket as EioSocket } from "engine.io-client";
import { io } from "socket.io-client";
import msgpackParser from "socket.io-msgpack-parser";
import { REPO_ROOT, rssKib, startTarget } from "./server.js";
import { within } from "./raw.js";

/** Default per-case RSS growth ceiling (KiB). */
export const DEFAULT_RSS_CEILING_KIB = 16 * 1024;
/** Default deadline of a case's own work (ms). */
export const DEFAULT_CASE_DEADLINE = 20_000;
const BYSTANDER_DEADLINE = 10_000;

/** Where the rows go (one JSON object per line). */
export function resultsFile() {
  if (process.env.HOSTILE_RESULTS) return process.env.HOSTILE_RESULTS;
  const target = process.env.CARGO_TARGET_DIR || path.join(REPO_ROOT, "target");
  return path.join(target, "hostile", "results.jsonl");
}

function record(row) {
  const file = resultsFile();
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.appendFileSync(file, JSON.stringify(row) + "\n");
}

// ---------------------------------------------------------------------------
// Bystanders: a session of each kind of server that must keep working.
// ---------------------------------------------------------------------------

let bystanderCount = 0;

function once(emitter, ok, bad) {
  return new Promise((resolve, reject) => {
    const onOk = (...a) => {
      cleanup();
      resolve(a);
    };
    const onBad = (e) => {
      cleanup();
      reject(e instanceof Error ? e : new Error(String(e)));
    };
    const cleanup = () => {
      emitter.off(ok, onOk);
      for (const b of bad) emitter.off(b, onBad);
    };
    emitter.on(ok, onOk);
    for (const b of bad) emitter.on(b, onBad);
  });
}

async function engineioBystander(server) {
  const socket = new EioSocket(server.url, { path: "/engine.io/", transports: ["polling", "websocket"] });
  await once(socket, "open", ["error", "close"]);
  return {
    async roundTrip() {
      const text = `bystander-${++bystanderCount}`;
      const got = once(socket, "message", ["close"]);
      socket.send(text);
      const [msg] = await got;
      if (msg !== text) throw new Error(`bystander echo: got ${JSON.stringify(msg)}`);
    },
    close() {
      socket.close();
    },
  };
}

async function socketioBystander(server) {
  const msgpack = server.args.includes("--msgpack");
  const socket = io(server.url, { forceNew: true, reconnection: false, ...(msgpack ? { parser: msgpackParser } : {}) });
  await once(socket, "connect", ["connect_error"]);
  return {
    async roundTrip() {
      const text = `bystander-${++bystanderCount}`;
      const reply = await socket.timeout(BYSTANDER_DEADLINE).emitWithAck("echo", text);
      if (reply !== text) throw new Error(`bystander echo: got ${JSON.stringify(reply)}`);
    },
    close() {
      socket.disconnect();
    },
  };
}

async function chatBystander(server) {
  const socket = io(server.url, { forceNew: true, reconnection: false });
  await once(socket, "connect", ["connect_error"]);
  const name = `by${++bystanderCount}`;
  const res = await socket.timeout(BYSTANDER_DEADLINE).emitWithAck("add user", name);
  if (!res || res.ok !== true) throw new Error(`bystander login refused: ${JSON.stringify(res)}`);
  return {
    async roundTrip() {
      const reply = await socket.timeout(BYSTANDER_DEADLINE).emitWithAck("new message", `still here ${name}`);
      if (!reply || typeof reply.id !== "string") throw new Error(`bystander message: got ${JSON.stringify(reply)}`);
    },
    close() {
      socket.disconnect();
    },
  };
}

const BYSTANDERS = { engineio: engineioBystander, "socketio-app": socketioBystander, chat: chatBystander };

// ---------------------------------------------------------------------------
// Suites and cases
// ---------------------------------------------------------------------------

/**
 * A group of cases against one server: `kind` and `args` as for
 * startTarget. Inside `body`, call `hostile(name, fn, options)`.
 */
export function suite(title, { kind, args = [] }, body) {
  const ctx = { server: null, kind, startError: null };
  describe(title, () => {
    // A server that does not start fails every case of the group (each
    // one recorded), rather than hiding them behind a failed hook.
    before(async () => {
      try {
        ctx.server = { ...(await startTarget(kind, args)), args };
      } catch (err) {
        ctx.startError = err;
      }
    });
    after(async () => {
      if (ctx.server) await ctx.server.stop();
    });
    body((name, fn, options = {}) => hostileCase(ctx, title, name, fn, options, args));
  });
}

function hostileCase(ctx, group, name, fn, options, args) {
  const deadline = options.deadline ?? DEFAULT_CASE_DEADLINE;
  const ceiling = options.rssCeilingKib ?? DEFAULT_RSS_CEILING_KIB;
  test(name, { timeout: deadline + 3 * BYSTANDER_DEADLINE + 5_000 }, async () => {
    const server = ctx.server;
    const row = { group, name, outcome: "", ok: false, rssBeforeKib: NaN, rssAfterKib: NaN, rssPeakKib: NaN, growthKib: NaN, ms: 0 };
    if (!server || !server.alive()) {
      const why = ctx.startError ? ctx.startError.message : `exit ${JSON.stringify(server && server.exitStatus())}`;
      row.outcome = `FAIL: the ${ctx.kind} server (${args.join(" ")}) is not running: ${why.split("\n").slice(0, 2).join(" ")}`;
      record(row);
      throw new Error(row.outcome);
    }
    const started = Date.now();
    let bystander;
    let sampler;
    try {
      bystander = await within(BYSTANDER_DEADLINE, BYSTANDERS[ctx.kind](server), "bystander open");
      const stderrBefore = server.stderr().length;
      row.rssBeforeKib = rssKib(server.pid);
      row.rssPeakKib = row.rssBeforeKib;
      sampler = setInterval(() => {
        const v = rssKib(server.pid);
        if (v > row.rssPeakKib) row.rssPeakKib = v;
      }, 50);
      const outcome = await within(deadline, Promise.resolve().then(() => fn(server)), `case "${name}"`);
      row.outcome = String(outcome || "ok");
      clearInterval(sampler);
      sampler = null;
      row.rssAfterKib = rssKib(server.pid);
      row.rssPeakKib = Math.max(row.rssPeakKib, row.rssAfterKib);
      row.growthKib = row.rssPeakKib - row.rssBeforeKib;
      if (!server.alive()) throw new Error(`server died: ${JSON.stringify(server.exitStatus())}; stderr tail:\n${server.stderr().slice(-2000)}`);
      // A panic caught by the runtime leaves the server up: still a defect.
      const newStderr = server.stderr().slice(stderrBefore);
      const panic = /panicked at [^\n]*/.exec(newStderr);
      if (panic) throw new Error(`the server panicked: ${panic[0]}`);
      await within(BYSTANDER_DEADLINE, bystander.roundTrip(), "bystander round trip after the case");
      if (!(row.growthKib <= ceiling)) {
        throw new Error(`RSS grew by ${row.growthKib} KiB (${row.rssBeforeKib} -> peak ${row.rssPeakKib}), ceiling ${ceiling} KiB`);
      }
      row.ok = true;
    } catch (err) {
      row.outcome = `FAIL: ${err.message.split("\n")[0]}`;
      throw err;
    } finally {
      if (sampler) clearInterval(sampler);
      if (Number.isNaN(row.rssAfterKib) && server) row.rssAfterKib = rssKib(server.pid);
      if (Number.isNaN(row.growthKib)) row.growthKib = Math.max(row.rssPeakKib, row.rssAfterKib) - row.rssBeforeKib;
      row.ms = Date.now() - started;
      record(row);
      if (bystander) bystander.close();
    }
  });
}

/** Throws with `message` unless `cond`. */
export function check(cond, message) {
  if (!cond) throw new Error(message);
}

/** Waits for `pred()` to be truthy, polling every `step` ms, up to `ms`. */
export async function eventually(pred, ms, what, step = 25) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() > end) throw new Error(`deadline: ${what} not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, step));
  }
}
