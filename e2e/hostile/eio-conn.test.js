// Hostile connections: stalled and oversized headers, non-HTTP bytes,
// half-open floods, and bodies that stall (the body-read deadline).

import { check, eventually, suite } from "./lib/harness.js";
import { Conn, http, readResponse, requestBytes, within } from "./lib/raw.js";
import { EIO, errorBody, pollPath, pollingHandshake, post, sessionState } from "./lib/eio.js";

const HEADER_TIMEOUT = 2_000;
const ARGS = ["--ping-interval", "1500", "--ping-timeout", "1500", "--max-payload", "100000", "--header-read-timeout", String(HEADER_TIMEOUT)];

/** Resolves to how the server ended `conn`: a response status, or `closed`. */
async function ending(conn, ms) {
  const res = await within(ms, readResponse(conn), "the server to answer or close");
  await within(ms, conn.closed, "the server to close the connection");
  return res ? `${res.status} then closed` : "closed";
}

suite("Connections: headers and half-open sockets", { kind: "engineio", args: ARGS }, (hostile) => {
  hostile("stalled request line", async ({ port }) => {
    const conn = await Conn.open(port);
    await conn.write("GET /engine.io/?EIO=4&transport=pol");
    const how = await ending(conn, HEADER_TIMEOUT + 3_000);
    return `${how} by the header deadline`;
  });

  hostile("stalled headers (no blank line)", async ({ port }) => {
    const conn = await Conn.open(port);
    await conn.write("GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n");
    const how = await ending(conn, HEADER_TIMEOUT + 3_000);
    return `${how} by the header deadline`;
  });

  hostile("slowloris: one header line every 500 ms", async ({ port }) => {
    const conn = await Conn.open(port);
    await conn.write("GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n");
    let lines = 0;
    const drip = setInterval(() => {
      lines++;
      conn.write(`X-Drip-${lines}: ${lines}\r\n`);
    }, 500);
    try {
      const how = await ending(conn, HEADER_TIMEOUT + 3_000);
      check(lines < 12, `the dripping request was kept for ${lines * 500} ms`);
      return `${how} after ${lines} dripped lines`;
    } finally {
      clearInterval(drip);
      conn.destroy();
    }
  });

  hostile("500 request headers", async ({ port }) => {
    const headers = {};
    for (let i = 0; i < 500; i++) headers[`X-H${i}`] = "v";
    const res = await http(port, "GET", `${EIO}?EIO=4&transport=polling`, { headers });
    check(res.status === 431 || res.status === 400 || res.status === 0, `expected 431/400 or a close, got ${res.status}`);
    return res.status ? `${res.status}` : "closed";
  });

  hostile("one 256 KB header", async ({ port }) => {
    const res = await http(port, "GET", `${EIO}?EIO=4&transport=polling`, { headers: { Cookie: "c=" + "k".repeat(256 * 1024) } });
    check(res.status === 431 || res.status === 400 || res.status === 0, `expected 431/400 or a close, got ${res.status}`);
    return res.status ? `${res.status}` : "closed";
  });

  hostile("TLS ClientHello on the plain-HTTP port", async ({ port }) => {
    const conn = await Conn.open(port);
    await conn.write(Buffer.from("16030100a5010000a10303" + "00".repeat(64), "hex"));
    const how = await ending(conn, 5_000);
    return how;
  });

  hostile("random binary instead of HTTP", async ({ port }) => {
    const conn = await Conn.open(port);
    const junk = Buffer.alloc(64 * 1024);
    for (let i = 0; i < junk.length; i++) junk[i] = (i * 7919 + 13) & 0xff;
    await conn.write(junk);
    return ending(conn, 5_000);
  });

  hostile("HTTP/1.0 request without Host", async ({ port }) => {
    const conn = await Conn.open(port);
    await conn.write(`GET ${EIO}?EIO=4&transport=polling HTTP/1.0\r\n\r\n`);
    const res = await within(5_000, readResponse(conn), "an answer");
    conn.destroy();
    check(res && (res.status === 200 || res.status === 400), `expected 200 or 400, got ${res && res.status}`);
    return `${res.status}`;
  });

  hostile("half-open flood: 500 silent connections", async ({ port }) => {
    const conns = [];
    for (let i = 0; i < 500; i++) conns.push(await Conn.open(port));
    // The header deadline closes every one of them.
    await within(HEADER_TIMEOUT + 5_000, Promise.all(conns.map((c) => c.closed)), "the server to close all 500");
    return "all 500 closed by the header deadline";
  });

  hostile("half-open flood: 300 idle keep-alive connections after a request", async ({ port }) => {
    const conns = [];
    for (let i = 0; i < 300; i++) {
      const c = await Conn.open(port);
      await c.write(requestBytes("GET", `${EIO}?EIO=4&transport=polling`));
      conns.push(c);
    }
    for (const c of conns) {
      const res = await within(5_000, readResponse(c), "the handshake");
      check(res && res.status === 200, `handshake failed: ${res && res.status}`);
    }
    await within(HEADER_TIMEOUT + 5_000, Promise.all(conns.map((c) => c.closed)), "the server to close the idle keep-alive connections");
    return "all 300 idle keep-alive connections closed";
  }, { deadline: 30_000 });

  hostile("1,000 connections reset mid-request", async ({ port }) => {
    for (let batch = 0; batch < 10; batch++) {
      await Promise.all(
        Array.from({ length: 100 }, async () => {
          const c = await Conn.open(port);
          await c.write("POST /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n4ab");
          c.socket.resetAndDestroy();
        }),
      );
    }
    return "1,000 resets absorbed";
  });
});

// The default ping (25 s + 20 s) keeps the sessions alive across the 10 s
// body-read deadline, so only that deadline can free a stalled POST.
suite("Connections: stalled bodies (body-read deadline)", { kind: "engineio", args: ["--max-payload", "100000"] }, (hostile) => {
  async function stalledPostReleased(port, bytes, headers) {
    const { sid } = await pollingHandshake(port);
    const stalled = await Conn.open(port);
    try {
      await stalled.write(requestBytes("POST", pollPath(sid), { headers, body: bytes }));
      const how = await ending(stalled, 15_000);
      // The session's POST slot is free again (or the session was closed cleanly).
      const p = await post(port, sid, "4after-stall");
      check(p.status === 200 || (p.status === 400 && errorBody(p)?.code === 1), `after the stall a POST got ${p.status} ${p.text}`);
      const state = p.status === 200 ? await sessionState(port, sid) : "closed";
      check(state === "alive" || state === "closed", `session in a bad state: ${state}`);
      return `stalled POST ended (${how}); session ${state}`;
    } finally {
      stalled.destroy();
    }
  }

  hostile("POST sends 10 of 1,000 announced bytes, then nothing", async ({ port }) =>
    stalledPostReleased(port, "4" + "s".repeat(9), { "Content-Length": "1000" }), { deadline: 25_000 });

  hostile("chunked POST stalls after its first chunk", async ({ port }) =>
    stalledPostReleased(port, "5\r\n4abcd\r\n", { "Transfer-Encoding": "chunked" }), { deadline: 25_000 });

  hostile("20 stalled POSTs on 20 sessions do not block a fresh one", async ({ port }) => {
    const stalled = [];
    for (let i = 0; i < 20; i++) {
      const { sid } = await pollingHandshake(port);
      const c = await Conn.open(port);
      await c.write(requestBytes("POST", pollPath(sid), { headers: { "Content-Length": "5000" }, body: "4x" }));
      stalled.push(c);
    }
    try {
      const { sid } = await pollingHandshake(port);
      const state = await sessionState(port, sid);
      check(state === "alive", `a fresh session is ${state}`);
      await eventually(async () => stalled.every((c) => c.isClosed), 15_000, "the 20 stalled POSTs to be ended by the body deadline", 250);
      return "fresh session fine; the 20 stalled POSTs ended by the deadline";
    } finally {
      for (const c of stalled) c.destroy();
    }
  }, { deadline: 25_000 });
});

// Abuse controls of the engine (off by default): the test server takes
// `--max-connections-per-address N` and `--max-handshakes-per-second N`
// (EngineConfig::with_max_connections_per_address /
// with_max_handshakes_per_second_per_address). The bystander's own session
// counts: it was opened from the same address just before the case.
suite("Connections: sessions per address (cap 8)", { kind: "engineio", args: ["--max-connections-per-address", "8"] }, (hostile) => {
  hostile("20 handshakes from one address", async ({ port }) => {
    const results = [];
    for (let i = 0; i < 20; i++) results.push(await http(port, "GET", `${EIO}?EIO=4&transport=polling`));
    const accepted = results.filter((r) => r.status === 200);
    const refused = results.filter((r) => r.status === 429 && errorBody(r)?.code === 4);
    check(accepted.length <= 7, `${accepted.length} sessions accepted next to the bystander (cap 8)`);
    check(accepted.length + refused.length === 20, `unexpected answers: ${results.map((r) => r.status).join(",")}`);
    // The sessions already open keep working; closing them frees places.
    const sids = accepted.map((r) => /"sid":"([^"]+)"/.exec(r.text)[1]);
    if (sids.length) check((await sessionState(port, sids[0])) === "alive", "an accepted session does not work");
    for (const sid of sids) await post(port, sid, "1");
    const again = await eventually(async () => (await http(port, "GET", `${EIO}?EIO=4&transport=polling`)).status === 200, 5_000, "a handshake once places are free", 100);
    return `${accepted.length} accepted, ${refused.length} refused (429, code 4); freed places reusable: ${again}`;
  });
});

suite("Connections: handshakes per second per address (10)", { kind: "engineio", args: ["--max-handshakes-per-second", "10"] }, (hostile) => {
  hostile("50 handshakes in one burst", async ({ port }) => {
    const results = await Promise.all(Array.from({ length: 50 }, () => http(port, "GET", `${EIO}?EIO=4&transport=polling`)));
    const accepted = results.filter((r) => r.status === 200).length;
    const refused = results.filter((r) => r.status === 429 && errorBody(r)?.code === 4).length;
    check(accepted <= 10, `${accepted} handshakes accepted in one burst (limit 10 per second)`);
    check(accepted + refused === 50, `unexpected answers: ${results.map((r) => r.status).join(",")}`);
    await eventually(async () => (await http(port, "GET", `${EIO}?EIO=4&transport=polling`)).status === 200, 3_000, "a handshake in a later second", 100);
    return `${accepted} accepted, ${refused} refused (429, code 4); accepted again a second later`;
  });
});
