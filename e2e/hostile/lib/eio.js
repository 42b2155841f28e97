// Engine.IO helpers over raw HTTP: what a polling session's state is, and
// the checks most cases share (JSON error bodies, nothing reflected).

import { http, pollingHandshake } from "./raw.js";
import { check } from "./harness.js";

export const EIO = "/engine.io/";

/** `/engine.io/?EIO=4&transport=polling&sid=<sid>` (sid as given, not encoded). */
export function pollPath(sid, { eio = 4, path = EIO, extra = "" } = {}) {
  return `${path}?EIO=${eio}&transport=polling&sid=${sid}${extra}`;
}

export function post(port, sid, body, opts = {}) {
  return http(port, "POST", pollPath(sid, opts), { body, headers: { "Content-Type": "text/plain;charset=UTF-8", ...(opts.headers || {}) }, timeout: opts.timeout });
}

export function get(port, sid, opts = {}) {
  return http(port, "GET", pollPath(sid, opts), { timeout: opts.timeout });
}

/** Parses an Engine.IO error body; null when it is not one. */
export function errorBody(res) {
  try {
    const v = JSON.parse(res.text);
    return typeof v.code === "number" && typeof v.message === "string" ? v : null;
  } catch {
    return null;
  }
}

/** Checks a 4xx answer with the JSON error `code` (and optional HTTP status). */
export function expectError(res, code, status = 400) {
  check(res.status === status, `expected HTTP ${status}, got ${res.status} ${JSON.stringify(res.text.slice(0, 200))}`);
  const body = errorBody(res);
  check(body !== null, `expected a JSON error body, got ${JSON.stringify(res.text.slice(0, 200))}`);
  check(body.code === code, `expected error code ${code}, got ${JSON.stringify(body)}`);
  return `${status} ${JSON.stringify(body)}`;
}

/** Checks that nothing of `input` comes back in the answer's body or headers. */
export function expectNotReflected(res, input) {
  const all = JSON.stringify(res.headers) + res.body.toString("latin1");
  check(!all.includes(input), `the answer reflects the input ${JSON.stringify(input.slice(0, 60))}`);
}

let probe = 0;

/**
 * The state of polling session `sid`: `closed` (Session ID unknown, or a
 * close packet), `alive` (a message posted to it comes back: the echo
 * server), or a description of anything else.
 */
export async function sessionState(port, sid, opts = {}) {
  const text = `alive-${++probe}`;
  const p = await post(port, sid, `4${text}`, opts);
  if (p.status === 400 && errorBody(p)?.code === 1) return "closed";
  if (p.status !== 200) return `POST answered ${p.status} ${p.text.slice(0, 80)}`;
  for (let i = 0; i < 4; i++) {
    const g = await get(port, sid, opts);
    if (g.status === 400 && errorBody(g)?.code === 1) return "closed";
    if (g.status !== 200) return `GET answered ${g.status} ${g.text.slice(0, 80)}`;
    const packets = g.text.split("\x1e");
    if (packets.includes(`4${text}`)) return "alive";
    if (packets.includes("1")) return "closed";
    if (packets.includes("2")) await post(port, sid, "3", opts);
  }
  return "no echo";
}

/** Checks that `sid` still echoes. */
export async function expectAlive(port, sid, opts) {
  const state = await sessionState(port, sid, opts);
  check(state === "alive", `session ${sid} should still work, it is ${state}`);
}

/** Checks that `sid` is gone. */
export async function expectClosed(port, sid, opts) {
  const state = await sessionState(port, sid, opts);
  check(state === "closed", `session ${sid} should be closed, it is ${state}`);
}

export { pollingHandshake };
