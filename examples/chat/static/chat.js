// The Sockeye chat page: plain JavaScript on the official socket.io-client
// bundle, which the server itself serves under its Socket.IO path.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const body = document.body;

  // The server tells the path and its transports; `?transports=polling`
  // in the page's URL narrows them (to try polling only, for example).
  const path = body.dataset.path || "/socket.io/";
  const params = new URLSearchParams(location.search);
  const transports = (params.get("transports") || body.dataset.transports || "polling,websocket")
    .split(",")
    .map((t) => t.trim())
    .filter(Boolean);

  const ui = {
    messages: $("messages"),
    typing: $("typing"),
    users: $("users"),
    userCount: $("user-count"),
    status: $("status"),
    statusText: $("status-text"),
    transport: $("transport"),
    me: $("me"),
    login: $("login"),
    loginForm: $("login-form"),
    nickname: $("nickname"),
    loginError: $("login-error"),
    composer: $("composer"),
    input: $("composer-input"),
    send: $("composer-send"),
    privateTarget: $("private-target"),
    privateName: $("private-name"),
    privateCancel: $("private-cancel"),
  };

  /** Our nickname once logged in (kept across reconnections). */
  let username = null;
  /** The nickname asked for and not yet answered. */
  let pending = null;
  /** Nicknames online, in order. */
  const users = [];
  /** Ids of the messages shown, so the history after a reconnection adds no duplicates. */
  const shown = new Set();
  /** Who is typing → when we last heard it. */
  const typing = new Map();
  /** The recipient of private messages, or null for everyone. */
  let privateTo = null;

  // ---------------------------------------------------------------- view

  const time = (at) =>
    new Date(at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });

  function scrollDown() {
    ui.messages.scrollTop = ui.messages.scrollHeight;
  }

  function notice(text, kind) {
    const li = document.createElement("li");
    li.className = "notice" + (kind ? " " + kind : "");
    li.textContent = text;
    ui.messages.append(li);
    scrollDown();
    return li;
  }

  /**
   * Adds a message bubble. `m`: {author, text, at, id?, own?, private?,
   * tag?}; returns the element, whose `.mark` shows delivery.
   */
  function bubble(m) {
    if (m.id) {
      if (shown.has(m.id)) return null;
      shown.add(m.id);
    }
    const li = document.createElement("li");
    li.className = "msg" + (m.own ? " own" : "") + (m.private ? " private" : "");
    if (m.id) li.dataset.id = m.id;
    const meta = document.createElement("div");
    meta.className = "meta";
    const author = document.createElement("span");
    author.className = "author";
    author.textContent = m.author;
    meta.append(author);
    if (m.tag) {
      const tag = document.createElement("span");
      tag.className = "tag";
      tag.textContent = m.tag;
      meta.append(tag);
    }
    const when = document.createElement("time");
    when.textContent = time(m.at || Date.now());
    meta.append(when);
    if (m.own) {
      const mark = document.createElement("span");
      mark.className = "mark";
      mark.textContent = "sending\u2026";
      mark.title = "Not yet acknowledged by the server";
      meta.append(mark);
    }
    const text = document.createElement("div");
    text.className = "text";
    text.textContent = m.text;
    li.append(meta, text);
    ui.messages.append(li);
    scrollDown();
    return li;
  }

  function delivered(li, id, at) {
    li.classList.add("delivered");
    if (id) {
      li.dataset.id = id;
      shown.add(id);
    }
    if (at) li.querySelector("time").textContent = time(at);
    const mark = li.querySelector(".mark");
    mark.textContent = "\u2713 delivered";
    mark.title = "Acknowledged by the server";
  }

  function failed(li, error) {
    li.classList.add("failed");
    const mark = li.querySelector(".mark");
    mark.textContent = "\u2717 " + error;
    mark.title = error;
  }

  function renderUsers() {
    ui.users.replaceChildren(
      ...users.map((name) => {
        const li = document.createElement("li");
        li.dataset.user = name;
        li.textContent = name;
        if (name === username) {
          li.classList.add("self");
          li.textContent = name + " (you)";
          li.title = "That is you";
        } else {
          li.title = "Send " + name + " a private message";
          if (privateTo === name) li.classList.add("selected");
          li.addEventListener("click", () => choosePrivate(privateTo === name ? null : name));
        }
        return li;
      }),
    );
    ui.userCount.textContent = String(users.length);
  }

  function addUser(name) {
    if (!users.includes(name)) users.push(name);
    renderUsers();
  }

  function removeUser(name) {
    const i = users.indexOf(name);
    if (i >= 0) users.splice(i, 1);
    typing.delete(name);
    renderTyping();
    if (privateTo === name) choosePrivate(null);
    renderUsers();
  }

  function choosePrivate(name) {
    privateTo = name;
    ui.privateTarget.hidden = !name;
    ui.privateName.textContent = name || "";
    ui.input.placeholder = name ? "Private message to " + name + "\u2026" : "Type a message\u2026";
    renderUsers();
    ui.input.focus();
  }

  function renderTyping() {
    const names = [...typing.keys()];
    ui.typing.textContent =
      names.length === 0
        ? ""
        : names.length === 1
          ? names[0] + " is typing\u2026"
          : names.slice(0, -1).join(", ") + " and " + names.at(-1) + " are typing\u2026";
  }

  function setStatus(state, text) {
    ui.status.dataset.state = state;
    ui.statusText.textContent = text || state;
  }

  function setTransport(name) {
    ui.transport.textContent = name || "\u2013";
    ui.transport.dataset.transport = name || "";
  }

  function setComposer(enabled) {
    ui.input.disabled = !enabled;
    ui.send.disabled = !enabled;
  }

  // ----------------------------------------------------------- socket

  if (typeof io !== "function") {
    setStatus("error", "client not loaded");
    ui.loginError.textContent =
      "The socket.io client did not load from " + path + "socket.io.min.js.";
    return;
  }

  const socket = io({ path, transports });
  // For tests and curious people: the socket, in the console.
  window.chatSocket = socket;

  function watchEngine() {
    const engine = socket.io.engine;
    if (!engine) return;
    setTransport(engine.transport && engine.transport.name);
    engine.on("upgrade", (t) => setTransport(t.name));
  }
  socket.io.on("open", watchEngine);
  socket.io.on("reconnect_attempt", (n) => setStatus("reconnecting", "reconnecting (" + n + ")"));
  socket.io.on("reconnect_failed", () => setStatus("disconnected", "gave up reconnecting"));

  socket.on("connect", () => {
    setStatus("connected");
    watchEngine();
    // After a reconnection, log in again under the same nickname.
    if (username) login(username, true);
  });

  socket.on("disconnect", (reason) => {
    setStatus("disconnected", "disconnected: " + reason);
    setTransport(null);
    setComposer(false);
    typing.clear();
    renderTyping();
    if (username) notice("Connection lost (" + reason + "); reconnecting\u2026", "error");
    // The server closed our socket on purpose: reconnect by hand.
    if (reason === "io server disconnect") socket.connect();
  });

  socket.on("connect_error", (err) => {
    setStatus("error", "cannot connect: " + err.message);
  });

  function login(name, again) {
    pending = name;
    ui.loginError.textContent = "";
    socket.emit("add user", name, (res) => {
      pending = null;
      if (res && res.ok) return;
      const error = (res && res.error) || "refused";
      if (again) {
        notice("Could not log in again as " + name + ": " + error, "error");
        username = null;
        ui.me.hidden = true;
      }
      ui.login.hidden = false;
      ui.loginError.textContent = error;
      ui.nickname.focus();
    });
  }

  socket.on("login", (data) => {
    const first = username === null;
    username = pending || username;
    ui.login.hidden = true;
    ui.me.hidden = false;
    ui.me.textContent = "you are " + username;
    users.splice(0, users.length, ...data.users);
    renderUsers();
    for (const m of data.history) {
      bubble({ author: m.username, text: m.message, at: m.at, id: m.id, own: false });
    }
    notice(
      (first ? "Welcome, " + username + "! " : "Reconnected. ") +
        (data.numUsers === 1 ? "You are alone here." : data.numUsers + " people are here."),
    );
    setComposer(true);
    ui.input.focus();
  });

  socket.on("login error", (data) => {
    ui.login.hidden = false;
    ui.loginError.textContent = data.message;
  });

  socket.on("user joined", (data) => {
    addUser(data.username);
    notice(data.username + " joined");
  });

  socket.on("user left", (data) => {
    removeUser(data.username);
    notice(data.username + " left");
  });

  socket.on("new message", (m) => {
    typing.delete(m.username);
    renderTyping();
    bubble({ author: m.username, text: m.message, at: m.at, id: m.id });
  });

  socket.on("private message", (m) => {
    bubble({ author: m.from, text: m.message, at: m.at, id: m.id, private: true, tag: "private" });
  });

  socket.on("typing", (data) => {
    typing.set(data.username, Date.now());
    renderTyping();
  });

  socket.on("stop typing", (data) => {
    typing.delete(data.username);
    renderTyping();
  });

  socket.on("chat error", (data) => notice(data.message, "error"));

  // ------------------------------------------------------------ input

  ui.loginForm.addEventListener("submit", (e) => {
    e.preventDefault();
    // One attempt at a time (a double click must not log in twice).
    if (pending !== null || username !== null) return;
    const name = ui.nickname.value.trim();
    if (!name) {
      ui.loginError.textContent = "Pick a nickname.";
      return;
    }
    login(name, false);
  });

  let typingSent = false;
  let typingTimer = null;
  function stopTyping() {
    clearTimeout(typingTimer);
    if (typingSent) socket.emit("stop typing");
    typingSent = false;
  }

  ui.input.addEventListener("input", () => {
    if (!username || !socket.connected) return;
    if (!ui.input.value) return stopTyping();
    if (!typingSent) {
      socket.emit("typing");
      typingSent = true;
    }
    clearTimeout(typingTimer);
    typingTimer = setTimeout(stopTyping, 1500);
  });

  ui.composer.addEventListener("submit", (e) => {
    e.preventDefault();
    const text = ui.input.value;
    if (!text.trim() || !username) return;
    ui.input.value = "";
    stopTyping();
    if (privateTo) {
      const to = privateTo;
      const li = bubble({ author: "to " + to, text, own: true, private: true, tag: "private" });
      socket.emit("private message", { to, message: text }, (res) => {
        if (res && res.ok) delivered(li, res.id);
        else failed(li, (res && res.error) || "not delivered");
      });
    } else {
      const li = bubble({ author: username, text, own: true });
      socket.emit("new message", text, (res) => {
        if (res && res.id) delivered(li, res.id, res.at);
        else failed(li, (res && res.error) || "not delivered");
      });
    }
  });

  ui.privateCancel.addEventListener("click", () => choosePrivate(null));
})();
