// Raw TCP, HTTP/1.1 and WebSocket clients for the hostile cases: they write
// exactly the bytes a case needs (lying headers, stalled bodies, unmasked
// frames) and parse just enough of the answer to check it.

import crypto from "node:crypto";
import net from "node:net";

/** Rejects after `ms` with `what` in the message; `promise` otherwise. */
export function within(ms, promise, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`deadline: ${what} not within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * A TCP connection that records everything it receives. `closed` resolves
 * when the peer closes (or resets) the connection.
 */
export class Conn {
  static open(port, host = "127.0.0.1") {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host });
      socket.once("connect", () => resolve(new Conn(socket)));
      socket.once("error", reject);
    });
  }

  constructor(socket) {
    this.socket = socket;
    this.chunks = [];
    this.length = 0;
    this.waiters = [];
    this.isClosed = false;
    this.error = null;
    socket.setNoDelay(true);
    socket.on("data", (chunk) => {
      this.chunks.push(chunk);
      this.length += chunk.length;
      this.wake();
    });
    socket.on("error", (err) => {
      this.error = err;
    });
    this.closed = new Promise((resolve) => {
      socket.once("close", () => {
        this.isClosed = true;
        this.wake();
        resolve();
      });
    });
  }

  wake() {
    const waiters = this.waiters.splice(0);
    for (const w of waiters) w();
  }

  /** Everything received so far. */
  data() {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0] || Buffer.alloc(0);
  }

  /** Drops the first `n` received bytes. */
  consume(n) {
    const rest = this.data().subarray(n);
    this.chunks = rest.length ? [rest] : [];
    this.length = rest.length;
  }

  /** Resolves on the next received chunk or the close. */
  changed() {
    if (this.isClosed) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Waits until `pred(data)` is truthy or the connection closes; returns its value. */
  async until(pred) {
    for (;;) {
      const v = pred(this.data());
      if (v) return v;
      if (this.isClosed) return pred(this.data()) || null;
      await new Promise((resolve) => this.waiters.push(resolve));
    }
  }

  write(bytes) {
    return new Promise((resolve) => {
      if (this.socket.destroyed || !this.socket.writable) return resolve(false);
      this.socket.write(bytes, (err) => resolve(!err));
    });
  }

  /** Stops reading: the kernel buffers fill and the peer's writes block. */
  pause() {
    this.socket.pause();
  }

  destroy() {
    this.socket.destroy();
  }
}

/** Parses one HTTP/1.1 response at the start of `buf`; null when incomplete. */
export function parseResponse(buf, { complete = false } = {}) {
  const end = buf.indexOf("\r\n\r\n");
  if (end === -1) return null;
  const head = buf.subarray(0, end).toString("latin1").split("\r\n");
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(head[0]);
  if (!m) return { status: 0, headers: {}, body: buf, raw: buf.length, invalid: true };
  const headers = {};
  for (const line of head.slice(1)) {
    const i = line.indexOf(":");
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  const status = Number(m[1]);
  let bodyStart = end + 4;
  if (status === 101 || status === 204 || status === 304) {
    return { status, headers, body: Buffer.alloc(0), raw: bodyStart };
  }
  if (headers["content-length"] !== undefined) {
    const len = Number(headers["content-length"]);
    if (buf.length - bodyStart < len) return null;
    return { status, headers, body: buf.subarray(bodyStart, bodyStart + len), raw: bodyStart + len };
  }
  if (/chunked/i.test(headers["transfer-encoding"] || "")) {
    const parts = [];
    let at = bodyStart;
    for (;;) {
      const lineEnd = buf.indexOf("\r\n", at);
      if (lineEnd === -1) return null;
      const size = parseInt(buf.subarray(at, lineEnd).toString("latin1"), 16);
      if (Number.isNaN(size)) return null;
      if (buf.length < lineEnd + 2 + size + 2) return null;
      if (size === 0) return { status, headers, body: Buffer.concat(parts), raw: lineEnd + 4 };
      parts.push(buf.subarray(lineEnd + 2, lineEnd + 2 + size));
      at = lineEnd + 2 + size + 2;
    }
  }
  // No length: the body runs until the connection closes.
  if (!complete) return null;
  return { status, headers, body: buf.subarray(bodyStart), raw: buf.length };
}

/** Waits for a complete response on `conn` (or its close); null if none came. */
export async function readResponse(conn) {
  const res = await conn.until((d) => parseResponse(d) || (conn.isClosed ? parseResponse(d, { complete: true }) || "none" : null));
  if (!res || res === "none") return null;
  conn.consume(res.raw);
  return res;
}

/** The bytes of a request: `head` lines, then the body as given. */
export function requestBytes(method, target, { headers = {}, body, host = "127.0.0.1" } = {}) {
  const lines = [`${method} ${target} HTTP/1.1`, `Host: ${host}`];
  const hasLength = Object.keys(headers).some((h) => /^(content-length|transfer-encoding)$/i.test(h));
  for (const [k, v] of Object.entries(headers)) {
    for (const value of Array.isArray(v) ? v : [v]) lines.push(`${k}: ${value}`);
  }
  const bodyBuf = body === undefined ? null : Buffer.isBuffer(body) ? body : Buffer.from(body);
  if (bodyBuf && !hasLength) lines.push(`Content-Length: ${bodyBuf.length}`);
  const head = Buffer.from(lines.join("\r\n") + "\r\n\r\n", "latin1");
  return bodyBuf ? Buffer.concat([head, bodyBuf]) : head;
}

/**
 * One request on its own connection (`Connection: close`); resolves to
 * {status, headers, body, text} or {status: 0} when the server closed
 * without an answer.
 */
export async function http(port, method, target, opts = {}) {
  const conn = await Conn.open(port);
  try {
    const headers = { Connection: "close", ...(opts.headers || {}) };
    await conn.write(requestBytes(method, target, { ...opts, headers }));
    const res = await within(opts.timeout ?? 10_000, readResponse(conn), `${method} ${target.slice(0, 80)}`);
    if (!res) return { status: 0, headers: {}, body: Buffer.alloc(0), text: "" };
    return { ...res, text: res.body.toString("utf8") };
  } finally {
    conn.destroy();
  }
}

/** Engine.IO polling URL of `path` (default `/engine.io/`). */
export function eioUrl(query, path = "/engine.io/") {
  return `${path}?${query}`;
}

/** A v4 polling handshake; resolves to {sid, open}. */
export async function pollingHandshake(port, { path = "/engine.io/", eio = 4, extra = "" } = {}) {
  const res = await http(port, "GET", eioUrl(`EIO=${eio}&transport=polling${extra}`, path));
  if (res.status !== 200) throw new Error(`handshake: ${res.status} ${res.text}`);
  const m = /"sid":"([^"]+)"/.exec(res.text);
  if (!m) throw new Error(`handshake without sid: ${res.text}`);
  return { sid: m[1], open: res.text };
}

// ---------------------------------------------------------------------------
// WebSocket
// ---------------------------------------------------------------------------

/** Builds one frame; a client must mask (`mask: false` breaks the rule). */
export function frame(opcode, payload = Buffer.alloc(0), { fin = true, rsv = 0, mask = true, length } = {}) {
  const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const len = length ?? data.length;
  const head = [((fin ? 0x80 : 0) | (rsv << 4) | opcode) & 0xff];
  let ext = Buffer.alloc(0);
  if (len < 126) {
    head.push((mask ? 0x80 : 0) | len);
  } else if (len < 65536) {
    head.push((mask ? 0x80 : 0) | 126);
    ext = Buffer.alloc(2);
    ext.writeUInt16BE(len);
  } else {
    head.push((mask ? 0x80 : 0) | 127);
    ext = Buffer.alloc(8);
    ext.writeBigUInt64BE(BigInt(len));
  }
  if (!mask) return Buffer.concat([Buffer.from(head), ext, data]);
  const key = crypto.randomBytes(4);
  const masked = Buffer.alloc(data.length);
  for (let i = 0; i < data.length; i++) masked[i] = data[i] ^ key[i & 3];
  return Buffer.concat([Buffer.from(head), ext, key, masked]);
}

/** Parses server frames from the start of `buf`; returns {frames, used}. */
export function parseFrames(buf) {
  const frames = [];
  let at = 0;
  for (;;) {
    if (buf.length - at < 2) break;
    const b0 = buf[at];
    const b1 = buf[at + 1];
    let len = b1 & 0x7f;
    let off = at + 2;
    if (len === 126) {
      if (buf.length - off < 2) break;
      len = buf.readUInt16BE(off);
      off += 2;
    } else if (len === 127) {
      if (buf.length - off < 8) break;
      len = Number(buf.readBigUInt64BE(off));
      off += 8;
    }
    const masked = (b1 & 0x80) !== 0;
    let key = null;
    if (masked) {
      if (buf.length - off < 4) break;
      key = buf.subarray(off, off + 4);
      off += 4;
    }
    if (buf.length - off < len) break;
    let payload = Buffer.from(buf.subarray(off, off + len));
    if (key) for (let i = 0; i < payload.length; i++) payload[i] ^= key[i & 3];
    frames.push({ fin: (b0 & 0x80) !== 0, opcode: b0 & 0x0f, payload });
    at = off + len;
  }
  return { frames, used: at };
}

/**
 * A raw WebSocket client. `open(port, target)` does the handshake and
 * resolves to {ws, response}; `ws` is null when the server did not answer 101.
 */
export class RawWs {
  static async open(port, target, { headers = {}, key = crypto.randomBytes(16).toString("base64") } = {}) {
    const conn = await Conn.open(port);
    const all = {
      Upgrade: "websocket",
      Connection: "Upgrade",
      "Sec-WebSocket-Key": key,
      "Sec-WebSocket-Version": "13",
      ...headers,
    };
    for (const k of Object.keys(all)) if (all[k] === null) delete all[k];
    await conn.write(requestBytes("GET", target, { headers: all }));
    const response = await within(10_000, readResponse(conn), `WebSocket handshake ${target.slice(0, 60)}`);
    if (!response || response.status !== 101) {
      conn.destroy();
      return { ws: null, response };
    }
    return { ws: new RawWs(conn), response };
  }

  constructor(conn) {
    this.conn = conn;
    this.frames = [];
    this.closeFrame = null;
  }

  /** Decodes what arrived so far into `this.frames`. */
  drain() {
    const { frames, used } = parseFrames(this.conn.data());
    if (used) this.conn.consume(used);
    for (const f of frames) {
      if (f.opcode === 8 && !this.closeFrame) {
        this.closeFrame = { code: f.payload.length >= 2 ? f.payload.readUInt16BE(0) : null, reason: f.payload.subarray(2).toString() };
      }
      this.frames.push(f);
    }
  }

  /** The next data/control frame (close frames included); null once closed. */
  async next() {
    for (;;) {
      this.drain();
      if (this.frames.length) return this.frames.shift();
      if (this.conn.isClosed) return null;
      await this.conn.changed();
    }
  }

  /** The next text frame's string (skipping ping/pong/binary); null once closed. */
  async nextText() {
    for (;;) {
      const f = await this.next();
      if (!f) return null;
      if (f.opcode === 1) return f.payload.toString("utf8");
      if (f.opcode === 8) return null;
    }
  }

  /** Waits for the next text frame satisfying `pred`; null once closed. */
  async textMatching(pred) {
    for (;;) {
      const t = await this.nextText();
      if (t === null || pred(t)) return t;
    }
  }

  sendText(s, opts) {
    return this.conn.write(frame(1, Buffer.from(s), opts));
  }

  sendBinary(b, opts) {
    return this.conn.write(frame(2, b, opts));
  }

  send(opcode, payload, opts) {
    return this.conn.write(frame(opcode, payload, opts));
  }

  /**
   * Resolves once the server has closed: a close frame and/or the TCP
   * close. Returns {code} (code null without a close frame). Data frames
   * that arrive meanwhile are dropped.
   */
  async closedByServer() {
    for (;;) {
      this.drain();
      this.frames = [];
      if (this.closeFrame || this.conn.isClosed) return { code: this.closeFrame ? this.closeFrame.code : null };
      await this.conn.changed();
    }
  }

  pause() {
    this.conn.pause();
  }

  destroy() {
    this.conn.destroy();
  }
}

/** Opens a direct Engine.IO WebSocket session; resolves to {ws, sid}. */
export async function eioWebSocket(port, { path = "/engine.io/", eio = 4, extra = "" } = {}) {
  const { ws, response } = await RawWs.open(port, `${path}?EIO=${eio}&transport=websocket${extra}`);
  if (!ws) throw new Error(`WebSocket handshake refused: ${response && response.status}`);
  const open = await within(5_000, ws.nextText(), "open packet");
  const m = /"sid":"([^"]+)"/.exec(open || "");
  if (!m) throw new Error(`no open packet: ${open}`);
  return { ws, sid: m[1] };
}
