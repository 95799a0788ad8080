/**
 * pnpm bench:query — the query app's canonical dashboard questions on a seeded embedded engine.
 *
 *   seed:    N inference events generated engine-side (INSERT … SELECT FROM numbers(), 1M rows per
 *            statement) with realistic cardinalities: 50 models, 200 projects, 500 endpoints (each
 *            endpoint in one project, serving one model), 300 API keys, 2,000 users, over the 30
 *            days before the run's "now" (UTC midnight of today), in arrival order (uniform in time,
 *            up to a minute of jitter) as a collector receives them: each statement covers its own
 *            stretch of time, so the 5-minute view writes ~40k rollup rows per million events instead
 *            of ~1M for events scattered over the month (8.6× faster seeding, measured). The materialized views fill the
 *            rollups exactly as for collector inserts; the app's clock is the run's "now" (the last
 *            event arrives seconds before it), so the questions that end 1 s before it end at now,
 *            after the newest event, as a dashboard's do; the rollups are then merged (OPTIMIZE … FINAL),
 *            as background merges would do over time. A seeded folder is reused by later runs.
 *   measure: every question over HTTP against the app in this process (the production path:
 *            validation, planner, engine, assembly, JSON), three ways in the same run:
 *              uncached  — cache TTL 0, planner on (rollups + raw edges);
 *              cached    — Redis (REDIS_URL, default redis://127.0.0.1:6379; memory LRU if unreachable);
 *              raw       — the same app with the planner forced to the raw table;
 *            p50 / p95 per question, the engine's estimate of rows and bytes read (EXPLAIN ESTIMATE,
 *            bytes from each table's average on-disk row size), the brotli response size, and the
 *            raw/uncached ratio, and how many uncached runs had a background merge running just
 *            before or after them (and their p50). Then autocannon (separate process) on one cached
 *            question.
 *
 * Flags: --events 10000000 | --big (100M) · --runs 10 · --cached-runs 200 · --raw-runs 3
 *        --connections 1000 · --duration 10 · --data-dir DIR · --skip-autocannon
 *        --load-question 2 (which question autocannon repeats) · --only-load (skip the question table)
 *        --only 1,6 (run these questions only; 9–11 are 3–5 ending 1 s early) · --seed-only (seed the folder, print table sizes, stop)
 *        --fresh (seed in 10k-row inserts as a collector writes and leave the rollups to background
 *        merges: the questions then read unmerged parts; with its own --data-dir)
 * Environment: QUERY_MAX_MEMORY_BYTES (raise the memory guard for --big), HTTP_REQUESTS_PER_TURN
 *        (the host's per-turn dispatch budget; 0 = off, to compare)
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import type { AddressInfo } from "node:net";
import { parseArgs } from "node:util";
import { SingleBar, Presets } from "cli-progress";
import {
  clickhouseConfigSchema,
  createClickHouse,
  migrate,
  renderContextFrom,
  type ClickHouse,
} from "@budmetrics/clickhouse";
import { loadConfig } from "@budmetrics/config";
import { createHost, createRegistry, hostSettings, serverConfigSchema } from "@budmetrics/http";
import { createSilentLogger } from "@budmetrics/logger";
import { Tables, toNumber } from "@budmetrics/schema";
import {
  createAnalyticsService,
  createCache,
  createQueryApp,
  parseAnalyticsRequest,
  queryConfigSchema,
} from "@budmetrics/query";

const { values: flags } = parseArgs({
  options: {
    events: { type: "string" },
    big: { type: "boolean", default: false },
    runs: { type: "string", default: "10" },
    "cached-runs": { type: "string", default: "200" },
    "raw-runs": { type: "string", default: "3" },
    connections: { type: "string", default: "1000" },
    duration: { type: "string", default: "10" },
    "timeout-s": { type: "string", default: "10" },
    "data-dir": { type: "string" },
    "skip-autocannon": { type: "boolean", default: false },
    "only-load": { type: "boolean", default: false },
    fresh: { type: "boolean", default: false },
    "seed-only": { type: "boolean", default: false },
    only: { type: "string" },
    "load-question": { type: "string", default: "2" },
  },
});
const EVENTS = Number(flags.events ?? (flags.big ? 100_000_000 : 10_000_000));
const RUNS = Number(flags.runs);
const CACHED_RUNS = Number(flags["cached-runs"]);
const RAW_RUNS = Number(flags["raw-runs"]);
const CONNECTIONS = Number(flags.connections);
const DURATION_S = Number(flags.duration);
for (const [k, v] of Object.entries({ EVENTS, RUNS, CACHED_RUNS, RAW_RUNS, CONNECTIONS, DURATION_S })) {
  if (!Number.isInteger(v) || v <= 0) throw new Error(`${k} must be a positive integer`);
}
const DATA_DIR = flags["data-dir"] ?? path.join(os.tmpdir(), `bm-query-bench-${EVENTS}`);
const DAY = 86_400_000;
const NOW = Math.floor(Date.now() / DAY) * DAY;
const SPAN_DAYS = 30;
// --fresh: as a collector writes (10k-row inserts, one part each), rollups left to background merges.
const CHUNK = flags.fresh ? 10_000 : 1_000_000;
/** Seeds written before events were generated in arrival order are not reused. */
const SEED_ORDER = flags.fresh ? "arrival, fresh" : "arrival";

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
const ms = (n: number) => (n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : Math.round(n).toString());
function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}
const iso = (t: number) => new Date(t).toISOString();

/** Engine-side generator: one statement inserts `n` events numbered from `start`. */
function seedSql(db: string, start: number, n: number, fromMs: number): string {
  const uuid = (kind: number, expr: string) =>
    `toUUID(concat('0000000${kind}-0000-4000-8000-', leftPad(toString(${expr}), 12, '0')))`;
  return `INSERT INTO ${db}.${Tables.inferenceEvents}
  (inference_id, project_id, endpoint_id, model_id, is_success, request_arrival_time, request_forward_time,
   request_ip, cost, api_key_id, user_id, api_key_project_id, status_code, model_name, model_provider,
   project_name, endpoint_name, endpoint_type, input_tokens, output_tokens, response_time_ms, ttft_ms,
   cached, finish_reason, cluster_id, event_id, event_source)
SELECT
  generateUUIDv4(number) AS inference_id,
  ${uuid(2, "ep % 200")} AS project_id,
  ${uuid(3, "ep")} AS endpoint_id,
  ${uuid(1, "model")} AS model_id,
  r1 % 100 < 95 AS is_success,
  fromUnixTimestamp64Milli(toInt64(${fromMs} + intDiv(number * ${SPAN_DAYS * DAY - 60_000}, ${EVENTS}) + r2 % 60000), 'UTC') AS request_arrival_time,
  request_arrival_time + toIntervalMillisecond(r1 % 50) AS request_forward_time,
  toIPv6(IPv4NumToString(toUInt32(167772160 + r3 % 65536))) AS request_ip,
  toDecimal64((r3 % 1000000) / 1e9, 9) AS cost,
  ${uuid(4, "key")} AS api_key_id,
  ${uuid(5, "r4 % 2000")} AS user_id,
  ${uuid(2, "key % 200")} AS api_key_project_id,
  if(is_success, 200, 500) AS status_code,
  concat('model-', toString(model)) AS model_name,
  ['openai', 'vllm', 'anthropic', 'bud'][model % 4 + 1] AS model_provider,
  concat('project-', toString(ep % 200)) AS project_name,
  concat('endpoint-', toString(ep)) AS endpoint_name,
  ['chat', 'completion', 'embedding', 'audio_transcription', 'image_generation', 'moderation'][ep % 6 + 1] AS endpoint_type,
  toUInt32(r4 % 2000) AS input_tokens,
  toUInt32(if(is_success, r5 % 1000, 0)) AS output_tokens,
  if(r6 % 100 < 5, NULL, round(50 + (r6 % 10000) * (r5 % 10000) / 20000.0, 3)) AS response_time_ms,
  if(r6 % 100 < 5, NULL, round((50 + (r6 % 10000) * (r5 % 10000) / 20000.0) * (r3 % 1000) / 1000.0, 3)) AS ttft_ms,
  r5 % 10 = 0 AS cached,
  if(is_success, 'stop', NULL) AS finish_reason,
  ['production', 'staging', 'edge'][ep % 3 + 1] AS cluster_id,
  toString(inference_id) AS event_id,
  'bench' AS event_source
FROM (
  SELECT number,
    sipHash64(number, 1) AS r1, sipHash64(number, 2) AS r2, sipHash64(number, 3) AS r3,
    sipHash64(number, 4) AS r4, sipHash64(number, 5) AS r5, sipHash64(number, 6) AS r6,
    toUInt32(sipHash64(number, 7) % 500) AS ep,
    toUInt32(sipHash64(ep, 8) % 50) AS model,
    -- A key belongs to one project and calls that project's endpoints (keys 200..299 are second keys of projects 0..99).
    toUInt32(if(ep % 200 < 100 AND sipHash64(number, 9) % 2 = 1, ep % 200 + 200, ep % 200)) AS key
  FROM numbers(${start}, ${n})
)
SETTINGS max_insert_threads = 2, max_threads = 2`;
}

async function openEngine(): Promise<ClickHouse> {
  const config = loadConfig(clickhouseConfigSchema, {
    DATA_DIR,
    CLICKHOUSE_DATABASE: "bm_query_bench",
    RAW_DATA_RETENTION_DAYS: "0",
    METRICS_RETENTION_DAYS: "0",
    AGGREGATED_DATA_RETENTION_DAYS: "0",
    QUARANTINE_RETENTION_DAYS: "0",
    CLICKHOUSE_REQUEST_TIMEOUT_MS: "600000",
  });
  const log = createSilentLogger();
  const ch = await createClickHouse(config, log);
  await migrate(ch, { ctx: renderContextFrom(config), log });
  return ch;
}

async function seed(ch: ClickHouse): Promise<void> {
  const db = ch.database;
  const marker = path.join(DATA_DIR, "bench-seed.json");
  if (fs.existsSync(marker)) {
    const m = JSON.parse(fs.readFileSync(marker, "utf8")) as {
      events: number;
      fromMs: number;
      order?: string;
    };
    if (m.events === EVENTS && m.fromMs === NOW - SPAN_DAYS * DAY && m.order === SEED_ORDER) {
      console.log(`reusing seeded folder ${DATA_DIR} (${fmt(EVENTS)} events)`);
      return;
    }
    throw new Error(
      `${DATA_DIR} holds another seed (${m.events} events from ${iso(m.fromMs)}, ${m.order ?? "scattered"}); pass another --data-dir`,
    );
  }
  const existing = toNumber(
    (await ch.query<{ n: number }>(`SELECT count() AS n FROM ${db}.${Tables.inferenceEvents}`))[0]?.n,
  );
  if (existing > 0)
    throw new Error(`${DATA_DIR} already has ${existing} rows but no seed marker; pass another --data-dir`);
  const fromMs = NOW - SPAN_DAYS * DAY;
  console.log(`seeding ${fmt(EVENTS)} events over ${SPAN_DAYS} days into ${DATA_DIR}`);
  const bar = new SingleBar(
    {
      format: "seed [{bar}] {percentage}% | {value}/{total} events | {rate} ev/s | eta {eta}s",
      noTTYOutput: true,
      notTTYSchedule: 10_000,
    },
    Presets.shades_classic,
  );
  bar.start(EVENTS, 0, { rate: "0" });
  const started = performance.now();
  for (let start = 0; start < EVENTS; start += CHUNK) {
    const n = Math.min(CHUNK, EVENTS - start);
    await ch.command(seedSql(db, start, n, fromMs), undefined, { timeoutMs: 600_000 });
    bar.update(start + n, { rate: fmt((start + n) / ((performance.now() - started) / 1000)) });
  }
  bar.stop();
  const seedS = (performance.now() - started) / 1000;
  console.log(`seeded in ${seedS.toFixed(1)} s (${fmt(EVENTS / seedS)} events/s through the rollup views)`);
  const t = performance.now();
  if (!flags.fresh) {
    await ch.command(`OPTIMIZE TABLE ${db}.${Tables.inferenceRollup} FINAL`, undefined, {
      timeoutMs: 1_800_000,
    });
    console.log(`rollups merged (OPTIMIZE FINAL) in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }
  fs.writeFileSync(marker, JSON.stringify({ events: EVENTS, fromMs, order: SEED_ORDER }));
}

interface Question {
  name: string;
  body: Record<string, unknown>;
  runs?: number;
}

function questions(): Question[] {
  const to = iso(NOW);
  const d7 = iso(NOW - 7 * DAY);
  const d30 = iso(NOW - 30 * DAY);
  const base: Question[] = [
    {
      name: "hourly over 7 days",
      body: {
        metrics: ["request_count", "success_request", "latency", "cost"],
        from_date: d7,
        to_date: to,
        frequency_unit: "hour",
      },
    },
    {
      name: "daily over 30 days",
      body: {
        metrics: ["request_count", "input_token", "output_token", "cost", "ttft"],
        from_date: d30,
        to_date: to,
        frequency_unit: "day",
      },
    },
    {
      name: "p95 latency by model (daily, 30 d)",
      body: {
        metrics: ["latency"],
        time_range: { from_date: d30, to_date: to },
        interval: "daily",
        group_by: ["model"],
        aggregation: { type: "percentile", percentile: 95 },
      },
    },
    {
      name: "top-10 endpoints by cost (daily, 30 d)",
      body: {
        metrics: ["cost", "request_count"],
        from_date: d30,
        to_date: to,
        frequency_unit: "day",
        group_by: ["endpoint"],
        topk: 10,
      },
    },
    {
      name: "previous-period comparison (daily, 7 d)",
      body: {
        metrics: ["request_count", "latency"],
        time_range: { from_date: d7, to_date: to },
        interval: "daily",
        comparison: { type: "previous_period", periods: 1 },
      },
    },
  ];
  return [
    ...base,
    // Dashboards end their range at now, between bucket marks: the plan adds finer tiers and raw rows.
    {
      name: "hourly over 7 days, ending 1 s before the hour",
      body: {
        metrics: ["request_count", "success_request", "latency", "cost"],
        from_date: d7,
        to_date: iso(NOW - 1000),
        frequency_unit: "hour",
      },
    },
    {
      name: "daily over 30 days, ending 1 s before midnight",
      body: {
        metrics: ["request_count", "input_token", "output_token", "cost", "ttft"],
        from_date: d30,
        to_date: iso(NOW - 1000),
        frequency_unit: "day",
      },
    },
    {
      name: "13-month daily concurrency by model/project/endpoint",
      body: {
        metrics: ["concurrent_requests"],
        from_date: iso(NOW - 395 * DAY),
        to_date: to,
        frequency_unit: "day",
        group_by: ["model", "project", "endpoint"],
      },
      runs: 3,
    },
    // The other dashboard questions ending at now too (9–11): each against its aligned form above.
    ...[2, 3, 4].map((i) => endingEarly(base[i]!)),
  ];
}

/** The same question ending 1 s before its aligned end, as a dashboard that ends at now asks it. */
function endingEarly(q: Question): Question {
  const body = structuredClone(q.body);
  const early = iso(NOW - 1000);
  if (body.time_range) (body.time_range as Record<string, unknown>).to_date = early;
  else body.to_date = early;
  return { name: `${q.name}, ending 1 s early`, body };
}

async function startServer(ch: ClickHouse, env: Record<string, string>, forceRaw = false) {
  const config = loadConfig(queryConfigSchema, env);
  const log = createSilentLogger();
  const registry = createRegistry(false);
  const cache = config.REDIS_URL ? createCache(config, log) : undefined;
  const app = await createQueryApp({
    ch,
    log,
    config,
    registry,
    ...(cache ? { cache } : {}),
    now: () => NOW,
    forceRaw,
  });
  // HTTP_REQUESTS_PER_TURN=0 from the environment turns the per-turn dispatch budget off (comparison).
  const settings = hostSettings(loadConfig(serverConfigSchema(0), env));
  const server = http.createServer(createHost({ apps: [app], log, registry, ...settings }));
  server.keepAliveTimeout = 65_000;
  // 1,000 clients connect at once: a listen backlog above Node's default 511 (somaxconn here is 4096).
  await new Promise<void>((r) => server.listen({ port: 0, host: "127.0.0.1", backlog: 4096 }, () => r()));
  const port = (server.address() as AddressInfo).port;
  // When each connection was accepted: a busy Node server accepts one per event-loop turn (libuv ≥ 1.45).
  const acceptedAt: number[] = [];
  server.on("connection", () => acceptedAt.push(performance.now()));
  return {
    port,
    acceptedAt,
    async close() {
      await app.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

/** One POST; returns time to the last byte, status, wire bytes and X-Query-Plan / X-Cache. */
function post(port: number, body: string, encoding = "identity") {
  return new Promise<{ ms: number; status: number; bytes: number; plan: string; cache: string }>(
    (resolve, reject) => {
      const t0 = performance.now();
      const req = http.request(
        {
          host: "127.0.0.1",
          port,
          path: "/observability/analytics",
          method: "POST",
          agent,
          headers: {
            "content-type": "application/json",
            "accept-encoding": encoding,
            "content-length": Buffer.byteLength(body),
          },
        },
        (res) => {
          let bytes = 0;
          res.on("data", (c: Buffer) => (bytes += c.length));
          res.on("end", () =>
            resolve({
              ms: performance.now() - t0,
              status: res.statusCode ?? 0,
              bytes,
              plan: String(res.headers["x-query-plan"] ?? ""),
              cache: String(res.headers["x-cache"] ?? ""),
            }),
          );
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      req.end(body);
    },
  );
}

/** Background merges running in the engine now (any table of the folder). */
async function mergesRunning(ch: ClickHouse): Promise<number> {
  const [m] = await ch.query<{ n: number }>("SELECT count() AS n FROM system.merges");
  return toNumber(m?.n);
}

async function timed(port: number, body: string, runs: number, expectCache?: string, ch?: ClickHouse) {
  const times: number[] = [];
  // With `ch`: whether a background merge ran just before or after each run (outside its time).
  const withMerge: number[] = [];
  let plan = "";
  for (let i = 0; i < runs; i++) {
    const before = ch ? await mergesRunning(ch) : 0;
    const r = await post(port, body);
    if (ch && before + (await mergesRunning(ch)) > 0) withMerge.push(r.ms);
    if (r.status !== 200) throw new Error(`status ${r.status} for ${body.slice(0, 120)}`);
    if (expectCache && r.cache !== expectCache) {
      const stats = await new Promise<string>((resolve) =>
        http.get({ host: "127.0.0.1", port, path: "/observability/health", agent }, (res) => {
          let t = "";
          res.on("data", (c: Buffer) => (t += c.toString()));
          res.on("end", () => resolve(t));
        }),
      );
      throw new Error(`expected X-Cache ${expectCache}, got ${r.cache} at run ${i} (health: ${stats})`);
    }
    times.push(r.ms);
    plan = r.plan;
  }
  times.sort((a, b) => a - b);
  withMerge.sort((a, b) => a - b);
  const merges = withMerge.length > 0 ? `${withMerge.length} (p50 ${ms(pct(withMerge, 50))})` : "0";
  return { p50: pct(times, 50), p95: pct(times, 95), plan, merges };
}

/** Active parts of the raw table and the rollup, and merges running (a fresh folder merges as it is read). */
async function partsAndMerges(ch: ClickHouse): Promise<string> {
  const parts = await ch.query<{ table: string; n: number }>(
    "SELECT table, count() AS n FROM system.parts WHERE database = {db:String} AND active GROUP BY table ORDER BY table",
    { db: ch.database },
  );
  const merges = await ch.query<{ n: number }>(
    "SELECT count() AS n FROM system.merges WHERE database = {db:String}",
    {
      db: ch.database,
    },
  );
  return `${parts.map((p) => `${p.table} ${toNumber(p.n)} parts`).join(", ")}; ${toNumber(merges[0]?.n)} merges running`;
}

/**
 * The last `n` uncached requests' split from the app's own perf records: engine time (its
 * statements) and everything else the app did (validation, planning, assembly, JSON), medians.
 */
async function engineSplit(port: number, n: number) {
  const report = await new Promise<string>((resolve, reject) =>
    http
      .get({ host: "127.0.0.1", port, path: "/metrics/query-performance", agent }, (res) => {
        let t = "";
        res.on("data", (c: Buffer) => (t += c.toString()));
        res.on("end", () => resolve(t));
      })
      .on("error", reject),
  );
  const recs = (
    JSON.parse(report) as { recent_slow: Array<{ total_ms: number; engine_ms: number }> }
  ).recent_slow.slice(0, n);
  const med = (xs: number[]) =>
    pct(
      [...xs].sort((a, b) => a - b),
      50,
    );
  return {
    engine: med(recs.map((r) => r.engine_ms)),
    outside: med(recs.map((r) => r.total_ms - r.engine_ms)),
  };
}

/** EXPLAIN ESTIMATE of the statements one question runs (rows) and bytes from each table's average row size. */
async function readEstimate(
  ch: ClickHouse,
  body: Record<string, unknown>,
  forceRaw: boolean,
  rowBytes: Map<string, number>,
) {
  const captured: Array<{ query: string; query_params: Record<string, unknown> }> = [];
  const sql = {
    db: ch.database,
    async run<T>(_label: string, q: { query: string; query_params: Record<string, unknown> }): Promise<T[]> {
      captured.push(q);
      return ch.query<T>(q.query, q.query_params);
    },
  };
  const q = parseAnalyticsRequest(body as never, NOW, { maxRangeDays: 400 });
  await createAnalyticsService(sql, {
    maxBuckets: 10_000,
    maxResultRows: 1_000_000,
    concurrencyLookbackMs: 3_600_000,
    ...(forceRaw ? { forceRaw: true } : {}),
    // The looks the app takes (its clock, and prompt traffic left out of the Bud shape by default).
  }).run(q, {}, { nowMs: NOW, leavePromptsOut: q.shape === "bud" });
  let rows = 0;
  let bytes = 0;
  for (const s of captured) {
    const est = await ch.query<{ table: string; rows: number }>(
      `EXPLAIN ESTIMATE ${s.query}`,
      s.query_params,
    );
    for (const e of est) {
      rows += toNumber(e.rows);
      bytes += toNumber(e.rows) * (rowBytes.get(e.table) ?? 0);
    }
  }
  return { rows, bytes };
}

function runAutocannon(port: number, body: string): Promise<Record<string, unknown>> {
  const bin = path.join(__dirname, "..", "node_modules", ".bin", "autocannon");
  return new Promise((resolve, reject) => {
    const child = spawn(
      bin,
      [
        "-c",
        String(CONNECTIONS),
        "-d",
        String(DURATION_S),
        "-t",
        String(Number(flags["timeout-s"])),
        "-m",
        "POST",
        "-H",
        "content-type=application/json",
        "-b",
        body,
        "-j",
        `http://127.0.0.1:${port}/observability/analytics`,
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    let out = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    child.on("error", reject);
    child.on("exit", () => {
      try {
        resolve(JSON.parse(out) as Record<string, unknown>);
      } catch (err) {
        reject(err);
      }
    });
  });
}

async function redisUrl(): Promise<string | null> {
  const url = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
  const { Redis } = await import("ioredis");
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 500 });
  try {
    await r.connect();
    await r.ping();
    return url;
  } catch {
    return null;
  } finally {
    r.disconnect();
  }
}

async function main(): Promise<void> {
  console.log(
    `query benchmark: ${fmt(EVENTS)} events, ${os.cpus().length} CPUs, node ${process.version}, now = ${iso(NOW)}`,
  );
  const ch = await openEngine();
  await seed(ch);
  const sizes = await ch.query<{ table: string; rows: number; bytes: number }>(
    "SELECT table, sum(rows) AS rows, sum(bytes_on_disk) AS bytes FROM system.parts WHERE database = {db:String} AND active GROUP BY table ORDER BY table",
    { db: ch.database },
  );
  const rowBytes = new Map<string, number>();
  for (const s of sizes) {
    rowBytes.set(s.table, toNumber(s.rows) === 0 ? 0 : toNumber(s.bytes) / toNumber(s.rows));
    if (toNumber(s.rows) > 0)
      console.log(
        `  ${s.table.padEnd(28)} ${fmt(toNumber(s.rows)).padStart(14)} rows ${(toNumber(s.bytes) / 1e6).toFixed(1).padStart(9)} MB`,
      );
  }
  if (flags["seed-only"]) {
    await ch.close();
    return;
  }

  const redis = await redisUrl();
  const baseEnv = {
    ANALYTICS_MAX_RANGE_DAYS: "400",
    QUERY_MAX_EXECUTION_SECONDS: "600",
    // The per-statement memory guard (default 2 GB) may be raised for big seeds: QUERY_MAX_MEMORY_BYTES=…
    ...(process.env.QUERY_MAX_MEMORY_BYTES
      ? { QUERY_MAX_MEMORY_BYTES: process.env.QUERY_MAX_MEMORY_BYTES }
      : {}),
    LOG_LEVEL: "silent",
    ...(process.env.HTTP_REQUESTS_PER_TURN
      ? { HTTP_REQUESTS_PER_TURN: process.env.HTTP_REQUESTS_PER_TURN }
      : {}),
  };
  // Every uncached request's perf record is kept (QUERY_SLOW_MS=0): engine time vs the rest.
  const uncached = await startServer(ch, { ...baseEnv, QUERY_CACHE_TTL_SECONDS: "0", QUERY_SLOW_MS: "0" });
  const raw = await startServer(ch, { ...baseEnv, QUERY_CACHE_TTL_SECONDS: "0" }, true);
  const cached = await startServer(ch, {
    ...baseEnv,
    QUERY_CACHE_TTL_SECONDS: "3600",
    QUERY_CACHE_KEY_PREFIX: `budmetrics:bench:${process.pid}:`,
    QUERY_CACHE_MAX_ENTRY_BYTES: String(256 * 1024 * 1024),
    // The 13-month answer is tens of MB: give Redis time to take it (the default 150 ms is for dashboards).
    QUERY_CACHE_TIMEOUT_MS: "20000",
    ...(redis ? { REDIS_URL: redis } : {}),
  });
  console.log(
    `cache backend for the cached runs: ${redis ? `redis (${redis})` : "memory LRU (Redis unreachable)"}`,
  );

  const rows: string[][] = [];
  const picked = flags.only ? flags.only.split(",").map((n) => questions()[Number(n) - 1]!) : questions();
  for (const q of flags["only-load"] ? [] : picked) {
    const body = JSON.stringify(q.body);
    const runs = q.runs ?? RUNS;
    if (flags.fresh) console.log(`  ${q.name}: ${await partsAndMerges(ch)}`);
    await post(uncached.port, body); // warm-up (page cache, JIT)
    const u = await timed(uncached.port, body, runs, undefined, ch);
    const split = await engineSplit(uncached.port, Math.min(runs, 100));
    // Fill the cache; a fill can be lost (a cache call over its timeout is dropped, by design): retry.
    for (let i = 0; i < 3 && (await post(cached.port, body)).cache !== "HIT"; i++);
    const c = await timed(cached.port, body, q.runs ? Math.min(CACHED_RUNS, q.runs) : CACHED_RUNS, "HIT");
    const r = await timed(raw.port, body, Math.min(RAW_RUNS, runs));
    const br = await post(uncached.port, body, "br");
    const identity = await post(uncached.port, body, "identity");
    const est = await readEstimate(ch, q.body, false, rowBytes);
    const estRaw = await readEstimate(ch, q.body, true, rowBytes);
    rows.push([
      q.name,
      u.plan,
      ms(u.p50),
      ms(u.p95),
      ms(c.p50),
      ms(c.p95),
      ms(r.p50),
      `${(r.p50 / u.p50).toFixed(1)}×`,
      `${ms(split.engine)} / ${ms(split.outside)}`,
      u.merges,
      fmt(est.rows),
      `${(est.bytes / 1e6).toFixed(1)} MB`,
      fmt(estRaw.rows),
      `${(identity.bytes / 1024).toFixed(1)} KB → ${(br.bytes / 1024).toFixed(1)} KB`,
    ]);
    console.log(
      `  done: ${q.name} (uncached p95 ${ms(u.p95)} ms, cached p95 ${ms(c.p95)} ms, raw p50 ${ms(r.p50)} ms)`,
    );
  }
  const header = [
    "question",
    "plan",
    "uncached p50 ms",
    "p95 ms",
    "cached p50 ms",
    "p95 ms",
    "raw p50 ms",
    "raw/uncached",
    "engine / rest p50 ms",
    "runs beside a merge (p50 ms)",
    "rows read (est.)",
    "bytes read (est.)",
    "raw rows read",
    "response → brotli",
  ];
  if (rows.length === 0) rows.push(header.map(() => "-"));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ");
  console.log(`\n${line(header)}\n${widths.map((w) => "-".repeat(w)).join("-|-")}`);
  for (const r of rows) console.log(line(r));

  if (!flags["skip-autocannon"]) {
    const lq = questions()[Number(flags["load-question"]) - 1];
    if (!lq) throw new Error("--load-question must be 1..6");
    const body = JSON.stringify(lq.body);
    await post(cached.port, body);
    const probe = await post(cached.port, body);
    console.log(
      `\nautocannon: ${CONNECTIONS} connections, ${DURATION_S} s, cached "${lq.name}" ` +
        `(${(probe.bytes / 1024).toFixed(1)} KB answer, X-Cache ${probe.cache})`,
    );
    cached.acceptedAt.length = 0;
    const res = (await runAutocannon(cached.port, body)) as {
      requests: { average: number; total: number };
      latency: { p50: number; p97_5: number; p99: number };
      errors: number;
      timeouts: number;
      non2xx: number;
    };
    console.log(
      `  ${fmt(res.requests.average)} req/s average, ${fmt(res.requests.total)} requests, latency p50 ${res.latency.p50} ms ` +
        `p97.5 ${res.latency.p97_5} ms p99 ${res.latency.p99} ms, errors ${res.errors}, timeouts ${res.timeouts}, non-2xx ${res.non2xx}`,
    );
    const first = Math.min(...cached.acceptedAt);
    const accepted = cached.acceptedAt.map((t) => t - first).sort((a, b) => a - b);
    const at = (p: number) =>
      ms(accepted[Math.min(accepted.length - 1, Math.floor(p * accepted.length))] ?? 0);
    console.log(
      `  ${fmt(accepted.length)} connections accepted; after the first: p50 ${at(0.5)} ms, ` +
        `p99 ${at(0.99)} ms, last ${at(1)} ms`,
    );
  }
  await cached.close();
  await raw.close();
  await uncached.close();
  agent.destroy();
  await ch.close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
