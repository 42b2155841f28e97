// Hostile Socket.IO input against the socketio-app server: attachment bombs
// and placeholder tricks, hostile ack ids, reserved event names, deep JSON,
// `__proto__` keys, hostile namespaces, state-machine violations, and
// floods of rooms, acks and broadcasts.

import { io } from "socket.io-client";
import { check, suite } from "./lib/harness.js";
import { within } from "./lib/raw.js";
import { closedOrAlive, sioSession } from "./lib/sio.js";

const ARGS = ["--ping-interval", "2000", "--ping-timeout", "2000", "--max-payload", "200000"];
const PH = (num) => `{"_placeholder":true,"num":${num}}`;

suite("Socket.IO: attachments and placeholders", { kind: "socketio-app", args: ARGS }, (hostile) => {
  hostile("placeholder num 99 with one attachment", async ({ port }) => {
    const s = await sioSession(port);
    await s.send(`451-["echo",${PH(99)}]`);
    await s.sendBinary(Buffer.from([1]));
    return s.expectClosed();
  });

  hostile("placeholder num -1", async ({ port }) => {
    const s = await sioSession(port);
    await s.send(`451-["echo",${PH(-1)}]`);
    await s.sendBinary(Buffer.from([1]));
    return s.expectClosed();
  });

  hostile("placeholder num 0.5", async ({ port }) => {
    const s = await sioSession(port);
    await s.send(`451-["echo",${PH(0.5)}]`);
    await s.sendBinary(Buffer.from([1]));
    return s.expectClosed();
  });

  hostile("placeholder num as a string", async ({ port }) => {
    const s = await sioSession(port);
    await s.send(`451-["echo",${PH('"0"')}]`);
    await s.sendBinary(Buffer.from([1]));
    return s.expectClosed();
  });

  hostile("placeholder in the event-name position", async ({ port }) => {
    const s = await sioSession(port);
    await s.send(`451-[${PH(0)},"x"]`);
    await s.sendBinary(Buffer.from([1]));
    return s.expectClosed();
  });

  hostile("the same placeholder num twice", async ({ port }) => {
    const s = await sioSession(port);
    await s.send(`4527-["echo",${PH(0)},${PH(0)}]`);
    await s.sendBinary(Buffer.from([1]));
    await s.sendBinary(Buffer.from([2]));
    const reply = await s.next((t) => t.startsWith("4") && (t.includes("27[") || t.includes("-27[")));
    if (reply === null) return "closed";
    // Echoed as plain data: two attachments back, the same bytes twice.
    check(/^462-27\[/.test(reply), `unexpected answer ${reply}`);
    s.close();
    return "echoed (both point to attachment 0)";
  });

  hostile("11 attachments (over the default 10)", async ({ port }) => {
    const s = await sioSession(port);
    const phs = Array.from({ length: 11 }, (_, i) => PH(i)).join(",");
    await s.send(`4511-["echo",${phs}]`);
    for (let i = 0; i < 11; i++) await s.sendBinary(Buffer.from([i]));
    return s.expectClosed();
  });

  hostile("attachment count 1,000,000,000", async ({ port }) => {
    const s = await sioSession(port);
    await s.send(`451000000000-["echo",${PH(0)}]`);
    return s.expectClosed();
  });

  hostile("attachment count that is not a number", async ({ port }) => {
    const s = await sioSession(port);
    await s.send(`45x-["echo",${PH(0)}]`);
    return s.expectClosed();
  });

  hostile("text packet while attachments are awaited", async ({ port }) => {
    const s = await sioSession(port);
    await s.send(`452-["echo",${PH(0)},${PH(1)}]`);
    await s.sendBinary(Buffer.from([1]));
    await s.send('42["echo","interloper"]');
    return s.expectClosed();
  });

  hostile("binary frame with no binary packet pending", async ({ port }) => {
    const s = await sioSession(port);
    await s.sendBinary(Buffer.from([1, 2, 3]));
    return s.expectClosed();
  });

  hostile("attachment bomb: 10 attachments of 190 KB each, repeated 20 times", async ({ port }) => {
    const s = await sioSession(port);
    const big = Buffer.alloc(190_000, 0xab);
    const phs = Array.from({ length: 10 }, (_, i) => PH(i)).join(",");
    let acked = 0;
    for (let round = 0; round < 20; round++) {
      await s.send(`4510-${round + 1}["echo",${phs}]`);
      for (let i = 0; i < 10; i++) await s.sendBinary(big);
      const reply = await s.next((t) => t.startsWith(`4610-${round + 1}[`) || t.startsWith(`43${round + 1}[`), 10_000);
      if (reply === null) return `closed after ${acked} rounds (attachment bytes bound)`;
      acked++;
    }
    s.close();
    return `all ${acked} rounds echoed; memory bounded`;
  }, { deadline: 40_000 });
});

suite("Socket.IO: ack ids, reserved names, keys, deep JSON", { kind: "socketio-app", args: ARGS }, (hostile) => {
  hostile("ack id of 25 digits", async ({ port }) => {
    const s = await sioSession(port);
    await s.send('421234567890123456789012345["echo",1]');
    return `connection ${await closedOrAlive(s)}`;
  });

  hostile("negative ack id", async ({ port }) => {
    const s = await sioSession(port);
    await s.send('42-1["echo",1]');
    return s.expectClosed();
  });

  hostile("ack for an id the server never sent", async ({ port }) => {
    const s = await sioSession(port);
    await s.send('43999["unsolicited"]');
    const state = await closedOrAlive(s);
    check(state === "alive", "an unknown ack id closed the connection");
    s.close();
    return "ignored, connection alive";
  });

  hostile("ack answered twice", async ({ port }) => {
    const s = await sioSession(port);
    await s.send('4277["server-ack","q",5000]');
    const ping = await s.next((t) => t.startsWith("42") && t.includes('"ping-me"'));
    const id = /^42(\d+)\[/.exec(ping)[1];
    await s.send(`43${id}["first"]`);
    await s.send(`43${id}["second"]`);
    const reply = await s.next((t) => t.startsWith("4377["));
    check(reply === '4377[{"ok":true,"answer":"first"}]', `expected the first answer only, got ${reply}`);
    const state = await closedOrAlive(s);
    check(state === "alive", "the second answer closed the connection");
    s.close();
    return "first answer taken, second ignored";
  });

  hostile("ack whose payload is not an array", async ({ port }) => {
    const s = await sioSession(port);
    await s.send('43{"not":"an array"}');
    return s.expectClosed();
  });

  for (const name of ["connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"]) {
    hostile(`reserved event name "${name}" from a client`, async ({ port }) => {
      const s = await sioSession(port);
      await s.send(`42["${name}","x"]`);
      return s.expectClosed();
    });
  }

  hostile("__proto__ key in a payload is plain data", async ({ port }) => {
    const s = await sioSession(port);
    const payload = '{"__proto__":{"polluted":true},"a":1}';
    await s.send(`425["echo",${payload}]`);
    const reply = await s.next((t) => t.startsWith("435["));
    check(reply === `435[${payload}]`, `expected the object back unchanged, got ${reply}`);
    s.close();
    return "echoed unchanged";
  });

  hostile("constructor/prototype keys are plain data", async ({ port }) => {
    const s = await sioSession(port);
    const payload = '{"constructor":{"prototype":{"x":1}},"toString":"no","hasOwnProperty":0}';
    await s.send(`426["echo",${payload}]`);
    const reply = await s.next((t) => t.startsWith("436["));
    check(reply === `436[${payload}]`, `expected the object back unchanged, got ${reply}`);
    s.close();
    return "echoed unchanged";
  });

  // Found by the sio_binary fuzz target: a double that JavaScript writes as
  // 6.6666666666666665e+41 must come back as the same double (serde_json
  // parses floats exactly only with its `float_roundtrip` feature).
  hostile("floats echo bit-exact", async ({ port }) => {
    const s = await sioSession(port);
    const numbers = "6.6666666666666665e+41,0.1,1e+21,5e-324,1.7976931348623157e+308,-0";
    await s.send(`428["echo",${numbers}]`);
    const reply = await s.next((t) => t.startsWith("438["));
    s.close();
    check(reply === `438[${numbers.replace(",-0", ",0")}]` || reply === `438[${numbers}]`, `numbers changed in the echo: sent [${numbers}], got ${reply}`);
    return "echoed exactly";
  });

  hostile("event named __proto__ / constructor / toString", async ({ port }) => {
    const s = await sioSession(port);
    await s.send('42["__proto__",1]');
    await s.send('42["constructor",1]');
    await s.send('42["toString",1]');
    const state = await closedOrAlive(s);
    check(state === "alive", "an event with a prototype name closed the connection");
    s.close();
    return "no handler, ignored";
  });

  hostile("numeric event name", async ({ port }) => {
    const s = await sioSession(port);
    await s.send('42[1,"x"]');
    const state = await closedOrAlive(s);
    check(state === "alive", "a numeric event name closed the connection");
    s.close();
    return "accepted (no handler)";
  });

  hostile("100,000 unclosed [ in an event", async ({ port }) => {
    const s = await sioSession(port);
    await s.send(`42["echo",${"[".repeat(100_000)}`);
    return s.expectClosed();
  });

  hostile("100,000-deep nested arrays (valid JSON)", async ({ port }) => {
    const s = await sioSession(port);
    await s.send(`421["echo",${"[".repeat(100_000)}${"]".repeat(100_000)}]`);
    const state = await closedOrAlive(s);
    return `no stack overflow; connection ${state}`;
  });

  hostile("50,000-deep nested objects", async ({ port }) => {
    const s = await sioSession(port);
    await s.send(`421["echo",${'{"a":'.repeat(50_000)}1${"}".repeat(50_000)}]`);
    const state = await closedOrAlive(s);
    return `no stack overflow; connection ${state}`;
  });

  hostile("deep JSON in the CONNECT auth", async ({ port }) => {
    const s = await sioSession(port, { connect: false });
    await s.send(`40{"a":${"[".repeat(50_000)}${"]".repeat(50_000)}}`);
    const t = await s.next((p) => p.startsWith("4"));
    check(t === null || t.startsWith("44") || t.startsWith("40"), `unexpected ${t}`);
    s.close();
    return t === null ? "closed" : t.startsWith("44") ? "connect error" : "connected (depth accepted)";
  });
});

suite("Socket.IO: namespaces and the state machine", { kind: "socketio-app", args: ARGS }, (hostile) => {
  hostile("CONNECT to an unknown namespace", async ({ port }) => {
    const s = await sioSession(port);
    await s.send("40/nope,");
    const t = await s.next((p) => p.startsWith("44/nope,"));
    check(t === '44/nope,{"message":"Invalid namespace"}', `unexpected ${t}`);
    await s.expectAlive();
    s.close();
    return "44 Invalid namespace, connection kept";
  });

  hostile("namespace name of 64 KB", async ({ port }) => {
    const s = await sioSession(port);
    await s.send(`40/${"n".repeat(65_000)},`);
    const state = await closedOrAlive(s);
    return `refused; connection ${state}`;
  });

  hostile("namespace /../admin does not reach /admin", async ({ port }) => {
    const s = await sioSession(port);
    await s.send("40/../admin,");
    const t = await s.next((p) => p.startsWith("4"));
    check(t !== null && t.startsWith("44/../admin,"), `expected a refusal, got ${t}`);
    s.close();
    return "44 Invalid namespace";
  });

  hostile("namespace with a NUL character", async ({ port }) => {
    const s = await sioSession(port);
    await s.send("40/dyn-1\u0000,");
    const t = await s.next((p) => p.startsWith("4"));
    check(t === null || t.startsWith("44"), `expected a refusal, got ${t}`);
    s.close();
    return t === null ? "closed" : "44";
  });

  hostile("unicode namespace names", async ({ port }) => {
    const s = await sioSession(port);
    await s.send("40/\u{1F4A9}\u202E,");
    const t = await s.next((p) => p.startsWith("4"));
    check(t !== null && t.startsWith("44"), `expected a refusal, got ${t}`);
    await s.expectAlive();
    s.close();
    return "44, connection kept";
  });

  hostile("3,000 distinct dynamic namespaces from one client (cap)", async ({ port }) => {
    const s = await sioSession(port);
    let connected = 0;
    let refused = 0;
    for (let i = 0; i < 3_000; i++) {
      await s.send(`40/dyn-${1_000_000 + i},`);
      const t = await s.next((p) => p.startsWith(`40/dyn-${1_000_000 + i},`) || p.startsWith(`44/dyn-${1_000_000 + i},`));
      if (t === null) break;
      if (t.startsWith("40")) connected++;
      else refused++;
    }
    s.close();
    check(connected < 3_000, `all 3,000 client-named namespaces were created (no cap)`);
    return `${connected} created, ${refused} refused${connected + refused < 3_000 ? ", then closed" : ""}`;
  }, { deadline: 40_000, rssCeilingKib: 24 * 1024 });

  hostile("CONNECT twice to the same namespace", async ({ port }) => {
    const s = await sioSession(port);
    await s.send("40");
    return s.expectClosed();
  });

  hostile("EVENT for a namespace not joined", async ({ port }) => {
    const s = await sioSession(port);
    await s.send('42/admin,["echo",1]');
    return s.expectClosed();
  });

  hostile("DISCONNECT for a namespace not joined", async ({ port }) => {
    const s = await sioSession(port);
    await s.send("41/dyn-5,");
    const state = await closedOrAlive(s);
    return `connection ${state}`;
  });

  hostile("CONNECT_ERROR sent by a client", async ({ port }) => {
    const s = await sioSession(port);
    await s.send('44{"message":"x"}');
    return s.expectClosed();
  });

  hostile("CONNECT whose payload is an array", async ({ port }) => {
    const s = await sioSession(port, { connect: false });
    await s.send("40[1,2]");
    const t = await s.next((p) => p.startsWith("4"));
    check(t === null || t.startsWith("44"), `expected a refusal, got ${t}`);
    s.close();
    return t === null ? "closed" : "44";
  });

  hostile("Socket.IO packet type 9", async ({ port }) => {
    const s = await sioSession(port);
    await s.send('49["x"]');
    return s.expectClosed();
  });

  hostile("empty Engine.IO message", async ({ port }) => {
    const s = await sioSession(port);
    await s.send("4");
    return s.expectClosed();
  });

  hostile("EVENT with an empty array", async ({ port }) => {
    const s = await sioSession(port);
    await s.send("42[]");
    return s.expectClosed();
  });

  hostile("1,000 refused CONNECTs to /admin on one connection", async ({ port }) => {
    const s = await sioSession(port);
    for (let i = 0; i < 1_000; i++) await s.send("40/admin,");
    for (let i = 0; i < 1_000; i++) {
      const t = await s.next((p) => p.startsWith("44/admin,"));
      if (t === null) return `closed after ${i} refusals`;
    }
    await s.expectAlive();
    s.close();
    return "1,000 refusals, connection kept";
  }, { deadline: 30_000 });
});

suite("Socket.IO: floods of rooms, acks and broadcasts", { kind: "socketio-app", args: ARGS }, (hostile) => {
  hostile("joining 20,000 rooms (rooms-per-socket cap)", async ({ url }) => {
    const socket = io(url, { forceNew: true, reconnection: false, transports: ["websocket"] });
    try {
      await within(5_000, new Promise((resolve, reject) => {
        socket.once("connect", resolve);
        socket.once("connect_error", reject);
      }), "connect");
      let reason = null;
      socket.once("disconnect", (r) => {
        reason = r;
      });
      let rooms = [];
      for (let batch = 0; batch < 10; batch++) {
        const names = Array.from({ length: 2_000 }, (_, i) => `r${batch}-${i}`);
        try {
          rooms = await socket.timeout(15_000).emitWithAck("join", names);
        } catch (err) {
          if (reason === null) throw err;
          break;
        }
      }
      if (reason !== null) return `disconnected (${reason}) with ${rooms.length} rooms`;
      check(rooms.length < 20_001, `all 20,000 rooms were joined (no cap): the socket is in ${rooms.length} rooms`);
      return `joined ${rooms.length - 1} rooms, the rest refused`;
    } finally {
      socket.disconnect();
    }
  }, { deadline: 40_000, rssCeilingKib: 32 * 1024 });

  hostile("3,000 server acks never answered all time out", async ({ url }) => {
    const socket = io(url, { forceNew: true, reconnection: false, transports: ["websocket"] });
    try {
      await within(5_000, new Promise((resolve) => socket.once("connect", resolve)), "connect");
      // `ping-me` has no listener here: its acks are never answered.
      const replies = await Promise.all(Array.from({ length: 3_000 }, (_, i) => socket.timeout(15_000).emitWithAck("server-ack", `q${i}`, 300)));
      const failed = replies.filter((r) => r && r.ok === false).length;
      check(failed === 3_000, `expected 3,000 timed-out acks, got ${failed}`);
      return "3,000 pending acks, every one ended by its deadline";
    } finally {
      socket.disconnect();
    }
  }, { deadline: 30_000 });

  hostile("10,000 events with acks in one burst", async ({ port }) => {
    const s = await sioSession(port);
    const { frame } = await import("./lib/raw.js");
    const burst = Buffer.concat(Array.from({ length: 10_000 }, (_, i) => frame(1, Buffer.from(`42${i}["echo",${i}]`))));
    await s.ws.conn.write(burst);
    const last = await s.next((t) => t.startsWith("439999["), 20_000);
    s.close();
    if (last === null) return "closed (rate limit)";
    return "all 10,000 acked";
  }, { deadline: 30_000 });

  hostile("broadcast flood to a sender that never reads (byte bound)", async ({ port }) => {
    const s = await sioSession(port);
    s.ws.pause();
    const blob = "b".repeat(150_000);
    let sent = 0;
    for (let i = 0; i < 200; i++) {
      const ok = await within(5_000, s.send(`42["emit-all","flood","${blob}"]`), "writing").catch(() => false);
      if (!ok) break;
      sent++;
      if (i % 10 === 0) await s.send("3");
    }
    s.ws.conn.socket.resume();
    const how = await s.expectClosed(20_000);
    return `${how} after ${sent} x 150 KB broadcasts to itself`;
  }, { deadline: 60_000 });
});

