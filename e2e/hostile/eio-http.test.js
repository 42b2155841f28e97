// Hostile HTTP long-polling input against the Engine.IO echo server:
// malformed handshakes, wrong methods, bad sids, lying and oversized
// bodies, chunked floods, bad packets, overlapping requests.

import { check, eventually, suite } from "./lib/harness.js";
import { Conn, http, readResponse, requestBytes, within } from "./lib/raw.js";
import {
  EIO,
  errorBody,
  expectAlive,
  expectClosed,
  expectError,
  expectNotReflected,
  get,
  pollPath,
  pollingHandshake,
  post,
  sessionState,
} from "./lib/eio.js";

const MAX_PAYLOAD = 100_000;
const ARGS = ["--ping-interval", "1500", "--ping-timeout", "1500", "--max-payload", String(MAX_PAYLOAD), "--close-grace", "500"];

suite("Engine.IO polling: handshakes, methods, sids", { kind: "engineio", args: ARGS }, (hostile) => {
  hostile("handshake without EIO", async ({ port }) => expectError(await http(port, "GET", `${EIO}?transport=polling`), 5));

  hostile("handshake with EIO=abc", async ({ port }) => {
    const res = await http(port, "GET", `${EIO}?EIO=abc&transport=polling`);
    expectNotReflected(res, "abc");
    return expectError(res, 5);
  });

  hostile("handshake without transport", async ({ port }) => expectError(await http(port, "GET", `${EIO}?EIO=4`), 0));

  hostile("handshake with an unknown transport", async ({ port }) => expectError(await http(port, "GET", `${EIO}?EIO=4&transport=carrier-pigeon`), 0));

  hostile("handshake by POST", async ({ port }) => expectError(await http(port, "POST", `${EIO}?EIO=4&transport=polling`, { body: "4hello" }), 2));

  hostile("handshake by PUT", async ({ port }) => expectError(await http(port, "PUT", `${EIO}?EIO=4&transport=polling`, { body: "x" }), 2));

  hostile("transport=websocket without the upgrade headers", async ({ port }) => expectError(await http(port, "GET", `${EIO}?EIO=4&transport=websocket`), 3));

  hostile("handshake with 8 KB of junk query parameters", async ({ port }) => {
    const junk = Array.from({ length: 800 }, (_, i) => `k${i}=v${i}`).join("&");
    const res = await http(port, "GET", `${EIO}?EIO=4&transport=polling&${junk}`);
    check(res.status === 200 && res.text.startsWith('0{"sid":'), `expected an open packet, got ${res.status} ${res.text.slice(0, 80)}`);
    return "200, open packet (junk ignored)";
  });

  hostile("request target of 200 KB", async ({ port }) => {
    const res = await http(port, "GET", `${EIO}?EIO=4&transport=polling&x=${"a".repeat(200_000)}`);
    check(res.status === 0 || (res.status >= 400 && res.status < 500), `expected a 4xx or a close, got ${res.status}`);
    return res.status ? `${res.status}` : "connection closed";
  });

  hostile("path outside the Engine.IO path", async ({ port }) => {
    const res = await http(port, "GET", "/engine.io.evil/../engine.io/x?EIO=4&transport=polling");
    check(res.status === 404, `expected 404, got ${res.status}`);
    return "404";
  });

  hostile("sid with a NUL byte (%00)", async ({ port }) => {
    const res = await get(port, "%00abc");
    expectNotReflected(res, "abc");
    return expectError(res, 1);
  });

  hostile("sid with invalid UTF-8 (%ff%fe)", async ({ port }) => {
    const res = await get(port, "%ff%fezz");
    expectNotReflected(res, "zz");
    return expectError(res, 1);
  });

  hostile("sid with markup", async ({ port }) => {
    const res = await get(port, "%3Cscript%3Ealert(1)%3C%2Fscript%3E");
    expectNotReflected(res, "script");
    expectNotReflected(res, "alert");
    return expectError(res, 1);
  });

  hostile("sid of 16 KB", async ({ port }) => {
    const sid = "Q".repeat(16_384);
    const res = await get(port, sid);
    expectNotReflected(res, "QQQQ");
    return expectError(res, 1);
  });

  hostile("well-formed but unknown sid", async ({ port }) => expectError(await post(port, "AAAAAAAAAAAAAAAAAAAA", "4hi"), 1));

  hostile("PUT on a live session", async ({ port }) => {
    const { sid } = await pollingHandshake(port);
    const res = await http(port, "PUT", pollPath(sid), { body: "4evil" });
    check(res.status === 405, `expected 405, got ${res.status} ${res.text.slice(0, 80)}`);
    check(errorBody(res) !== null, `expected a JSON error body, got ${JSON.stringify(res.text.slice(0, 80))}`);
    await expectAlive(port, sid);
    return `405 ${res.text}, session untouched`;
  });

  hostile("DELETE on a live session", async ({ port }) => {
    const { sid } = await pollingHandshake(port);
    const res = await http(port, "DELETE", pollPath(sid));
    check(res.status === 405, `expected 405, got ${res.status} ${res.text.slice(0, 80)}`);
    check(errorBody(res) !== null, `expected a JSON error body, got ${JSON.stringify(res.text.slice(0, 80))}`);
    check(/GET/.test(res.headers.allow || "") && /POST/.test(res.headers.allow || ""), `expected an Allow header with GET and POST, got ${res.headers.allow}`);
    await expectAlive(port, sid);
    return `405 Allow: ${res.headers.allow}, session untouched`;
  });

  hostile("PATCH on a live session", async ({ port }) => {
    const { sid } = await pollingHandshake(port);
    const res = await http(port, "PATCH", pollPath(sid), { body: "4evil" });
    check(res.status === 405, `expected 405, got ${res.status}`);
    await expectAlive(port, sid);
    return "405, session untouched";
  });
});

suite("Engine.IO polling: bodies", { kind: "engineio", args: ARGS }, (hostile) => {
  hostile("POST body of maxPayload + 1 bytes (Content-Length)", async ({ port }) => {
    const { sid } = await pollingHandshake(port);
    const res = await post(port, sid, "4" + "x".repeat(MAX_PAYLOAD));
    check(res.status === 413, `expected 413, got ${res.status === 0 ? "a closed connection" : res.status}`);
    return "413";
  });

  hostile("POST body over maxPayload, chunked", async ({ port }) => {
    const { sid } = await pollingHandshake(port);
    const chunk = "x".repeat(10_000);
    let body = "1\r\n4\r\n";
    for (let i = 0; i < 11; i++) body += `${chunk.length.toString(16)}\r\n${chunk}\r\n`;
    body += "0\r\n\r\n";
    const res = await post(port, sid, body, { headers: { "Transfer-Encoding": "chunked" } });
    check(res.status === 413, `expected 413, got ${res.status === 0 ? "a closed connection" : res.status}`);
    return "413";
  });

  hostile("chunked flood: 200,000 one-byte chunks", async ({ port }) => {
    const { sid } = await pollingHandshake(port);
    const body = "1\r\n4\r\n" + "1\r\na\r\n".repeat(200_000) + "0\r\n\r\n";
    const res = await post(port, sid, body, { headers: { "Transfer-Encoding": "chunked" }, timeout: 15_000 });
    check(res.status === 413, `expected 413, got ${res.status === 0 ? "a closed connection" : res.status}`);
    return "413";
  });

  hostile("chunk size of 2^64 - 1", async ({ port }) => {
    const { sid } = await pollingHandshake(port);
    // The announced chunk never comes: the body deadline must end the request.
    const res = await post(port, sid, "FFFFFFFFFFFFFFFF\r\n4abc", { headers: { "Transfer-Encoding": "chunked" }, timeout: 16_000 });
    check(res.status === 0 || (res.status >= 400 && res.status < 500), `expected a 4xx or a close, got ${res.status}`);
    return res.status ? `${res.status}` : "connection closed";
  }, { deadline: 25_000 });

  hostile("chunk size that is not hex", async ({ port }) => {
    const { sid } = await pollingHandshake(port);
    const res = await post(port, sid, "zz\r\n4abc\r\n0\r\n\r\n", { headers: { "Transfer-Encoding": "chunked" } });
    check(res.status === 0 || (res.status >= 400 && res.status < 500), `expected a 4xx or a close, got ${res.status}`);
    return res.status ? `${res.status}` : "connection closed";
  });

  hostile("Content-Length that is not a number", async ({ port }) => {
    const { sid } = await pollingHandshake(port);
    const res = await post(port, sid, "4hello", { headers: { "Content-Length": "abc" } });
    check(res.status === 400 || res.status === 0, `expected 400 or a close, got ${res.status}`);
    await expectAlive(port, sid);
    return `${res.status || "closed"}, session still works`;
  });

  hostile("two different Content-Length headers", async ({ port }) => {
    const { sid } = await pollingHandshake(port);
    const res = await post(port, sid, "4hello", { headers: { "Content-Length": ["6", "3"] } });
    check(res.status === 400 || res.status === 0, `expected 400 or a close, got ${res.status}`);
    return `${res.status || "closed"}`;
  });

  hostile("Content-Length and Transfer-Encoding together", async ({ port }) => {
    const { sid } = await pollingHandshake(port);
    const res = await post(port, sid, "6\r\n4hello\r\n0\r\n\r\n", { headers: { "Content-Length": "3", "Transfer-Encoding": "chunked" } });
    // RFC 9112: the chunked coding wins (or the request is refused); never the 3 bytes.
    check(res.status === 200 || res.status === 400 || res.status === 0, `expected 200/400, got ${res.status}`);
    if (res.status === 200) await expectAlive(port, sid);
    return `${res.status || "closed"}`;
  });

  hostile("body shorter than its Content-Length, then the connection closes", async ({ port }) => {
    const { sid } = await pollingHandshake(port);
    const conn = await Conn.open(port);
    await conn.write(requestBytes("POST", pollPath(sid), { headers: { "Content-Length": "1000" }, body: "4hello" + "x".repeat(4) }));
    conn.destroy();
    // The aborted POST must not hold the session's POST slot.
    const state = await eventually(async () => {
      const s = await sessionState(port, sid);
      return s === "alive" || s === "closed" ? s : null;
    }, 5_000, "the session to be usable or closed after the aborted POST", 100);
    return `aborted POST released: session ${state}`;
  });

  hostile("body longer than its Content-Length (smuggled request after it)", async ({ port }) => {
    const { sid } = await pollingHandshake(port);
    const conn = await Conn.open(port);
    try {
      const smuggled = "GARBAGE /x HTTP/1.1\r\n\r\n";
      await conn.write(Buffer.concat([requestBytes("POST", pollPath(sid), { headers: { "Content-Length": "6" }, body: "4hello" }), Buffer.from(smuggled)]));
      const first = await within(5_000, readResponse(conn), "the POST's answer");
      check(first && first.status === 200, `expected 200 for the POST, got ${first && first.status}`);
      const second = await within(5_000, readResponse(conn), "the garbage's answer");
      check(!second || (second.status >= 400 && second.status < 500), `expected a 4xx or a close for the garbage, got ${second && second.status}`);
      await expectAlive(port, sid);
      return `200 then ${second ? second.status : "close"}`;
    } finally {
      conn.destroy();
    }
  });

  hostile("binary Content-Type on a v4 POST", async ({ port }) => {
    const { sid } = await pollingHandshake(port);
    const res = await post(port, sid, Buffer.from([4, 1, 2, 3]), { headers: { "Content-Type": "application/octet-stream" } });
    check(res.status === 400, `expected 400, got ${res.status}`);
    await expectClosed(port, sid);
    return "400, session closed";
  });

  hostile("unknown packet type in a payload", async ({ port }) => {
    const { sid } = await pollingHandshake(port);
    const res = await post(port, sid, "9hello");
    check(res.status === 200 || res.status === 400, `expected 200 or 400, got ${res.status}`);
    await expectClosed(port, sid);
    return `${res.status}, session closed (parse error)`;
  });

  hostile("bad base64 binary packet", async ({ port }) => {
    const { sid } = await pollingHandshake(port);
    const res = await post(port, sid, "b$$$not*base64");
    check(res.status === 200 || res.status === 400, `expected 200 or 400, got ${res.status}`);
    await expectClosed(port, sid);
    return `${res.status}, session closed (parse error)`;
  });

  hostile("empty POST body", async ({ port }) => {
    const { sid } = await pollingHandshake(port);
    const res = await post(port, sid, "");
    check(res.status === 200 || res.status === 400, `expected 200 or 400, got ${res.status}`);
    return `${res.status}`;
  });

  hostile("separators only (\\x1e x 50,000)", async ({ port }) => {
    const { sid } = await pollingHandshake(port);
    const res = await post(port, sid, "\x1e".repeat(50_000));
    check(res.status === 200 || res.status === 400, `expected 200 or 400, got ${res.status}`);
    const state = await sessionState(port, sid);
    check(state === "alive" || state === "closed", `session in a bad state: ${state}`);
    return `${res.status}, session ${state}`;
  });

  hostile("v4 client sends a ping (wrong heartbeat direction)", async ({ port }) => {
    const { sid } = await pollingHandshake(port);
    const res = await post(port, sid, "2");
    check(res.status === 200 || res.status === 400, `expected 200 or 400, got ${res.status}`);
    await expectClosed(port, sid);
    return "session closed";
  });

  hostile("5,000 packets in one POST", async ({ port }) => {
    const { sid } = await pollingHandshake(port);
    const res = await post(port, sid, Array.from({ length: 5_000 }, (_, i) => `4m${i}`).join("\x1e"));
    check(res.status === 200, `expected 200, got ${res.status}`);
    const g = await get(port, sid);
    check(g.status === 200 && g.text.includes("4m4999"), `expected the 5,000 echoes, got ${g.status} (${g.text.length} bytes)`);
    return "200, all echoed in one GET";
  });
});

suite("Engine.IO polling: overlapping and abandoned requests", { kind: "engineio", args: ARGS }, (hostile) => {
  hostile("two concurrent GETs on one sid", async ({ port }) => {
    const { sid } = await pollingHandshake(port);
    const [a, b] = await Promise.all([get(port, sid), get(port, sid)]);
    const refused = [a, b].filter((r) => r.status === 400);
    const other = [a, b].find((r) => r.status !== 400);
    check(refused.length === 1, `expected exactly one 400, got ${a.status} and ${b.status}`);
    check(other.status === 200 && other.text.split("\x1e").includes("1"), `expected the pending GET to get a close packet, got ${other.status} ${JSON.stringify(other.text)}`);
    await expectClosed(port, sid);
    return "one 400, the other answered 1, session closed";
  });

  hostile("two concurrent POSTs on one sid, one of them stalled", async ({ port }) => {
    const { sid } = await pollingHandshake(port);
    const stalled = await Conn.open(port);
    try {
      const stalledAnswer = readResponse(stalled);
      await stalled.write(requestBytes("POST", pollPath(sid), { headers: { "Content-Length": "100" }, body: "4abc" }));
      const second = await post(port, sid, "4second", { timeout: 5_000 });
      if (second.status === 400) return "the overlapping POST got 400 at once";
      // The stalled POST came second: it must be refused without waiting for its body.
      const first = await within(5_000, stalledAnswer, "the stalled POST's refusal");
      check(second.status === 200 && first && first.status === 400, `expected one 400, got ${second.status} and ${first && first.status}`);
      return "the overlapping (stalled) POST got 400 at once";
    } finally {
      stalled.destroy();
    }
  });

  hostile("GET abandoned by the client mid-poll", async ({ port }) => {
    const { sid } = await pollingHandshake(port);
    const conn = await Conn.open(port);
    await conn.write(requestBytes("GET", pollPath(sid)));
    conn.destroy();
    // The server may read the abandoned GET only after the first probe's
    // POST (the two connections' tasks run in either order): it then
    // answers that GET with the probe's message, as it must, and the probe
    // sees no echo; the next probe finds the session alive. A probe takes
    // up to four polls (6 s), hence room for two.
    const seen = [];
    const state = await eventually(async () => {
      const s = await sessionState(port, sid);
      seen.push(s);
      return s === "alive" || s === "closed" ? s : null;
    }, 15_000, "a clear session state after the abandoned GET", 100);
    return `session ${state} (probes: ${seen.join(", ")})`;
  }, { deadline: 20_000 });

  hostile("1,000 abandoned handshakes are reaped", async ({ port }) => {
    const sids = [];
    for (let batch = 0; batch < 20; batch++) {
      const got = await Promise.all(Array.from({ length: 50 }, () => pollingHandshake(port)));
      sids.push(...got.map((g) => g.sid));
    }
    // pingInterval + pingTimeout = 3 s without a pong.
    await eventually(async () => (await get(port, sids[sids.length - 1])).status === 400, 8_000, "the last abandoned session to be reaped", 250);
    const res = await get(port, sids[0]);
    expectError(res, 1);
    return "1,000 sessions, all reaped by the ping timeout";
  }, { deadline: 30_000 });

  hostile("2,000 pipelined handshakes on one connection", async ({ port }) => {
    const conn = await Conn.open(port);
    try {
      const one = requestBytes("GET", `${EIO}?EIO=4&transport=polling`);
      await conn.write(Buffer.concat(Array.from({ length: 2_000 }, () => one)));
      let answered = 0;
      for (;;) {
        const res = await within(15_000, readResponse(conn), "pipelined answers");
        if (!res) break;
        check(res.status === 200 || res.status === 429 || res.status === 503, `unexpected status ${res.status}`);
        answered++;
        if (answered === 2_000) break;
      }
      return `${answered} answered`;
    } finally {
      conn.destroy();
    }
  }, { deadline: 30_000 });

  hostile("slow reader: POSTs echoes, never GETs (byte bound)", async ({ port }) => {
    const { sid } = await pollingHandshake(port);
    const body = "4" + "e".repeat(MAX_PAYLOAD - 10);
    let sent = 0;
    let closedAt = -1;
    for (let i = 0; i < 250; i++) {
      // A blind pong with every message keeps the session alive without a GET.
      const res = await post(port, sid, `${body}\x1e3`);
      if (res.status !== 200) {
        // Closed (Session ID unknown), or refused while it closes: a JSON error either way.
        check(res.status === 400 && errorBody(res) !== null, `expected 200 or a JSON error, got ${res.status} ${res.text.slice(0, 80)}`);
        closedAt = i;
        break;
      }
      sent += body.length;
    }
    check(closedAt >= 0, `the session queued ${(sent / 1e6).toFixed(1)} MB of echoes for a client that never reads and was not closed`);
    return `closed after ${(sent / 1e6).toFixed(1)} MB queued`;
  }, { deadline: 60_000 });

  hostile("slow reader: a GET whose response is never read", async ({ port }) => {
    const { sid } = await pollingHandshake(port);
    const body = "4" + "r".repeat(MAX_PAYLOAD - 10);
    const reader = await Conn.open(port);
    try {
      reader.pause();
      await reader.write(requestBytes("GET", pollPath(sid)));
      let posted = 0;
      for (let i = 0; i < 60; i++) {
        const res = await post(port, sid, `${body}\x1e3`);
        if (res.status !== 200) break;
        posted++;
        if (i % 5 === 4) await reader.write(requestBytes("GET", pollPath(sid)));
      }
      // The stuck session must end (ping timeout or byte bound), not hold memory.
      await eventually(async () => (await sessionState(port, sid)) === "closed", 10_000, "the stuck session to be closed", 250);
      return `session closed after ${posted} posts to a stuck reader`;
    } finally {
      reader.destroy();
    }
  }, { deadline: 60_000 });

  // An idle keep-alive connection holds no HTTP buffers (the server's
  // `release_idle_after`). Measured on the debug test server: about 4 MB
  // of growth with the release, 11.5 MB without it (hyper's 8 KiB read and
  // 8 KiB header buffers kept by every connection).
  hostile("800 keep-alive connections left idle after one request each", async ({ port }) => {
    return idleKeepAlive(port, 800, 600);
  }, { deadline: 30_000, rssCeilingKib: 8 * 1024 });
});

// Against a server whose idle connections would keep their HTTP buffers for
// a minute: at most `max_lingering` (64 by default) keep them at once, the
// others release them at once. Measured on the debug test server: about
// 4 MB of growth with the cap, 11.4 MB with `--max-lingering 100000`.
suite("Engine.IO polling: idle keep-alive connections under the linger cap", { kind: "engineio", args: [...ARGS, "--release-idle-ms", "60000"] }, (hostile) => {
  hostile("800 keep-alive connections idle within a minute-long release", async ({ port }) => {
    return idleKeepAlive(port, 800, 300);
  }, { deadline: 30_000, rssCeilingKib: 8 * 1024 });
});

// A regular client's connection (eight responses or more) lingers over the
// cap, but only up to 16 times it in all: against `--max-lingering 4`, at
// most 64 connections keep their buffers. Each connection makes a handshake
// and seven requests for an unknown session (400, kept alive). Measured on
// the debug test server: about 3.9 MB of growth with the bound, 13.5 MB
// with `--max-lingering 100` (a bound of 1,600: every connection lingers).
suite("Engine.IO polling: regular clients' idle connections under the linger bound", { kind: "engineio", args: [...ARGS, "--release-idle-ms", "60000", "--max-lingering", "4"] }, (hostile) => {
  hostile("800 keep-alive connections idle after eight requests each, within a minute-long release", async ({ port }) => {
    return idleKeepAlive(port, 800, 300, 8);
  }, { deadline: 60_000, rssCeilingKib: 8 * 1024 });
});

// Opens `count` keep-alive connections (50 at a time), a handshake on each
// and then `requests - 1` requests for an unknown session, leaves them idle
// `idleMs`, then checks that they are open and that some of them still
// serve.
async function idleKeepAlive(port, count, idleMs, requests = 1) {
  const conns = [];
  try {
    for (let batch = 0; batch < count / 50; batch++) {
      const opened = await Promise.all(Array.from({ length: 50 }, () => Conn.open(port)));
      await Promise.all(opened.map(async (conn) => {
        await conn.write(requestBytes("GET", `${EIO}?EIO=4&transport=polling`));
        const res = await within(10_000, readResponse(conn), "a handshake on a keep-alive connection");
        check(res && res.status === 200, `handshake: ${res && res.status}`);
        for (let i = 1; i < requests; i++) {
          await conn.write(requestBytes("GET", `${EIO}?EIO=4&transport=polling&sid=unknown${i}`));
          const again = await within(10_000, readResponse(conn), "a request for an unknown session");
          check(again && again.status === 400, `unknown session: ${again && again.status}`);
        }
      }));
      conns.push(...opened);
    }
    // The harness samples RSS meanwhile.
    await new Promise((resolve) => setTimeout(resolve, idleMs));
    check(conns.every((c) => !c.isClosed), "an idle keep-alive connection was closed");
    // They still serve: a second request on some of them.
    for (const conn of conns.slice(0, 20)) {
      await conn.write(requestBytes("GET", `${EIO}?EIO=4&transport=polling`));
      const res = await within(10_000, readResponse(conn), "a request after the idle time");
      check(res && res.status === 200, `second request: ${res && res.status}`);
    }
    return `${count} idle connections kept open, served again`;
  } finally {
    for (const conn of conns) conn.destroy();
  }
}
