// Engine.IO v3 / Socket.IO v4-protocol edge cases (Socket.IO 2.x clients)
// against socketio-app with --allow-eio3: lying payload lengths, malformed
// XHR2 binary bodies, heartbeat direction, hostile namespace queries.

import { check, suite } from "./lib/harness.js";
import { RawWs, http, within } from "./lib/raw.js";
import { errorBody } from "./lib/eio.js";

const ARGS = ["--allow-eio3", "--ping-interval", "2000", "--ping-timeout", "2000", "--max-payload", "100000"];
const PATH = "/socket.io/";
const q = (sid) => `${PATH}?EIO=3&transport=polling&sid=${sid}`;
/** A v3 text payload: `<length in UTF-16 units>:<packet>` for each packet. */
const payload = (...packets) => packets.map((p) => `${p.length}:${p}`).join("");

async function handshakeV3(port) {
  const res = await http(port, "GET", `${PATH}?EIO=3&transport=polling`);
  const m = /"sid":"([^"]+)"/.exec(res.text);
  check(res.status === 200 && m, `v3 handshake failed: ${res.status} ${res.text.slice(0, 80)}`);
  return m[1];
}

let probes = 0;

/** `alive` when an echo with an ack comes back over polling, `closed` when the session is gone. */
async function v3State(port, sid) {
  const id = 70_000 + ++probes;
  const p = await http(port, "POST", q(sid), { body: payload(`42${id}["echo","v3"]`) });
  if (p.status === 400 && errorBody(p)?.code === 1) return "closed";
  if (p.status !== 200) return `POST ${p.status}`;
  for (let i = 0; i < 4; i++) {
    const g = await http(port, "GET", q(sid));
    if (g.status === 400 && errorBody(g)?.code === 1) return "closed";
    if (g.text.includes(`43${id}["v3"]`)) return "alive";
    if (/\d+:1(\d|$)/.test(g.text) && !g.text.includes(":4")) return "closed";
  }
  return "no echo";
}

async function expectV3(port, sid, want) {
  const state = await v3State(port, sid);
  check(state === want, `session should be ${want}, it is ${state}`);
  return `session ${want}`;
}

suite("Engine.IO v3 and Socket.IO v4-protocol edge cases", { kind: "socketio-app", args: ARGS }, (hostile) => {
  hostile("v3 baseline: a well-formed echo works", async ({ port }) => expectV3(port, await handshakeV3(port), "alive"));

  hostile("v3 payload whose length is larger than its packet", async ({ port }) => {
    const sid = await handshakeV3(port);
    await http(port, "POST", q(sid), { body: '99:42["echo","x"]' });
    return expectV3(port, sid, "closed");
  });

  hostile("v3 payload whose length is not a number", async ({ port }) => {
    const sid = await handshakeV3(port);
    await http(port, "POST", q(sid), { body: 'x:42["echo"]' });
    return expectV3(port, sid, "closed");
  });

  hostile("v3 payload length of 20 digits", async ({ port }) => {
    const sid = await handshakeV3(port);
    await http(port, "POST", q(sid), { body: "99999999999999999999:4" });
    return expectV3(port, sid, "closed");
  });

  // Found by the eio_payload_v3 fuzz target: a length of usize::MAX made
  // the decoder add it to a byte index (an overflow panic in debug builds).
  hostile("v3 payload length of usize::MAX", async ({ port }) => {
    const sid = await handshakeV3(port);
    await http(port, "POST", q(sid), { body: "1:218446744073709551615:4" });
    return expectV3(port, sid, "closed");
  });

  hostile("v3 payload of length 0 (`0:`)", async ({ port }) => {
    const sid = await handshakeV3(port);
    const res = await http(port, "POST", q(sid), { body: "0:" });
    check(res.status === 200 || res.status === 400, `expected 200 or 400, got ${res.status}`);
    const state = await v3State(port, sid);
    check(state === "alive" || state === "closed", `bad state ${state}`);
    return `${res.status}, session ${state}`;
  });

  hostile("v3 XHR2 binary body whose length header lies", async ({ port }) => {
    const sid = await handshakeV3(port);
    const body = Buffer.from([0x00, 0x09, 0x09, 0xff, 0x34, 0x61]);
    await http(port, "POST", q(sid), { body, headers: { "Content-Type": "application/octet-stream" } });
    return expectV3(port, sid, "closed");
  });

  hostile("v3 XHR2 binary body with 400 length digits and no 0xFF", async ({ port }) => {
    const sid = await handshakeV3(port);
    const body = Buffer.concat([Buffer.from([0x01]), Buffer.alloc(400, 9)]);
    await http(port, "POST", q(sid), { body, headers: { "Content-Type": "application/octet-stream" } });
    return expectV3(port, sid, "closed");
  });

  hostile("v3 bad base64 binary packet", async ({ port }) => {
    const sid = await handshakeV3(port);
    await http(port, "POST", q(sid), { body: payload("b4$$$*not-base64") });
    return expectV3(port, sid, "closed");
  });

  hostile("v3 client ping is answered, pong from the client closes", async ({ port }) => {
    const sid = await handshakeV3(port);
    await http(port, "POST", q(sid), { body: payload("2") });
    let got = "";
    for (let i = 0; i < 3 && !/(^|\D)1:3(\D|$)/.test(got); i++) got += (await http(port, "GET", q(sid))).text;
    check(/(^|\D)1:3(\D|$)/.test(got), `expected a pong, got ${JSON.stringify(got.slice(0, 80))}`);
    await http(port, "POST", q(sid), { body: payload("3") });
    return `ping answered; then ${await expectV3(port, sid, "closed")} (pong from a v3 client)`;
  });

  hostile("v3 WebSocket binary frame with an invalid type byte", async ({ port }) => {
    const { ws, response } = await RawWs.open(port, `${PATH}?EIO=3&transport=websocket`);
    check(ws, `WebSocket refused: ${response && response.status}`);
    await within(5_000, ws.nextText(), "open");
    await ws.sendBinary(Buffer.from([0xff, 1, 2]));
    const { code } = await within(5_000, ws.closedByServer(), "the server to close");
    ws.destroy();
    return `closed (${code})`;
  });

  hostile("namespace query with a bad percent escape", async ({ port }) => {
    const sid = await handshakeV3(port);
    const res = await http(port, "POST", q(sid), { body: payload("40/admin?token=%ZZ%,") });
    check(res.status === 200 || res.status === 400, `expected 200 or 400, got ${res.status}`);
    const state = await v3State(port, sid);
    check(state === "alive" || state === "closed", `bad state ${state}`);
    return `session ${state}`;
  });

  hostile("namespace query of 60 KB", async ({ port }) => {
    const sid = await handshakeV3(port);
    const res = await http(port, "POST", q(sid), { body: payload(`40/admin?token=${"t".repeat(60_000)},`) });
    check(res.status === 200 || res.status === 400 || res.status === 413, `unexpected ${res.status}`);
    const state = await v3State(port, sid);
    check(state === "alive" || state === "closed", `bad state ${state}`);
    return `session ${state}`;
  });

  hostile("namespace query with __proto__ keys", async ({ port }) => {
    const sid = await handshakeV3(port);
    await http(port, "POST", q(sid), { body: payload("40/admin?__proto__[x]=1&constructor=2&token=secret,") });
    let got = "";
    for (let i = 0; i < 3 && !got.includes("40/admin"); i++) got += (await http(port, "GET", q(sid))).text;
    check(got.includes("40/admin"), `expected the /admin connection (token given), got ${JSON.stringify(got.slice(0, 120))}`);
    return "connected to /admin, the keys are plain data";
  });
});
