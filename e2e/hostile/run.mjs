#!/usr/bin/env node
// Runs the hostile-input suite (every *.test.js here, one file at a time so
// that RSS readings are not disturbed by another file's server), then prints
// the summary table: case, outcome, server RSS before/after, growth.
//
//   node e2e/hostile/run.mjs [file-or-name-filter ...]
//
// Needs SOCKEYE_TESTSERVER and SOCKEYE_CHAT (scripts/test sets them; without
// them target/debug/ binaries are used). Rows go to
// $CARGO_TARGET_DIR/hostile/results.jsonl (or target/hostile/), the table
// to summary.md next to it. Exits non-zero when a case failed.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { resultsFile } from "./lib/harness.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const filters = process.argv.slice(2);
const files = fs
  .readdirSync(here)
  .filter((f) => f.endsWith(".test.js"))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort()
  .map((f) => path.join(here, f));

const results = resultsFile();
fs.mkdirSync(path.dirname(results), { recursive: true });
fs.rmSync(results, { force: true });

const started = Date.now();
const run = spawnSync(process.execPath, ["--test", "--test-concurrency=1", "--test-reporter=spec", ...files], {
  stdio: "inherit",
  env: { ...process.env, HOSTILE_RESULTS: results },
});

const rows = fs.existsSync(results)
  ? fs
      .readFileSync(results, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l))
  : [];

const mb = (kib) => (Number.isFinite(kib) ? (kib / 1024).toFixed(1) : "?");
const lines = [
  "| # | group | case | outcome | RSS before (MB) | RSS after (MB) | peak (MB) | growth (MB) | ms |",
  "|---|---|---|---|---|---|---|---|---|",
];
rows.forEach((r, i) => {
  const outcome = r.outcome.replace(/\|/g, "\\|").slice(0, 140);
  lines.push(`| ${i + 1} | ${r.group} | ${r.name.replace(/\|/g, "\\|")} | ${outcome} | ${mb(r.rssBeforeKib)} | ${mb(r.rssAfterKib)} | ${mb(r.rssPeakKib)} | ${mb(r.growthKib)} | ${r.ms} |`);
});
const failed = rows.filter((r) => !r.ok);
const largest = rows.reduce((m, r) => (Number.isFinite(r.growthKib) && (!m || r.growthKib > m.growthKib) ? r : m), null);
const summary = [
  `hostile cases: ${rows.length}, passed ${rows.length - failed.length}, failed ${failed.length}`,
  largest ? `largest RSS growth: ${mb(largest.growthKib)} MB (${largest.group} / ${largest.name})` : "largest RSS growth: n/a",
  `wall time: ${((Date.now() - started) / 1000).toFixed(0)} s`,
];
if (failed.length) summary.push("failed cases:", ...failed.map((r) => `  - ${r.group} / ${r.name}: ${r.outcome}`));

const table = lines.join("\n");
fs.writeFileSync(path.join(path.dirname(results), "summary.md"), `${table}\n\n${summary.join("\n")}\n`);
console.log(`\n${table}\n`);
console.log(summary.join("\n"));
console.log(`(rows: ${results})`);

process.exit(run.status === 0 && failed.length === 0 ? 0 : 1);
