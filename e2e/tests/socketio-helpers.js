// Helpers for the Socket.IO end-to-end tests (socketio-*.test.js): they
// drive `sockeye-testserver socketio-app` (e2e/server/src/app.rs, which
// lists the events it answers) with the official clients.
//
// Every client made here is closed after its test, before the server is
// stopped (helpers.js `defer` runs cleanups in reverse order), with
// reconnection turned off first so that no timer outlives the test.

import { Manager, io } from "socket.io-client";
import ioV2 from "socket.io-client-v2";
import { defer, nextEvent, startServer } from "./helpers.js";

/** The three ways a 4.x client reaches the server. */
export const MODES = {
  polling: { transports: ["polling"] },
  websocket: { transports: ["websocket"] },
  // The defaults: HTTP long-polling first, then the upgrade to WebSocket.
  upgrade: {},
};

/** Quick, deterministic reconnection for the tests that need one. */
const FAST_RECONNECT = { reconnectionDelay: 20, reconnectionDelayMax: 100, randomizationFactor: 0 };

/** Start `sockeye-testserver socketio-app` with extra CLI arguments. */
export function startApp(t, args = []) {
  return startServer(t, args, { mode: "socketio-app" });
}

/**
 * A socket.io-client 4.x socket on its own Manager (`forceNew`), closed after
 * the test. Not awaited: register listeners, then await `connected(socket)`.
 */
export function client(t, url, opts = {}) {
  const socket = io(url, { forceNew: true, ...FAST_RECONNECT, ...opts });
  defer(t, () => closeManager(socket.io));
  return socket;
}

/** A Manager (for several namespaces over one connection), closed after the test. */
export function manager(t, url, opts = {}) {
  const m = new Manager(url, { ...FAST_RECONNECT, ...opts });
  defer(t, () => closeManager(m));
  return m;
}

/** Resolves on the socket's next `connect`; rejects on `connect_error`. */
export function connected(socket) {
  return nextEvent(socket, "connect", { rejectOn: ["connect_error"] });
}

/** `client` + `connected`. */
export async function connect(t, url, opts = {}) {
  const socket = client(t, url, opts);
  const events = new Events(socket);
  await connected(socket);
  return { socket, events };
}

/** Resolves with the `connect_error` Error; rejects if the socket connects. */
export async function connectError(socket) {
  const [err] = await nextEvent(socket, "connect_error", { rejectOn: ["connect"] });
  return err;
}

/** Resolves once the Engine.IO socket runs on WebSocket (after an upgrade). */
export async function upgraded(engine) {
  if (engine.transport.name === "websocket") return;
  await nextEvent(engine, "upgrade", { rejectOn: ["upgradeError", "close"] });
}

/** Emit with an acknowledgement; resolves with every argument of the ack. */
export function ack(socket, event, ...args) {
  return new Promise((resolve) => socket.emit(event, ...args, (...reply) => resolve(reply)));
}

/**
 * Close a Manager (4.x or 2.x) and wait until its Engine.IO socket is closed:
 * no reconnection, every namespace socket disconnected.
 */
export async function closeManager(m) {
  m.reconnection(false);
  const engine = m.engine;
  const closed = engine && engine.readyState !== "closed" ? nextEvent(engine, "close") : null;
  for (const socket of Object.values(m.nsps)) socket.disconnect();
  if (typeof m._close === "function") m._close(); // 4.x
  else m.close(); // 2.x
  if (closed) await closed;
  await closePacketDelivered(engine);
}

/** Bound on waiting for a polling transport's last POST (see below). */
const LAST_POST_TIMEOUT = 2_000;

/**
 * Over HTTP long-polling the client emits `close` before its POST carrying
 * the close packet has been answered; stopping the server before it arrives
 * would leave the server waiting for that session until its shutdown
 * deadline. The transport emits `drain` once that POST was answered.
 */
function closePacketDelivered(engine) {
  const transport = engine && engine.transport;
  if (!transport || transport.name !== "polling" || transport.writable !== false) return undefined;
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, LAST_POST_TIMEOUT);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    transport.once("drain", done);
    transport.once("error", done);
  });
}

/**
 * Records every incoming event of a 4.x socket (`onAny`) from the moment it
 * is created, so that no event is missed between two awaits.
 */
export class Events {
  constructor(socket) {
    this.log = []; // [event, args] in arrival order
    this.queues = new Map();
    this.waiters = new Map();
    socket.onAny((event, ...args) => this.push(event, args));
  }

  push(event, args) {
    this.log.push([event, args]);
    const waiters = this.waiters.get(event);
    if (waiters && waiters.length > 0) {
      waiters.shift()(args);
      return;
    }
    if (!this.queues.has(event)) this.queues.set(event, []);
    this.queues.get(event).push(args);
  }

  /** The arguments of the next `event` not yet taken. */
  next(event) {
    const queue = this.queues.get(event);
    if (queue && queue.length > 0) return Promise.resolve(queue.shift());
    return new Promise((resolve) => {
      if (!this.waiters.has(event)) this.waiters.set(event, []);
      this.waiters.get(event).push(resolve);
    });
  }

  /** The arguments of every `event` received so far (taken or not). */
  all(event) {
    return this.log.filter(([e]) => e === event).map(([, args]) => args);
  }

  /** How many `event`s were received so far. */
  count(event) {
    return this.all(event).length;
  }
}

/** A Socket.IO 2.x socket (Engine.IO v3), closed after the test. */
export function clientV2(t, url, opts = {}) {
  const socket = ioV2(url, { forceNew: true, ...FAST_RECONNECT, ...opts });
  defer(t, () => closeManager(socket.io));
  return socket;
}

/** Binary data as a Buffer, whichever form the client delivered it in. */
export function toBuffer(data) {
  if (Buffer.isBuffer(data)) return data;
  if (data instanceof ArrayBuffer) return Buffer.from(new Uint8Array(data));
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  throw new TypeError(`not binary data: ${Object.prototype.toString.call(data)}`);
}

/** Whether `data` is binary data in any of the forms a client delivers. */
export function isBinary(data) {
  return Buffer.isBuffer(data) || data instanceof ArrayBuffer || ArrayBuffer.isView(data);
}
