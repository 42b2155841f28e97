// Starting the servers under attack and reading their memory.
//
// The hostile suite needs the server's pid (for /proc/<pid>/status), so it
// spawns the binaries itself with the same CLI contract as the e2e helpers:
// `sockeye-testserver <mode> --port 0 ...` prints `listening on HOST:PORT`,
// `sockeye-chat --listen 127.0.0.1:0` prints `listening on http://HOST:PORT`.

import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(here, "..", "..", "..");
const CLIENT_DIST = path.join(REPO_ROOT, "e2e", "node_modules", "socket.io-client", "dist");

const STARTUP_TIMEOUT = 20_000;
const SHUTDOWN_TIMEOUT = 10_000;

const live = new Set();
process.on("exit", () => {
  for (const child of live) {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
});

function binary(envName, fallback) {
  const bin = process.env[envName] || path.join(REPO_ROOT, "target", "debug", fallback);
  if (!fs.existsSync(bin)) {
    throw new Error(`${fallback} not found at ${bin}: build it or set ${envName}`);
  }
  return bin;
}

/**
 * Starts a server. `kind`: `engineio`, `socketio-app` (sockeye-testserver
 * modes) or `chat` (sockeye-chat). Resolves to
 * {kind, url, host, port, pid, alive(), stderr(), stop()}.
 */
export async function startTarget(kind, args = []) {
  let command;
  let argv;
  let env = process.env;
  if (kind === "chat") {
    command = binary("SOCKEYE_CHAT", "sockeye-chat");
    argv = ["--listen", "127.0.0.1:0", ...args];
    env = { ...process.env, SOCKEYE_CHAT_CLIENT_DIST: CLIENT_DIST, RUST_LOG: process.env.RUST_LOG || "warn" };
  } else {
    command = binary("SOCKEYE_TESTSERVER", "sockeye-testserver");
    argv = [kind, "--host", "127.0.0.1", "--port", "0", ...args];
  }
  const child = spawn(command, argv, { stdio: ["ignore", "pipe", "pipe"], env });
  live.add(child);
  let stderr = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk) => {
    stderr += chunk;
    if (stderr.length > 1_000_000) stderr = stderr.slice(-500_000);
    if (process.env.E2E_VERBOSE) process.stderr.write(chunk);
  });
  let exitStatus = null;
  const exited = new Promise((resolve) => {
    child.once("exit", (code, signal) => {
      live.delete(child);
      exitStatus = { code, signal };
      resolve(exitStatus);
    });
    child.once("error", (err) => {
      live.delete(child);
      exitStatus = { code: null, signal: null, error: err.message };
      resolve(exitStatus);
    });
  });

  const address = await new Promise((resolve, reject) => {
    let buffered = "";
    const timer = setTimeout(() => reject(new Error(`${kind} not ready in ${STARTUP_TIMEOUT} ms; stderr:\n${stderr}`)), STARTUP_TIMEOUT);
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk) => {
      if (buffered === null) return;
      buffered += chunk;
      const nl = buffered.indexOf("\n");
      if (nl === -1) return;
      const line = buffered.slice(0, nl).trim();
      buffered = null;
      clearTimeout(timer);
      const m = /^listening on (?:http:\/\/)?(127\.0\.0\.1):(\d+)$/.exec(line);
      if (m) resolve({ host: m[1], port: Number(m[2]) });
      else reject(new Error(`unexpected first stdout line: ${JSON.stringify(line)}`));
    });
    exited.then((s) => {
      clearTimeout(timer);
      reject(new Error(`${kind} exited before it was ready (${JSON.stringify(s)}); stderr:\n${stderr}`));
    });
  }).catch((err) => {
    child.kill("SIGKILL");
    throw err;
  });

  return {
    kind,
    host: address.host,
    port: address.port,
    url: `http://${address.host}:${address.port}`,
    pid: child.pid,
    alive: () => exitStatus === null,
    exitStatus: () => exitStatus,
    stderr: () => stderr,
    async stop() {
      if (exitStatus) return exitStatus;
      child.kill("SIGTERM");
      let timer;
      const result = await Promise.race([
        exited,
        new Promise((resolve) => {
          timer = setTimeout(() => resolve("timeout"), SHUTDOWN_TIMEOUT);
        }),
      ]);
      clearTimeout(timer);
      if (result === "timeout") {
        child.kill("SIGKILL");
        await exited;
        throw new Error(`${kind} did not exit within ${SHUTDOWN_TIMEOUT} ms of SIGTERM`);
      }
      return result;
    },
  };
}

/** The resident set size of `pid` in KiB (VmRSS), or NaN when unreadable. */
export function rssKib(pid) {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
    const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}
