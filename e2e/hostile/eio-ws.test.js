// Hostile WebSocket input against the Engine.IO echo server: protocol
// violations written frame by frame, frame floods, oversized messages, slow
// readers, and misuse of the polling-to-WebSocket upgrade.

import { check, suite } from "./lib/harness.js";
import { RawWs, eioWebSocket, within } from "./lib/raw.js";
import { EIO, errorBody, expectAlive, expectError, get, pollingHandshake, post, sessionState } from "./lib/eio.js";

const MAX_PAYLOAD = 100_000;
const ARGS = [
  "--ping-interval", "1500", "--ping-timeout", "1500", "--max-payload", String(MAX_PAYLOAD),
  "--upgrade-timeout", "1500", "--close-grace", "500",
];

/** Checks that the server closed `ws` (optionally with one of `codes`). */
async function expectWsClosed(ws, codes = null, ms = 5_000) {
  try {
    const { code } = await within(ms, ws.closedByServer(), "the server to close the WebSocket");
    if (codes && code !== null) check(codes.includes(code), `expected close code ${codes.join("/")}, got ${code}`);
    return code === null ? "connection closed" : `closed with ${code}`;
  } finally {
    ws.destroy();
  }
}

/** A direct WebSocket session that has just exchanged one echo. */
async function liveWs(port) {
  const { ws, sid } = await eioWebSocket(port);
  await ws.sendText("4ready");
  const echo = await within(5_000, ws.textMatching((t) => t !== "2"), "the first echo");
  check(echo === "4ready", `expected the echo, got ${echo}`);
  return { ws, sid };
}

suite("WebSocket: frame-level protocol violations", { kind: "engineio", args: ARGS }, (hostile) => {
  hostile("unmasked client frame", async ({ port }) => {
    const { ws } = await liveWs(port);
    await ws.sendText("4unmasked", { mask: false });
    return expectWsClosed(ws, [1002]);
  });

  hostile("RSV1 set without a negotiated extension", async ({ port }) => {
    const { ws } = await liveWs(port);
    await ws.sendText("4rsv", { rsv: 4 });
    return expectWsClosed(ws, [1002]);
  });

  hostile("reserved opcode 0x3", async ({ port }) => {
    const { ws } = await liveWs(port);
    await ws.send(3, Buffer.from("4x"));
    return expectWsClosed(ws, [1002]);
  });

  hostile("fragmented ping (control frame without FIN)", async ({ port }) => {
    const { ws } = await liveWs(port);
    await ws.send(9, Buffer.from("p"), { fin: false });
    return expectWsClosed(ws, [1002]);
  });

  hostile("ping with a 126-byte payload", async ({ port }) => {
    const { ws } = await liveWs(port);
    await ws.send(9, Buffer.alloc(126, 1));
    return expectWsClosed(ws, [1002]);
  });

  hostile("continuation frame without a first fragment", async ({ port }) => {
    const { ws } = await liveWs(port);
    await ws.send(0, Buffer.from("4orphan"));
    return expectWsClosed(ws, [1002]);
  });

  hostile("new text frame inside a fragmented message", async ({ port }) => {
    const { ws } = await liveWs(port);
    await ws.sendText("4first-half", { fin: false });
    await ws.sendText("4interloper");
    return expectWsClosed(ws, [1002]);
  });

  hostile("invalid UTF-8 in a text frame", async ({ port }) => {
    const { ws } = await liveWs(port);
    await ws.send(1, Buffer.from([0x34, 0xc3, 0x28, 0xff]));
    return expectWsClosed(ws, [1007, 1002]);
  });

  hostile("close frame with a 1-byte payload", async ({ port }) => {
    const { ws } = await liveWs(port);
    await ws.send(8, Buffer.from([3]));
    return expectWsClosed(ws, [1002]);
  });

  hostile("close frame with the invalid code 999", async ({ port }) => {
    const { ws } = await liveWs(port);
    const payload = Buffer.alloc(2);
    payload.writeUInt16BE(999);
    await ws.send(8, payload);
    return expectWsClosed(ws, [1002]);
  });

  hostile("frame header announcing 2^62 bytes", async ({ port }) => {
    const { ws } = await liveWs(port);
    await ws.conn.write(Buffer.from([0x81, 0xff, 0x40, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 0x30, 0x31]));
    return expectWsClosed(ws, [1009, 1002]);
  });

  hostile("one frame of 4 x maxPayload", async ({ port }) => {
    const { ws } = await liveWs(port);
    await ws.sendText("4" + "z".repeat(4 * MAX_PAYLOAD));
    return expectWsClosed(ws, [1009]);
  });

  hostile("fragmented message growing past maxPayload", async ({ port }) => {
    const { ws } = await liveWs(port);
    const piece = "f".repeat(2_000);
    await ws.sendText("4", { fin: false });
    for (let i = 0; i < 200; i++) {
      if (!(await ws.send(0, Buffer.from(piece), { fin: false }))) break;
    }
    return expectWsClosed(ws, [1009]);
  });
});

suite("WebSocket: Engine.IO misuse, floods, slow readers", { kind: "engineio", args: ARGS }, (hostile) => {
  hostile("unknown Engine.IO packet type over WebSocket", async ({ port }) => {
    const { ws } = await liveWs(port);
    await ws.sendText("9garbage");
    return expectWsClosed(ws);
  });

  hostile("empty text frame", async ({ port }) => {
    const { ws } = await liveWs(port);
    await ws.sendText("");
    return expectWsClosed(ws);
  });

  hostile("v4 client sends a ping over WebSocket", async ({ port }) => {
    const { ws } = await liveWs(port);
    await ws.sendText("2");
    return expectWsClosed(ws);
  });

  hostile("direct WebSocket with EIO=5", async ({ port }) => {
    const { ws, response } = await RawWs.open(port, `${EIO}?EIO=5&transport=websocket`);
    if (!ws) {
      check(response === null || response.status === 400, `expected 400, got ${response && response.status}`);
      return `refused: ${response ? response.status : "closed"}`;
    }
    // The reference writes its error after the 101; then no open packet may follow.
    const first = await within(5_000, ws.nextText(), "an answer");
    check(first === null || !first.startsWith("0{"), `an unsupported protocol got a session: ${first}`);
    ws.destroy();
    return "101, then closed without a session";
  });

  hostile("20,000 echo frames in one burst", async ({ port }) => {
    const { ws } = await liveWs(port);
    const { frame } = await import("./lib/raw.js");
    const burst = Buffer.concat(Array.from({ length: 20_000 }, (_, i) => frame(1, Buffer.from(`4m${i}`))));
    await ws.conn.write(burst);
    const last = await within(20_000, ws.textMatching((t) => t === "4m19999"), "the last echo");
    ws.destroy();
    check(last === "4m19999", "the burst was not echoed in full");
    return "all 20,000 echoed";
  }, { deadline: 30_000 });

  hostile("20,000 pings from a client that never reads", async ({ port }) => {
    const { ws } = await liveWs(port);
    ws.pause();
    const { frame } = await import("./lib/raw.js");
    const ping = frame(9, Buffer.alloc(125, 7));
    let written = 0;
    for (let i = 0; i < 20; i++) {
      if (!(await within(5_000, ws.conn.write(Buffer.concat(Array.from({ length: 1_000 }, () => ping))), "writing pings").catch(() => false))) break;
      written += 1_000;
    }
    ws.destroy();
    return `${written} pings written, server bounded`;
  }, { deadline: 40_000 });

  hostile("slow reader: echoes to a WebSocket that never reads (byte bound)", async ({ port }) => {
    const { ws, sid } = await liveWs(port);
    ws.pause();
    const body = "4" + "w".repeat(MAX_PAYLOAD - 10);
    let sent = 0;
    for (let i = 0; i < 300; i++) {
      const ok = await within(5_000, ws.sendText(body), "writing to the server").catch(() => false);
      if (!ok) break;
      sent += body.length;
      // A pong now and then, so that only the byte bound can end it.
      if (i % 10 === 0) await ws.sendText("3");
    }
    // Reading again must find the server closed the session (it cannot have queued all of it).
    ws.conn.socket.resume();
    const { code } = await within(15_000, ws.closedByServer(), "the server to close the slow reader");
    ws.destroy();
    check(sent > 0, "nothing was sent");
    return `closed (${code}) after ${(sent / 1e6).toFixed(1)} MB sent, sid ${sid.slice(0, 4)}…`;
  }, { deadline: 60_000 });
});

suite("WebSocket: upgrade misuse", { kind: "engineio", args: ARGS }, (hostile) => {
  hostile("upgrade request with transport=polling in the query", async ({ port }) => {
    const { ws, response } = await RawWs.open(port, `${EIO}?EIO=4&transport=polling`);
    if (ws) ws.destroy();
    check(response && response.status === 400, `expected 400, got ${response ? response.status : "a close"} ${response ? response.body.toString().slice(0, 60) : ""}`);
    return "400";
  });

  hostile("upgrade with an unknown sid", async ({ port }) => {
    const { ws, response } = await RawWs.open(port, `${EIO}?EIO=4&transport=websocket&sid=AAAAAAAAAAAAAAAAAAAA`);
    if (ws) ws.destroy();
    check(!ws && response && response.status === 400, `expected 400, got ${response ? response.status : "a close"}`);
    return "400";
  });

  hostile("upgrade without Sec-WebSocket-Key", async ({ port }) => {
    const { sid } = await pollingHandshake(port);
    const { ws, response } = await RawWs.open(port, `${EIO}?EIO=4&transport=websocket&sid=${sid}`, { headers: { "Sec-WebSocket-Key": null } });
    if (ws) ws.destroy();
    check(!ws && response && response.status >= 400 && response.status < 500, `expected a 4xx, got ${response ? response.status : "a close"}`);
    await expectAlive(port, sid);
    return `${response.status}, polling session untouched`;
  });

  hostile("upgrade with Sec-WebSocket-Version 8", async ({ port }) => {
    const { ws, response } = await RawWs.open(port, `${EIO}?EIO=4&transport=websocket`, { headers: { "Sec-WebSocket-Version": "8" } });
    if (ws) ws.destroy();
    check(!ws && response && response.status >= 400 && response.status < 500, `expected a 4xx, got ${response ? response.status : "a close"}`);
    return `${response.status}`;
  });

  hostile("a packet other than 5 during the probe aborts the upgrade", async ({ port }) => {
    const { sid } = await pollingHandshake(port);
    const { ws } = await RawWs.open(port, `${EIO}?EIO=4&transport=websocket&sid=${sid}`);
    check(ws, "the upgrade was refused");
    await ws.sendText("2probe");
    const pong = await within(5_000, ws.nextText(), "3probe");
    check(pong === "3probe", `expected 3probe, got ${pong}`);
    await ws.sendText("4not-an-upgrade");
    await expectWsClosed(ws);
    await expectAlive(port, sid);
    return "WebSocket closed, polling session still works";
  });

  hostile("stalled upgrade: probe, then never 5", async ({ port }) => {
    const { sid } = await pollingHandshake(port);
    const { ws } = await RawWs.open(port, `${EIO}?EIO=4&transport=websocket&sid=${sid}`);
    check(ws, "the upgrade was refused");
    await ws.sendText("2probe");
    check((await within(5_000, ws.nextText(), "3probe")) === "3probe", "no 3probe");
    // Keep the polling side alive meanwhile; the upgrade timeout is 1.5 s.
    const closed = expectWsClosed(ws, null, 6_000);
    const keepAlive = (async () => {
      const g = await get(port, sid, { timeout: 6_000 });
      if (g.text.split("\x1e").includes("2")) await post(port, sid, "3");
    })();
    const how = await closed;
    await keepAlive;
    await expectAlive(port, sid);
    return `upgrade WebSocket ${how} by the upgrade timeout, polling alive`;
  });

  hostile("stalled upgrade: no probe at all", async ({ port }) => {
    const { sid } = await pollingHandshake(port);
    const { ws } = await RawWs.open(port, `${EIO}?EIO=4&transport=websocket&sid=${sid}`);
    check(ws, "the upgrade was refused");
    const how = await expectWsClosed(ws, null, 6_000);
    const state = await sessionState(port, sid);
    check(state === "alive" || state === "closed", `session in a bad state: ${state}`);
    return `${how} by the upgrade timeout (session ${state})`;
  });

  hostile("two WebSocket upgrades for one sid", async ({ port }) => {
    const { sid } = await pollingHandshake(port);
    const first = await RawWs.open(port, `${EIO}?EIO=4&transport=websocket&sid=${sid}`);
    check(first.ws, "the first upgrade was refused");
    await first.ws.sendText("2probe");
    check((await within(5_000, first.ws.nextText(), "3probe")) === "3probe", "no 3probe");
    const second = await RawWs.open(port, `${EIO}?EIO=4&transport=websocket&sid=${sid}`);
    let how;
    if (second.ws) {
      await second.ws.sendText("2probe");
      how = await expectWsClosed(second.ws);
    } else {
      check(second.response && second.response.status === 400, `expected 400 or a close, got ${second.response && second.response.status}`);
      how = "400";
    }
    await first.ws.sendText("5");
    await first.ws.sendText("4after-upgrade");
    const echo = await within(5_000, first.ws.textMatching((t) => t.startsWith("4")), "the echo on the upgraded socket");
    first.ws.destroy();
    check(echo === "4after-upgrade", `expected the echo over the first WebSocket, got ${echo}`);
    return `second: ${how}; first upgraded and echoing`;
  });

  hostile("polling requests on a direct WebSocket session's sid", async ({ port }) => {
    const { ws, sid } = await eioWebSocket(port);
    const g = await get(port, sid);
    const p = await post(port, sid, "4sneaky");
    await ws.sendText("4still-here");
    const echo = await within(5_000, ws.textMatching((t) => t.startsWith("4")), "the echo on the WebSocket");
    ws.destroy();
    expectError(g, 3);
    check(p.status === 400 && errorBody(p)?.code === 3, `expected 400 code 3 for the POST, got ${p.status} ${p.text}`);
    check(echo === "4still-here", `the WebSocket session was disturbed: ${echo}`);
    return "GET and POST: 400 {code 3}; the WebSocket session untouched";
  });

  hostile("a second WebSocket for a direct WebSocket session's sid", async ({ port }) => {
    const { ws, sid } = await eioWebSocket(port);
    const second = await RawWs.open(port, `${EIO}?EIO=4&transport=websocket&sid=${sid}`);
    let how;
    if (second.ws) {
      await second.ws.sendText("2probe");
      how = await expectWsClosed(second.ws);
    } else {
      check(second.response && second.response.status === 400, `expected 400 or a close, got ${second.response && second.response.status}`);
      how = "400";
    }
    await ws.sendText("4first");
    const echo = await within(5_000, ws.textMatching((t) => t.startsWith("4")), "the echo on the first WebSocket");
    ws.destroy();
    check(echo === "4first", `the first WebSocket was disturbed: ${echo}`);
    return `second: ${how}; the first untouched`;
  });

  hostile("polling request after a completed upgrade", async ({ port }) => {
    const { sid } = await pollingHandshake(port);
    const { ws } = await RawWs.open(port, `${EIO}?EIO=4&transport=websocket&sid=${sid}`);
    check(ws, "the upgrade was refused");
    await ws.sendText("2probe");
    check((await within(5_000, ws.nextText(), "3probe")) === "3probe", "no 3probe");
    await ws.sendText("5");
    await ws.sendText("4up");
    check((await within(5_000, ws.textMatching((t) => t.startsWith("4")), "echo")) === "4up", "no echo after the upgrade");
    const res = await get(port, sid);
    const p = await post(port, sid, "4sneaky");
    ws.destroy();
    expectError(res, 3);
    check(p.status === 400 && errorBody(p)?.code === 3, `expected 400 code 3 for the POST, got ${p.status} ${p.text}`);
    return "GET and POST: 400 {code 3}";
  });
});

