// Hostile clients of the chat example (sockeye-chat): oversized and
// ill-typed event arguments, prototype-named users, floods, and the abuse
// controls (--rate-limit, --max-connections-per-ip).

import { io } from "socket.io-client";
import { check, suite } from "./lib/harness.js";
import { RawWs, within } from "./lib/raw.js";

/** A connected chat client; `login` logs it in. Closed by `close()`. */
async function chatClient(url, opts = {}) {
  const socket = io(url, { forceNew: true, reconnection: false, ...opts });
  await within(10_000, new Promise((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", reject);
  }), "chat connect");
  return {
    socket,
    ack: (event, ...args) => socket.timeout(10_000).emitWithAck(event, ...args),
    close: () => socket.disconnect(),
  };
}

let users = 0;
const uniqueName = (p = "u") => `${p}${++users}`;

async function refused(promise, what) {
  const res = await promise;
  check(res && res.ok === false && typeof res.error === "string", `${what}: expected {ok: false, error}, got ${JSON.stringify(res)}`);
  return `refused: ${res.error}`;
}

suite("Chat: hostile event arguments", { kind: "chat" }, (hostile) => {
  hostile("nickname of 100 KB", async ({ url }) => {
    const c = await chatClient(url);
    try {
      return await refused(c.ack("add user", "n".repeat(100_000)), "long nickname");
    } finally {
      c.close();
    }
  });

  hostile("nickname that is an object with __proto__", async ({ url }) => {
    const c = await chatClient(url);
    try {
      return await refused(c.ack("add user", JSON.parse('{"__proto__":{"admin":true},"name":"x"}')), "object nickname");
    } finally {
      c.close();
    }
  });

  hostile("nickname __proto__ is an ordinary name", async ({ url }) => {
    const a = await chatClient(url);
    const b = await chatClient(url);
    try {
      const login = await a.ack("add user", "__proto__");
      check(login && login.ok === true, `the nickname __proto__ was refused: ${JSON.stringify(login)}`);
      check((await b.ack("add user", uniqueName("pm"))).ok === true, "second login failed");
      const got = new Promise((resolve) => a.socket.once("private message", resolve));
      const sent = await b.ack("private message", { to: "__proto__", message: "hello proto" });
      check(sent && sent.ok === true, `private message to __proto__ failed: ${JSON.stringify(sent)}`);
      const msg = await within(5_000, got, "the private message");
      check(msg.message === "hello proto", `wrong message ${JSON.stringify(msg)}`);
      return "logged in, private message delivered";
    } finally {
      a.close();
      b.close();
    }
  });

  hostile("add user twice on one socket", async ({ url }) => {
    const c = await chatClient(url);
    try {
      check((await c.ack("add user", uniqueName())).ok === true, "first login failed");
      return await refused(c.ack("add user", uniqueName()), "second add user");
    } finally {
      c.close();
    }
  });

  hostile("message of 100 KB", async ({ url }) => {
    const c = await chatClient(url);
    try {
      check((await c.ack("add user", uniqueName())).ok === true, "login failed");
      return await refused(c.ack("new message", "m".repeat(100_000)), "long message");
    } finally {
      c.close();
    }
  });

  hostile("message before add user", async ({ url }) => {
    const c = await chatClient(url);
    try {
      return await refused(c.ack("new message", "anonymous"), "message before login");
    } finally {
      c.close();
    }
  });

  hostile("message that is an array of numbers", async ({ url }) => {
    const c = await chatClient(url);
    try {
      check((await c.ack("add user", uniqueName())).ok === true, "login failed");
      return await refused(c.ack("new message", [1, 2, 3]), "array message");
    } finally {
      c.close();
    }
  });

  hostile("private message to constructor (no such user)", async ({ url }) => {
    const c = await chatClient(url);
    try {
      check((await c.ack("add user", uniqueName())).ok === true, "login failed");
      return await refused(c.ack("private message", { to: "constructor", message: "x" }), "unknown recipient");
    } finally {
      c.close();
    }
  });

  hostile("private message whose argument is a string", async ({ url }) => {
    const c = await chatClient(url);
    try {
      check((await c.ack("add user", uniqueName())).ok === true, "login failed");
      return await refused(c.ack("private message", "not an object"), "string private message");
    } finally {
      c.close();
    }
  });

  hostile("reserved event name sent raw", async ({ port }) => {
    const { ws } = await RawWs.open(port, "/socket.io/?EIO=4&transport=websocket");
    check(ws, "WebSocket refused");
    await within(5_000, ws.nextText(), "open");
    await ws.sendText("40");
    await within(5_000, ws.textMatching((t) => t.startsWith("40")), "connect");
    await ws.sendText('42["disconnect"]');
    const { code } = await within(5_000, ws.closedByServer(), "close");
    ws.destroy();
    return `closed (${code})`;
  });

  hostile("5,000 typing events in a burst", async ({ url }) => {
    const c = await chatClient(url, { transports: ["websocket"] });
    try {
      check((await c.ack("add user", uniqueName("typist"))).ok === true, "login failed");
      for (let i = 0; i < 2_500; i++) {
        c.socket.emit("typing");
        c.socket.emit("stop typing");
      }
      const state = await c.ack("new message", "done typing").then(
        (r) => (r && typeof r.id === "string" ? "still connected" : `answer ${JSON.stringify(r)}`),
        () => (c.socket.connected ? "no answer" : "disconnected"),
      );
      check(state !== "no answer", "the flooding socket neither answered nor was disconnected");
      return `flood absorbed; flooder ${state}`;
    } finally {
      c.close();
    }
  }, { deadline: 30_000 });

  hostile("500 users log in and leave", async ({ url }) => {
    for (let batch = 0; batch < 10; batch++) {
      const clients = await Promise.all(Array.from({ length: 50 }, () => chatClient(url, { transports: ["websocket"] })));
      await Promise.all(clients.map((c) => c.ack("add user", uniqueName("churn"))));
      for (const c of clients) c.close();
    }
    const c = await chatClient(url);
    try {
      const name = uniqueName("after");
      const login = new Promise((resolve) => c.socket.once("login", resolve));
      check((await c.ack("add user", name)).ok === true, "login after the churn failed");
      const l = await within(5_000, login, "login event");
      check(!l.users.some((u) => u.startsWith("churn")), `users of closed sockets are still listed: ${l.users.filter((u) => u.startsWith("churn")).length}`);
      return `500 logins/logouts; user list clean (${l.numUsers} users)`;
    } finally {
      c.close();
    }
  }, { deadline: 40_000 });
});

suite("Chat: --rate-limit", { kind: "chat", args: ["--rate-limit", "20"] }, (hostile) => {
  hostile("a client flooding 2,000 messages is cut off", async ({ url }) => {
    const c = await chatClient(url, { transports: ["websocket"] });
    try {
      check((await c.ack("add user", uniqueName("flooder"))).ok === true, "login failed");
      const disconnected = new Promise((resolve) => c.socket.once("disconnect", resolve));
      for (let i = 0; i < 2_000; i++) c.socket.emit("new message", `spam ${i}`);
      const reason = await within(10_000, disconnected, "the rate limit to disconnect the flooder");
      return `flooder disconnected (${reason})`;
    } finally {
      c.close();
    }
  });
});

suite("Chat: --max-connections-per-ip", { kind: "chat", args: ["--max-connections-per-ip", "8"] }, (hostile) => {
  hostile("20 WebSocket connections from one address, cap 8", async ({ port }) => {
    const opened = [];
    let refusedCount = 0;
    try {
      for (let i = 0; i < 20; i++) {
        const { ws, response } = await RawWs.open(port, "/socket.io/?EIO=4&transport=websocket").catch(() => ({ ws: null, response: null }));
        if (ws) opened.push(ws);
        else refusedCount++;
        void response;
      }
      // An accepted connection may also be closed right after its upgrade.
      const alive = [];
      for (const ws of opened) {
        const first = await within(5_000, ws.nextText(), "open packet").catch(() => null);
        if (first && first.startsWith("0{")) alive.push(ws);
        else refusedCount++;
      }
      check(alive.length <= 8, `${alive.length} connections from one address were served (cap 8)`);
      check(refusedCount >= 12, `only ${refusedCount} of 20 were refused`);
      return `${alive.length} served, ${refusedCount} refused`;
    } finally {
      for (const ws of opened) ws.destroy();
    }
  });
});
