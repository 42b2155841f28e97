// Raw Socket.IO sessions over a hand-written WebSocket: the cases write the
// exact packets (placeholders, ack ids, namespaces) a client library would
// never produce.

import { eioWebSocket, within } from "./raw.js";
import { check } from "./harness.js";

let echoCount = 0;

/**
 * A raw Socket.IO session connected to `/` of the socketio-app server
 * (path /socket.io/). `extra` goes into the query (e.g. `&EIO=3`).
 */
export async function sioSession(port, { connect = true } = {}) {
  const { ws, sid } = await eioWebSocket(port, { path: "/socket.io/" });
  const session = {
    ws,
    sid,
    send: (text) => ws.sendText(text),
    sendBinary: (bytes) => ws.sendBinary(bytes),
    /** The next text packet matching `pred` (pings answered); null once closed. */
    async next(pred = () => true, ms = 5_000) {
      return within(
        ms,
        (async () => {
          for (;;) {
            const t = await ws.nextText();
            if (t === null) return null;
            if (t === "2") {
              await ws.sendText("3");
              continue;
            }
            if (pred(t)) return t;
          }
        })(),
        "a Socket.IO packet",
      );
    },
    /** Checks that the server closes the connection. */
    async expectClosed(ms = 5_000) {
      const { code } = await within(ms, ws.closedByServer(), "the server to close the connection");
      ws.destroy();
      return code === null ? "connection closed" : `closed (${code})`;
    },
    /** Checks that `/` still answers an echo with an ack. */
    async expectAlive(nsp = "") {
      const id = 900_000 + ++echoCount;
      const prefix = nsp ? `${nsp},` : "";
      await ws.sendText(`42${prefix}${id}["echo","alive"]`);
      const reply = await session.next((t) => t.startsWith(`43${prefix}${id}`));
      check(reply === `43${prefix}${id}["alive"]`, `expected the echo's ack, got ${reply}`);
    },
    close: () => ws.destroy(),
  };
  if (connect) {
    await ws.sendText("40");
    const ok = await session.next((t) => t.startsWith("40"));
    check(ok && ok.startsWith('40{"sid":'), `CONNECT refused: ${ok}`);
    await session.next((t) => t.startsWith('42["welcome"'));
  }
  return session;
}

/**
 * Sent right after a hostile packet: an echo with an ack. Packets are
 * handled in order, so either its ack comes back (`alive`) or the server
 * closes the connection first (`closed`).
 */
export async function closedOrAlive(session) {
  const id = 800_000 + ++echoCount;
  await session.send(`42${id}["echo","probe"]`);
  const reply = await session.next((t) => t.startsWith(`43${id}`), 5_000);
  if (reply === null) {
    session.close();
    return "closed";
  }
  check(reply === `43${id}["probe"]`, `unexpected ack ${reply}`);
  return "alive";
}
