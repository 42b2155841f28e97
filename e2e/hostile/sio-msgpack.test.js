// Hostile msgpack input (socketio-app --msgpack): deep nesting and lying
// lengths written byte by byte.

import { check, suite } from "./lib/harness.js";
import { eioWebSocket, within } from "./lib/raw.js";

const str = (s) => Buffer.concat([Buffer.from([0xa0 | s.length]), Buffer.from(s)]);
/** {type: 0, nsp: "/"}: CONNECT to the main namespace. */
const CONNECT = Buffer.concat([Buffer.from([0x82]), str("type"), Buffer.from([0x00]), str("nsp"), str("/")]);
/** {type: 2, nsp: "/", id: 7, data: ["echo", <body>]} */
const event = (body) => Buffer.concat([Buffer.from([0x84]), str("type"), Buffer.from([0x02]), str("nsp"), str("/"), str("id"), Buffer.from([0x07]), str("data"), Buffer.from([0x92]), str("echo"), body]);

async function connected(port) {
  const { ws } = await eioWebSocket(port, { path: "/socket.io/" });
  await ws.sendBinary(CONNECT);
  for (;;) {
    const f = await within(5_000, ws.next(), "the CONNECT answer");
    check(f !== null, "closed before connecting");
    if (f.opcode === 2) break;
  }
  return ws;
}

/** `type: 3` (ACK) as the encoder writes it. */
const ACK_TYPE = Buffer.concat([str("type"), Buffer.from([0x03])]);

/** Either the server closes, or the echo with id 7 is answered. */
async function closedOrAnswered(ws) {
  for (;;) {
    const f = await within(5_000, ws.next(), "an answer or a close");
    if (f === null || f.opcode === 8) {
      ws.destroy();
      return "closed";
    }
    if (f.opcode === 1 && f.payload.toString() === "2") await ws.sendText("3");
    if (f.opcode === 2 && f.payload.includes(ACK_TYPE)) {
      ws.destroy();
      return "answered";
    }
  }
}

suite("Socket.IO msgpack parser", { kind: "socketio-app", args: ["--msgpack", "--max-payload", "200000"] }, (hostile) => {
  hostile("msgpack: 100,000 nested arrays", async ({ port }) => {
    const ws = await connected(port);
    await ws.sendBinary(event(Buffer.concat([Buffer.alloc(100_000, 0x91), Buffer.from([0x01])])));
    return `no stack overflow; ${await closedOrAnswered(ws)}`;
  });

  hostile("msgpack: 50,000 nested maps", async ({ port }) => {
    const ws = await connected(port);
    const level = Buffer.concat([Buffer.from([0x81]), str("a")]);
    await ws.sendBinary(event(Buffer.concat([Buffer.concat(Array.from({ length: 50_000 }, () => level)), Buffer.from([0x01])])));
    return `no stack overflow; ${await closedOrAnswered(ws)}`;
  });

  hostile("msgpack: array announcing 2^32-1 elements", async ({ port }) => {
    const ws = await connected(port);
    await ws.sendBinary(event(Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff, 0x01])));
    const how = await closedOrAnswered(ws);
    check(how === "closed", "a truncated array was answered");
    return how;
  });

  hostile("msgpack: binary announcing 4 GB", async ({ port }) => {
    const ws = await connected(port);
    await ws.sendBinary(event(Buffer.from([0xc6, 0xff, 0xff, 0xff, 0xff, 0x01, 0x02])));
    const how = await closedOrAnswered(ws);
    check(how === "closed", "a truncated binary was answered");
    return how;
  });

  hostile("msgpack: text frame on a msgpack server", async ({ port }) => {
    const ws = await connected(port);
    await ws.sendText('42["echo",1]');
    const how = await closedOrAnswered(ws);
    check(how === "closed", "a JSON packet was answered by the msgpack parser");
    return how;
  });
});
