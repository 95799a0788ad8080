/**
 * pnpm bench:ingest — the collector's ingestion rate, measured the way its senders drive it, against
 * the straight-insert rate of the same rows, all in one run on a fresh embedded engine.
 *
 *   sidecar:   what production sees. Events are XADDed to a Redis stream as daprd publishes them, and
 *              a model of daprd's delivery path (test/support/dapr-sidecar: XREADGROUP poll loop,
 *              `concurrency` workers blocking per message, the default bulk subscriber with one bulk
 *              in flight, routing, per-entry statuses, XACK, the inbound retry policy, dead letters)
 *              delivers them to the collector over HTTP with the settings the project ships
 *              (components/*.yaml, GET /dapr/subscribe). Two phases:
 *                backlog — the stream is filled first, then the sidecar starts: drain rate;
 *                live    — the sidecar runs, a publisher adds events at a fixed rate: ack latency
 *                          (XACK time minus the time Redis stored the event).
 *   direct:    Dapr bulk envelopes POSTed straight to the collector, N in flight (what no sidecar
 *              does: the ceiling of the collector itself).
 *   straight:  the same number of rows from the same generator inserted with ch.insertJsonEachRow
 *              in batches of COLLECTOR_BATCH_MAX_ROWS, one at a time (the engine's own rate).
 *
 * Processes, as in production: this one is the publisher and load generator (every body and event
 * is built before its clock starts), a forked child is the collector with its embedded engine, a
 * second forked child is the sidecar. They share the machine's cores, as a pod's containers do.
 *
 * Flags: --events 100000 (events per run and phase) --runs 3 --spread-seconds 300 (arrival times of a
 *        run span N seconds up to now; 2592000 = 30 days, a backfill) --shuffle (random time order)
 *        --v4-ids (random inference ids instead of the gateway's UUIDv7)
 *        --only sidecar|direct (skip the other mode; the straight insert always runs)
 *        direct: --entries 1000 (entries per POST) --concurrency 48 (POSTs in flight)
 *        sidecar: --policy ticker|window (daprd 1.17's bulk ticker, or ≥ 1.18's batch window)
 *                 --live-rate 1000 (events/s) --live-seconds 20 (0 = no live phase)
 *                 overrides of the shipped settings, printed as such: --sidecar-concurrency N
 *                 --queue-depth N --max-messages N --max-await-ms N --single (bulkSubscribe off: one
 *                 POST per message, `concurrency` of them in flight)
 *        --preload N (store N inferences with UUIDv7 ids over the 30 days before the window first, in
 *                 the engine: the identity check's cost at that table size is printed)
 *
 *   --otlp:    instead of the phases above, the gateway's spans: generated gateway traffic
 *              (test/support/otlp-gateway.ts: chat, streaming, failures, embeddings, audio, images,
 *              blocked, /v1/responses) cut into OTLP requests as an OpenTelemetry Collector's otlphttp
 *              exporter sends them (gzip protobuf, or --json), POSTed to /v1/traces on the forked
 *              collector, --concurrency (default 10, the exporter's sending-queue consumers) in flight.
 *              A request is answered after its complete records are committed, so the clock stops
 *              when the last one is answered: spans/s and inferences/s end to end, and the table must
 *              hold every inference exactly once. Flags: --requests 20000 (gateway requests per run)
 *              --batch 512 (spans per OTLP request) --json --shuffle (spans out of order across requests)
 *              --runs 3
 */
import { fork, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import type { AddressInfo } from "node:net";
import { parseArgs } from "node:util";
import zlib from "node:zlib";
import { Redis } from "ioredis";
import { SingleBar, Presets } from "cli-progress";
import { clickhouseConfigSchema, createClickHouse, migrate, renderContextFrom } from "@budmetrics/clickhouse";
import { collectorConfigSchema, createCollectorApp, createEventParser } from "@budmetrics/collector";
import { loadConfig } from "@budmetrics/config";
import { createHost, createRegistry } from "@budmetrics/http";
import { createSilentLogger } from "@budmetrics/logger";
import { INFERENCE_COLUMNS, Tables, toInferenceRow, toNumber, type InferenceData } from "@budmetrics/schema";
import {
  backlog,
  fetchSubscription,
  loadInboundPolicy,
  loadPubsub,
  publishAtRate,
  startSidecar,
  storedCloudEvent,
  xaddAll,
  type FlushPolicy,
  type RedisPubsubSettings,
  type Sidecar,
  type Subscription,
} from "../test/support/dapr-sidecar";
import { createCatalogue, generateInferences, inferenceCloudEvent } from "../test/support/generate";
import {
  encodeOtlpJson,
  encodeOtlpProtobuf,
  expectedRecords,
  exportRequests,
  generateGatewayRequests,
} from "../test/support/otlp-gateway";

const { values: flags } = parseArgs({
  options: {
    events: { type: "string", default: "100000" },
    runs: { type: "string", default: "3" },
    "spread-seconds": { type: "string", default: "300" },
    shuffle: { type: "boolean", default: false },
    "v4-ids": { type: "boolean", default: false },
    only: { type: "string" },
    entries: { type: "string", default: "1000" },
    concurrency: { type: "string" },
    policy: { type: "string", default: "ticker" },
    "live-rate": { type: "string", default: "1000" },
    "live-seconds": { type: "string", default: "20" },
    "sidecar-concurrency": { type: "string" },
    "queue-depth": { type: "string" },
    "max-messages": { type: "string" },
    "max-await-ms": { type: "string" },
    single: { type: "boolean", default: false },
    preload: { type: "string", default: "0" },
    otlp: { type: "boolean", default: false },
    requests: { type: "string", default: "20000" },
    batch: { type: "string", default: "512" },
    json: { type: "boolean", default: false },
  },
});
const positive = (name: string, v: string | undefined, allowZero = false) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < (allowZero ? 0 : 1))
    throw new Error(`--${name} must be an integer ≥ ${allowZero ? 0 : 1}`);
  return n;
};
const EVENTS = positive("events", flags.events);
const RUNS = positive("runs", flags.runs);
const SPREAD_SECONDS = positive("spread-seconds", flags["spread-seconds"]);
const ENTRIES = positive("entries", flags.entries);
const OTLP = flags.otlp;
const CONCURRENCY = positive("concurrency", flags.concurrency ?? (OTLP ? "10" : "48"));
const OTLP_REQUESTS = positive("requests", flags.requests);
const OTLP_BATCH = positive("batch", flags.batch);
const LIVE_RATE = positive("live-rate", flags["live-rate"]);
const LIVE_SECONDS = positive("live-seconds", flags["live-seconds"], true);
const PRELOAD = positive("preload", flags.preload, true);
const POLICY = flags.policy as FlushPolicy;
if (POLICY !== "ticker" && POLICY !== "window") throw new Error("--policy must be ticker or window");
const ONLY = flags.only;
if (ONLY !== undefined && ONLY !== "sidecar" && ONLY !== "direct")
  throw new Error("--only must be sidecar or direct");
const SIDECAR_OVERRIDES = {
  ...(flags["sidecar-concurrency"]
    ? { concurrency: positive("sidecar-concurrency", flags["sidecar-concurrency"]) }
    : {}),
  ...(flags["queue-depth"] ? { queueDepth: positive("queue-depth", flags["queue-depth"]) } : {}),
};
const BULK_OVERRIDES = {
  ...(flags["max-messages"] ? { maxMessagesCount: positive("max-messages", flags["max-messages"]) } : {}),
  ...(flags["max-await-ms"] ? { maxAwaitDurationMs: positive("max-await-ms", flags["max-await-ms"]) } : {}),
};
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
/** The bench's own stream: the shipped topic name would collide with anything else using this Redis. */
const TOPIC = `bench-ingest-${process.env.BENCH_TOPIC_SUFFIX ?? process.pid}`;

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}
const fmt = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "—");
const mb = (bytes: number) => Math.round(bytes / 1024 / 1024);

const CATALOGUE_SEED = 42;
type Phase = "direct" | "straight" | "backlog" | "live";
const PHASE_SEED: Record<Phase, number> = { direct: 1000, straight: 5000, backlog: 7000, live: 9000 };
const PHASES: Phase[] = ["direct", "straight", "backlog"];

/**
 * One phase's events in one run: its own stretch of the window (the phases and runs one after the
 * other up to now), in arrival order unless --shuffle.
 */
function phaseEvents(phase: Phase, run: number, windowEnd: number, count = EVENTS): InferenceData[] {
  const slot = phase === "live" ? 0 : 1 + run * PHASES.length + PHASES.indexOf(phase);
  const endMs = windowEnd - slot * SPREAD_SECONDS * 1000;
  const events = [
    ...generateInferences({
      seed: PHASE_SEED[phase] + run,
      count,
      startMs: endMs - SPREAD_SECONDS * 1000,
      endMs,
      catalogue: createCatalogue(CATALOGUE_SEED),
      idVersion: flags["v4-ids"] ? 4 : 7,
    }),
  ];
  if (!flags.shuffle) events.sort((a, b) => (a.request_arrival_time < b.request_arrival_time ? -1 : 1));
  return events;
}

// --- IPC ------------------------------------------------------------------------------------------
type ToCollector = { type: "straight"; run: number } | { type: "finish" };
type FromCollector =
  | { type: "ready"; port: number; rss: number; config: Record<string, unknown> }
  | { type: "straight-done"; seconds: number }
  | {
      type: "finished";
      stored: number;
      distinct: number;
      flushSeconds: number;
      flushCount: number;
      peakRss: number;
      activeParts: number;
      phasesMs: Record<string, number>;
      preloaded: number;
      otlpSpans: Record<string, number>;
    };
type ToSidecar = { type: "start"; appUrl: string } | { type: "stats" } | { type: "stop" };
type FromSidecar =
  | {
      type: "started";
      pubsub: RedisPubsubSettings;
      subscription: Subscription;
      inbound: ReturnType<typeof loadInboundPolicy>;
    }
  | {
      type: "stats";
      acked: number;
      bulkSizes: number[];
      bulkMs: number[];
      latencies: number[];
      postErrors: number;
      retries: number;
      deadLettered: number;
      redelivered: number;
      peakRss: number;
    }
  | { type: "stopped" };

function inbox<M extends { type: string }>(child: ChildProcess) {
  const box: M[] = [];
  const waiters: Array<() => void> = [];
  child.on("message", (m: M) => {
    box.push(m);
    waiters.splice(0).forEach((w) => w());
  });
  return async function receive<T extends M["type"]>(type: T): Promise<Extract<M, { type: T }>> {
    for (;;) {
      const i = box.findIndex((m) => m.type === type);
      if (i >= 0) return box.splice(i, 1)[0] as Extract<M, { type: T }>;
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
  };
}

// --- the collector process ------------------------------------------------------------------------
async function collectorProcess(windowEnd: number): Promise<void> {
  const send = (m: FromCollector) => process.send!(m);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "bm-bench-ingest-"));
  const log = createSilentLogger();
  const chConfig = loadConfig(clickhouseConfigSchema, {
    DATA_DIR: dataDir,
    CLICKHOUSE_DATABASE: "bench_collector",
    RAW_DATA_RETENTION_DAYS: "0",
    AGGREGATED_DATA_RETENTION_DAYS: "0",
  });
  const ch = await createClickHouse(chConfig, log);
  await migrate(ch, { ctx: renderContextFrom(chConfig), log });
  if (PRELOAD > 0) await preload(ch, PRELOAD, windowEnd - 30 * 86_400_000 - RUNS * 4 * SPREAD_SECONDS * 1000);

  // The shipped defaults, but for the bench's own topic (and whatever COLLECTOR_* the caller set).
  const env: Record<string, string> = { COLLECTOR_TOPIC: TOPIC };
  for (const [k, v] of Object.entries(process.env))
    if (k.startsWith("COLLECTOR_") && v !== undefined) env[k] = v;
  const config = loadConfig(collectorConfigSchema, env);
  const registry = createRegistry(false);
  const app = await createCollectorApp({ ch, log, config, registry });
  const server = http.createServer(createHost({ apps: [app], log, registry: createRegistry(false) }));
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  let peakRss = process.memoryUsage().rss;
  const rssTimer = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 100);
  send({
    type: "ready",
    port: (server.address() as AddressInfo).port,
    rss: peakRss,
    config: {
      COLLECTOR_INSERT_MIN_INTERVAL_MS: config.COLLECTOR_INSERT_MIN_INTERVAL_MS,
      COLLECTOR_BATCH_MAX_ROWS: config.COLLECTOR_BATCH_MAX_ROWS,
      COLLECTOR_MAX_BODY_BYTES: config.COLLECTOR_MAX_BODY_BYTES,
    },
  });

  process.on("message", (m: ToCollector) => {
    void (async () => {
      if (m.type === "straight") {
        const twin = phaseEvents("straight", m.run, windowEnd);
        const t1 = performance.now();
        for (let i = 0; i < twin.length; i += config.COLLECTOR_BATCH_MAX_ROWS) {
          const lines = twin
            .slice(i, i + config.COLLECTOR_BATCH_MAX_ROWS)
            .map((d) => JSON.stringify(toInferenceRow(d, { id: d.inference_id, source: "budgateway" })));
          await ch.insertJsonEachRow(
            Tables.inferenceEvents,
            Buffer.from(lines.join("\n") + "\n"),
            INFERENCE_COLUMNS,
          );
        }
        send({ type: "straight-done", seconds: (performance.now() - t1) / 1000 });
        return;
      }
      const [stored] = await ch.query<{ n: number; d: number }>(
        `SELECT count() AS n, uniqExact(inference_id) AS d FROM ${ch.database}.${Tables.inferenceEvents}`,
      );
      const [parts] = await ch.query<{ n: number }>(
        `SELECT count() AS n FROM system.parts WHERE database = {db:String} AND active`,
        { db: ch.database },
      );
      const phases = (
        await registry.getSingleMetricAsString("budmetrics_collector_write_phase_seconds")
      ).split("\n");
      const phasesMs: Record<string, number> = {};
      for (const phase of ["claims", "identity", "insert"]) {
        const pick = (suffix: string) =>
          phases
            .filter(
              (l) =>
                l.startsWith(`budmetrics_collector_write_phase_seconds_${suffix}{`) &&
                l.includes('kind="inference"') &&
                l.includes(`phase="${phase}"`),
            )
            .reduce((n, l) => n + Number(l.split(" ").pop()), 0);
        phasesMs[phase] = (pick("sum") / Math.max(1, pick("count"))) * 1000;
      }
      const flush = (
        await registry.getSingleMetricAsString("budmetrics_collector_flush_duration_seconds")
      ).split("\n");
      const metricValue = (suffix: string) =>
        flush
          .filter(
            (l) =>
              l.startsWith(`budmetrics_collector_flush_duration_seconds_${suffix}{`) &&
              l.includes('kind="inference"') &&
              l.includes('result="ok"'),
          )
          .reduce((n, l) => n + Number(l.split(" ").pop()), 0);
      clearInterval(rssTimer);
      app.stopAccepting();
      await app.drain();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await app.close();
      await ch.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
      const otlpMetrics = (
        await registry.getSingleMetricAsString("budmetrics_collector_otlp_spans_total").catch(() => "")
      )
        .split("\n")
        .filter((l) => l.startsWith("budmetrics_collector_otlp_spans_total{"));
      const otlpSpans: Record<string, number> = {};
      for (const l of otlpMetrics) {
        const m = /outcome="(\w+)"\} (\d+)/.exec(l);
        if (m) otlpSpans[m[1]!] = Number(m[2]);
      }
      send({
        type: "finished",
        otlpSpans,
        stored: toNumber(stored?.n),
        distinct: toNumber(stored?.d),
        flushSeconds: metricValue("sum"),
        flushCount: metricValue("count"),
        peakRss,
        activeParts: toNumber(parts?.n),
        phasesMs,
        preloaded: PRELOAD,
      });
      process.disconnect();
    })().catch((err: unknown) => {
      process.stderr.write(`collector process failed: ${err instanceof Error ? err.stack : String(err)}\n`);
      process.exit(1);
    });
  });
}

/**
 * N stored inferences before the window, generated in the engine (through the views, as if ingested):
 * UUIDv7 ids of their arrival times over 30 days ending at `endMs`.
 */
async function preload(ch: Awaited<ReturnType<typeof createClickHouse>>, n: number, endMs: number) {
  const startMs = endMs - 30 * 86_400_000;
  const chunk = 1_000_000;
  for (let from = 0; from < n; from += chunk) {
    const count = Math.min(chunk, n - from);
    await ch.command(
      `INSERT INTO ${ch.database}.${Tables.inferenceEvents}
         (inference_id, project_id, endpoint_id, model_id, is_success, request_arrival_time, request_forward_time,
          model_name, input_tokens, output_tokens, response_time_ms, event_id, event_source)
       SELECT
         toUUID(concat(substring(h, 1, 8), '-', substring(h, 9, 4), '-7', substring(h, 13, 3), '-8',
                       substring(h, 16, 3), '-', substring(h, 19, 12))) AS inference_id,
         toUUID(concat('00000002-0000-4000-8000-', leftPad(toString(ep % 20), 12, '0'))) AS project_id,
         toUUID(concat('00000003-0000-4000-8000-', leftPad(toString(ep), 12, '0'))) AS endpoint_id,
         toUUID(concat('00000001-0000-4000-8000-', leftPad(toString(ep % 10), 12, '0'))) AS model_id,
         true, fromUnixTimestamp64Milli(ms, 'UTC'), fromUnixTimestamp64Milli(ms, 'UTC'),
         concat('model-', toString(ep % 10)), 100, 200, 500.0, toString(inference_id), 'preload'
       FROM (
         SELECT number, toInt64(${startMs} + intDiv(number * ${30 * 86_400_000}, ${n})) AS ms,
                toUInt32(sipHash64(number) % 50) AS ep,
                concat(leftPad(lower(hex(toUInt64(ms))), 12, '0'), lower(hex(sipHash128(number)))) AS h
         FROM numbers(${from}, ${count})
       )`,
      undefined,
      { timeoutMs: 600_000 },
    );
  }
}

// --- the sidecar process --------------------------------------------------------------------------
async function sidecarProcess(): Promise<void> {
  const send = (m: FromSidecar) => process.send!(m);
  let sidecar: Sidecar | undefined;
  let latencies: number[] = [];
  let bulkSizes: number[] = [];
  let bulkMs: number[] = [];
  let peakRss = process.memoryUsage().rss;
  const rssTimer = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 100);
  process.on("message", (m: ToSidecar) => {
    void (async () => {
      if (m.type === "start") {
        const pubsub = { ...loadPubsub(), ...SIDECAR_OVERRIDES };
        // As daprd does at start-up: the app's own subscription, then the component files.
        const subscription = await fetchSubscription(m.appUrl, pubsub.name);
        subscription.bulkSubscribe = flags.single
          ? { enabled: false }
          : { enabled: true, ...subscription.bulkSubscribe, ...BULK_OVERRIDES };
        const inbound = loadInboundPolicy(pubsub.name);
        sidecar = await startSidecar({
          redisUrl: REDIS_URL,
          appUrl: m.appUrl,
          pubsub,
          inbound,
          subscription,
          flushPolicy: POLICY,
          onAck: (ms) => latencies.push(ms),
          onBulk: (b) => {
            if (b.attempt === 0) {
              bulkSizes.push(b.entries);
              bulkMs.push(b.durationMs);
            }
          },
        });
        send({ type: "started", pubsub, subscription, inbound });
      } else if (m.type === "stats") {
        const s = sidecar!.stats;
        send({
          type: "stats",
          acked: s.acked,
          bulkSizes,
          bulkMs,
          latencies,
          postErrors: s.postErrors,
          retries: s.retries,
          deadLettered: s.deadLettered,
          redelivered: s.redelivered,
          peakRss,
        });
        latencies = [];
        bulkSizes = [];
        bulkMs = [];
      } else {
        await sidecar?.stop();
        clearInterval(rssTimer);
        send({ type: "stopped" });
        process.disconnect();
      }
    })().catch((err: unknown) => {
      process.stderr.write(`sidecar process failed: ${err instanceof Error ? err.stack : String(err)}\n`);
      process.exit(1);
    });
  });
}

/** The collector and its engine in a child process (this file in the collector role); the bench ends if it dies. */
function forkCollector(env: Record<string, string>) {
  const collector = fork(__filename, process.argv.slice(2), {
    env: { ...process.env, BENCH_INGEST_ROLE: "collector", ...env },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  collector.on("exit", (code) => {
    if (code !== 0) {
      process.stderr.write(`bench failed: the collector process exited with ${code}\n`);
      process.exit(1);
    }
  });
  return { collector, fromCollector: inbox<FromCollector>(collector) };
}

// --- OTLP mode ------------------------------------------------------------------------------------
async function otlpMain() {
  const windowEnd = Date.now();
  const { collector, fromCollector } = forkCollector({ BENCH_WINDOW_END: String(windowEnd) });
  const ready = await fromCollector("ready");
  const contentType = flags.json ? "application/json" : "application/x-protobuf";
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  function post(body: Buffer): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: "127.0.0.1",
          port: ready.port,
          path: "/v1/traces",
          method: "POST",
          agent,
          headers: { "content-type": contentType, "content-encoding": "gzip", "content-length": body.length },
        },
        (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode ?? 0));
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  }

  const runs: Array<{
    spans: number;
    records: number;
    seconds: number;
    latencies: number[];
    retried: number;
  }> = [];
  let expected = 0;
  let totalSpans = 0;
  let mbSent = 0;
  for (let run = 0; run < RUNS; run++) {
    // Each run its own traffic, in its own stretch of the hours before now; built before the clock starts.
    const reqs = generateGatewayRequests({
      seed: 3000 + run,
      count: OTLP_REQUESTS,
      startMs: windowEnd - (run + 1) * 6 * 3_600_000,
      spacingMs: Math.max(1, Math.floor((6 * 3_600_000) / OTLP_REQUESTS)),
    });
    const records = expectedRecords(reqs).length;
    const bodies = exportRequests(reqs, {
      seed: run,
      maxSpansPerRequest: OTLP_BATCH,
      shuffle: flags.shuffle,
    }).map((b) =>
      zlib.gzipSync(flags.json ? Buffer.from(encodeOtlpJson(b)) : Buffer.from(encodeOtlpProtobuf(b))),
    );
    const spans = reqs.reduce((a, r) => a + r.spans.length, 0);
    mbSent += bodies.reduce((a, b) => a + b.length, 0) / 1e6;
    const latencies: number[] = [];
    let next = 0;
    let retried = 0;
    const t0 = performance.now();
    const worker = async () => {
      for (;;) {
        const i = next++;
        if (i >= bodies.length) return;
        for (;;) {
          const s = performance.now();
          const status = await post(bodies[i]!);
          latencies.push(performance.now() - s);
          if (status === 200) break;
          if (status !== 503) throw new Error(`/v1/traces answered ${status}`);
          retried++; // back-pressure or a record another request is writing: resend, as the exporter does
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const seconds = (performance.now() - t0) / 1000;
    runs.push({ spans, records, seconds, latencies, retried });
    expected += records;
    totalSpans += spans;
    process.stderr.write(
      `run ${run + 1}/${RUNS}: ${fmt(spans / seconds)} spans/s, ${fmt(records / seconds)} inferences/s (${fmt(bodies.length)} OTLP requests, ${seconds.toFixed(1)} s)\n`,
    );
  }
  agent.destroy();
  collector.send({ type: "finish" } satisfies ToCollector);
  const fin = await fromCollector("finished");
  const lat = runs.flatMap((r) => r.latencies).sort((a, b) => a - b);
  const out = [
    "",
    `ingest benchmark, OTLP — ${RUNS} runs × ${fmt(OTLP_REQUESTS)} gateway requests (${fmt(totalSpans / RUNS)} spans, ${fmt(expected / RUNS)} inferences per run), ` +
      `${flags.json ? "OTLP/JSON" : "protobuf"} gzip, ${OTLP_BATCH} spans per request, ${flags.shuffle ? "spans shuffled across requests" : "export order"}, ` +
      `${CONCURRENCY} in flight, ${os.cpus().length} CPUs`,
    `  collector settings   : ${Object.entries(ready.config)
      .map(([k, v]) => `${k}=${String(v)}`)
      .join(", ")}`,
    `  end to end           : ${fmt(median(runs.map((r) => r.spans / r.seconds)))} spans/s, ${fmt(median(runs.map((r) => r.records / r.seconds)))} inferences/s ` +
      `(median; runs ${runs.map((r) => fmt(r.records / r.seconds)).join(", ")} inferences/s)`,
    `  per OTLP request     : p50 ${percentile(lat, 50).toFixed(0)} ms, p99 ${percentile(lat, 99).toFixed(0)} ms; ${runs.reduce((a, r) => a + r.retried, 0)} answered 503 and resent; ${mbSent.toFixed(1)} MB sent`,
    `  spans                : ${Object.entries(fin.otlpSpans)
      .map(([k, v]) => `${k} ${fmt(v)}`)
      .join(", ")}`,
    `  inference writes     : ${fin.flushCount} inserts, mean ${fmt(expected / Math.max(1, fin.flushCount))} rows, ${((fin.flushSeconds / Math.max(1, fin.flushCount)) * 1000).toFixed(0)} ms each`,
    `  collector RSS        : ${mb(ready.rss)} MB before load, peak ${mb(fin.peakRss)} MB`,
    `  stored               : ${fmt(fin.stored)} rows, ${fmt(fin.distinct)} distinct (expected ${fmt(expected)}: every inference once)`,
  ];
  process.stdout.write(out.join("\n") + "\n");
  const ok = fin.stored === expected && fin.distinct === expected;
  if (!ok) process.stderr.write("bench: not every inference was stored exactly once\n");
  process.exit(ok ? 0 : 1);
}

// --- the publisher and load generator -------------------------------------------------------------
async function main() {
  const windowEnd = Date.now();
  const redis = new Redis(REDIS_URL);
  await redis.del(TOPIC);

  const { collector, fromCollector } = forkCollector({
    BENCH_WINDOW_END: String(windowEnd),
    BENCH_TOPIC_SUFFIX: String(process.pid),
  });
  const ready = await fromCollector("ready");
  const appUrl = `http://127.0.0.1:${ready.port}`;
  const pubsubName = loadPubsub().name;
  const target = { topic: TOPIC, pubsubname: pubsubName };
  const stored = (events: InferenceData[]) =>
    events.map((d) => storedCloudEvent(inferenceCloudEvent(d) as Record<string, unknown>, target));

  const runDirect = ONLY !== "sidecar";
  const runSidecar = ONLY !== "direct";
  const totalSteps = RUNS * EVENTS * (1 + (runDirect ? 1 : 0) + (runSidecar ? 1 : 0));
  const bar = new SingleBar(
    {
      format: "{phase} [{bar}] {percentage}% | {value}/{total} events | {rate} ev/s",
      hideCursor: true,
      noTTYOutput: true,
      notTTYSchedule: 5_000,
    },
    Presets.shades_classic,
  );
  bar.start(totalSteps, 0, { phase: "starting", rate: "-" });
  let progress = 0;

  // The collector's JS work alone (parse, validate, map, serialise): its ceiling without the engine.
  const parser = createEventParser({
    sampleTypes: loadConfig(collectorConfigSchema, {}).COLLECTOR_SAMPLE_EVENT_TYPES,
  });
  const sample = phaseEvents("direct", 0, windowEnd, Math.min(EVENTS, 50_000)).map((d) =>
    JSON.stringify(inferenceCloudEvent(d)),
  );
  const tj = performance.now();
  let parsedRows = 0;
  for (const text of sample) if (parser.parseCloudEvent(JSON.parse(text)).ok) parsedRows++;
  const jsRate = parsedRows / ((performance.now() - tj) / 1000);

  // Direct POSTs.
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  function post(body: Buffer): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: "127.0.0.1",
          port: ready.port,
          path: "/dapr/events/inference",
          method: "POST",
          agent,
          headers: { "content-type": "application/json", "content-length": body.length },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () =>
            resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }),
          );
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  }
  function directBodies(run: number): Buffer[] {
    const data = phaseEvents("direct", run, windowEnd);
    const bodies: Buffer[] = [];
    for (let i = 0; i < data.length; i += ENTRIES) {
      const entries = data.slice(i, i + ENTRIES).map((d, j) => ({
        entryId: `${run}-${i + j}`,
        event: JSON.parse(
          storedCloudEvent(inferenceCloudEvent(d) as Record<string, unknown>, target),
        ) as unknown,
        contentType: "application/cloudevents+json",
        metadata: {},
      }));
      bodies.push(
        Buffer.from(
          JSON.stringify({
            id: `bulk-${run}-${i}`,
            type: "com.dapr.event.sent.bulk",
            topic: TOPIC,
            pubsubname: pubsubName,
            metadata: {},
            entries,
          }),
        ),
      );
    }
    return bodies;
  }

  // The sidecar, started once (as daprd is), idle between phases.
  let sidecar: ChildProcess | undefined;
  let fromSidecar: ReturnType<typeof inbox<FromSidecar>> | undefined;
  let started: Extract<FromSidecar, { type: "started" }> | undefined;
  const sidecarStats = async () => {
    sidecar!.send({ type: "stats" } satisfies ToSidecar);
    return fromSidecar!("stats");
  };
  async function waitAcked(target: number, onTick: (acked: number) => void) {
    let acked = 0;
    const bulkSizes: number[] = [];
    const bulkMs: number[] = [];
    const latencies: number[] = [];
    let last: Extract<FromSidecar, { type: "stats" }> | undefined;
    for (;;) {
      await new Promise((r) => setTimeout(r, 50));
      last = await sidecarStats();
      bulkSizes.push(...last.bulkSizes);
      bulkMs.push(...last.bulkMs);
      latencies.push(...last.latencies);
      acked = last.acked;
      onTick(acked);
      if (acked >= target) return { bulkSizes, bulkMs, latencies, last };
    }
  }

  const results: Array<{
    direct?: number;
    directLatencies?: number[];
    straight: number;
    backlog?: number;
    backlogBulks?: number[];
    backlogBulkMs?: number[];
  }> = [];
  let ackedSoFar = 0;
  let sent = 0;
  for (let run = 0; run < RUNS; run++) {
    const r: (typeof results)[number] = { straight: 0 };
    if (runDirect) {
      const bodies = directBodies(run);
      const latencies: number[] = [];
      let next = 0;
      const t0 = performance.now();
      const worker = async () => {
        for (;;) {
          const i = next++;
          if (i >= bodies.length) return;
          for (;;) {
            const s = performance.now();
            const res = await post(bodies[i]!);
            latencies.push(performance.now() - s);
            const statuses = (JSON.parse(res.text) as { statuses: Array<{ status: string }> }).statuses;
            if (res.status === 200 && statuses.every((x) => x.status === "SUCCESS")) break;
            await new Promise((resolve) => setTimeout(resolve, 20)); // RETRY (back-pressure): resend
          }
          progress += Math.min(ENTRIES, EVENTS - i * ENTRIES);
          bar.update(progress, {
            phase: `run ${run + 1}/${RUNS} direct  `,
            rate: fmt(((i + 1) * ENTRIES) / ((performance.now() - t0) / 1000)),
          });
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));
      r.direct = EVENTS / ((performance.now() - t0) / 1000);
      r.directLatencies = latencies;
      sent += EVENTS;
    }

    bar.update(progress, { phase: `run ${run + 1}/${RUNS} straight`, rate: "-" });
    collector.send({ type: "straight", run } satisfies ToCollector);
    const straight = await fromCollector("straight-done");
    r.straight = EVENTS / straight.seconds;
    progress += EVENTS;
    bar.update(progress, { rate: fmt(r.straight) });

    if (runSidecar) {
      // Backlog: the stream holds the whole run's events before the sidecar delivers any.
      await xaddAll(redis, target, stored(phaseEvents("backlog", run, windowEnd)));
      sent += EVENTS;
      const t0 = performance.now();
      if (!sidecar) {
        sidecar = fork(__filename, process.argv.slice(2), {
          env: { ...process.env, BENCH_INGEST_ROLE: "sidecar", BENCH_TOPIC_SUFFIX: String(process.pid) },
          stdio: ["ignore", "inherit", "inherit", "ipc"],
        });
        fromSidecar = inbox<FromSidecar>(sidecar);
        sidecar.send({ type: "start", appUrl } satisfies ToSidecar);
        started = await fromSidecar("started");
      }
      const before = progress;
      const drained = await waitAcked(ackedSoFar + EVENTS, (acked) => {
        bar.update(before + acked - ackedSoFar, {
          phase: `run ${run + 1}/${RUNS} sidecar `,
          rate: fmt((acked - ackedSoFar) / ((performance.now() - t0) / 1000)),
        });
      });
      r.backlog = EVENTS / ((performance.now() - t0) / 1000);
      r.backlogBulks = drained.bulkSizes;
      r.backlogBulkMs = drained.bulkMs;
      ackedSoFar += EVENTS;
      progress = before + EVENTS;
    }
    results.push(r);
  }

  // Live traffic through the sidecar at a fixed offered rate.
  let live:
    { latencies: number[]; bulks: number[]; bulkMs: number[]; lagMs: number; count: number } | undefined;
  if (runSidecar && LIVE_SECONDS > 0) {
    const count = LIVE_RATE * LIVE_SECONDS;
    const events = stored(phaseEvents("live", 0, windowEnd, count).map((d) => ({ ...d })));
    bar.update(progress, { phase: "live traffic    ", rate: fmt(LIVE_RATE) });
    await sidecarStats(); // reset the sidecar's counters of the backlog phases
    const { lagMs } = await publishAtRate(redis, target, events, LIVE_RATE);
    const done = await waitAcked(ackedSoFar + count, () => undefined);
    ackedSoFar += count;
    sent += count;
    live = {
      latencies: done.latencies.sort((a, b) => a - b),
      bulks: done.bulkSizes,
      bulkMs: done.bulkMs,
      lagMs,
      count,
    };
  }
  bar.stop();
  agent.destroy();

  let sidecarFinal: Extract<FromSidecar, { type: "stats" }> | undefined;
  let streamLeft = { lag: 0, pending: 0 };
  if (sidecar) {
    sidecarFinal = await sidecarStats();
    streamLeft = await backlog(redis, TOPIC, started!.pubsub.consumerID);
    sidecar.send({ type: "stop" } satisfies ToSidecar);
    await fromSidecar!("stopped");
  }
  await redis.del(TOPIC);
  redis.disconnect();
  collector.send({ type: "finish" } satisfies ToCollector);
  const fin = await fromCollector("finished");

  // --- report -------------------------------------------------------------------------------------
  const med = (f: (r: (typeof results)[number]) => number | undefined) =>
    median(results.map(f).filter((x): x is number => x !== undefined));
  const runsOf = (f: (r: (typeof results)[number]) => number | undefined) =>
    results.map((r) => fmt(f(r) ?? NaN)).join(", ");
  const direct = med((r) => r.direct);
  const straight = med((r) => r.straight);
  const backlogRate = med((r) => r.backlog);
  const bulkStats = (sizes: number[], ms: number[]) =>
    sizes.length === 0
      ? "—"
      : `${sizes.length} bulks, mean ${fmt(sizes.reduce((a, b) => a + b, 0) / sizes.length)} entries (max ${fmt(Math.max(...sizes))}), ` +
        `the app held each ${fmt(median(ms))} ms (median)`;
  const directLat = results.flatMap((r) => r.directLatencies ?? []).sort((a, b) => a - b);
  const s = started;
  const out = [
    "",
    `ingest benchmark — ${RUNS} runs × ${fmt(EVENTS)} inference events per phase, arrival times over ${fmt(SPREAD_SECONDS)} s per run ` +
      `${flags.shuffle ? "shuffled" : "in arrival order"}, ${flags["v4-ids"] ? "random (v4)" : "UUIDv7"} inference ids, ${os.cpus().length} CPUs`,
    `  collector settings   : ${Object.entries(ready.config)
      .map(([k, v]) => `${k}=${String(v)}`)
      .join(", ")}`,
  ];
  if (s) {
    const overridden = [
      ...Object.keys({ ...SIDECAR_OVERRIDES, ...BULK_OVERRIDES }),
      ...(flags.single ? ["bulkSubscribe off"] : []),
    ];
    out.push(
      `  sidecar settings     : concurrency ${s.pubsub.concurrency}, queueDepth ${s.pubsub.queueDepth}, ` +
        `maxMessagesCount ${s.subscription.bulkSubscribe?.maxMessagesCount}, maxAwaitDurationMs ${s.subscription.bulkSubscribe?.maxAwaitDurationMs}, ` +
        `processingTimeout ${s.pubsub.processingTimeoutMs} ms, flush policy ${POLICY === "ticker" ? "ticker (daprd 1.17)" : "window (daprd ≥ 1.18)"}` +
        (overridden.length
          ? ` — OVERRIDDEN: ${overridden.join(", ")} (not what ships)`
          : " (as shipped: components/, GET /dapr/subscribe)"),
      `  through the sidecar  : ${fmt(backlogRate)} events/s backlog drain (median; runs ${runsOf((r) => r.backlog)}); ` +
        `${bulkStats(
          results.flatMap((r) => r.backlogBulks ?? []),
          results.flatMap((r) => r.backlogBulkMs ?? []),
        )}`,
    );
    if (live) {
      out.push(
        `  live traffic         : ${fmt(LIVE_RATE)} events/s offered for ${LIVE_SECONDS} s (publisher ${live.lagMs.toFixed(0)} ms behind at the end): ` +
          `ack latency p50 ${percentile(live.latencies, 50).toFixed(0)} ms, p99 ${percentile(live.latencies, 99).toFixed(0)} ms; ${bulkStats(live.bulks, live.bulkMs)}`,
      );
    }
    if (sidecarFinal)
      out.push(
        `  sidecar totals       : ${fmt(sidecarFinal.acked)} acked, ${sidecarFinal.retries} retried bulks, ${sidecarFinal.postErrors} failed POSTs, ` +
          `${sidecarFinal.deadLettered} dead-lettered, ${sidecarFinal.redelivered} redelivered; stream left: ${streamLeft.lag} unread, ${streamLeft.pending} pending; ` +
          `sidecar RSS peak ${mb(sidecarFinal.peakRss)} MB`,
      );
  }
  if (runDirect)
    out.push(
      `  direct POST          : ${fmt(direct)} events/s (median; runs ${runsOf((r) => r.direct)}), ${ENTRIES} entries × ${CONCURRENCY} in flight, ` +
        `latency p50 ${percentile(directLat, 50).toFixed(0)} ms, p99 ${percentile(directLat, 99).toFixed(0)} ms`,
    );
  out.push(
    `  straight insert      : ${fmt(straight)} rows/s (median; runs ${runsOf((r) => r.straight)})`,
    `  inference writes     : ${fin.flushCount} inserts, mean ${fmt((sent - 0) / Math.max(1, fin.flushCount))} rows, ${((fin.flushSeconds / Math.max(1, fin.flushCount)) * 1000).toFixed(0)} ms each (claims + identity check + insert); ${fin.activeParts} active parts at the end`,
    `  write phases         : claims ${fin.phasesMs.claims!.toFixed(1)} ms, identity check ${fin.phasesMs.identity!.toFixed(1)} ms, insert ${fin.phasesMs.insert!.toFixed(1)} ms (mean per inference write; ${fmt(fin.preloaded)} rows stored before the runs)`,
    `  JS path alone        : ${fmt(jsRate)} events/s (JSON.parse + ajv + row mapping + serialisation, one core, no engine)`,
    `  collector RSS        : ${mb(ready.rss)} MB before load, peak ${mb(fin.peakRss)} MB`,
  );
  const ratios: string[] = [];
  if (s && runDirect) ratios.push(`sidecar/direct ${(backlogRate / direct).toFixed(2)}`);
  if (runDirect) ratios.push(`direct/straight ${(direct / straight).toFixed(2)}`);
  if (s) ratios.push(`sidecar/straight ${(backlogRate / straight).toFixed(2)}`);
  out.push(`  ratios               : ${ratios.join(", ")}`);
  const expected = sent + RUNS * EVENTS + fin.preloaded;
  out.push(
    `  stored               : ${fmt(fin.stored)} rows, ${fmt(fin.distinct)} distinct (expected ${fmt(expected)}: every event once)`,
  );
  if (s) {
    const targets = [
      `backlog ≥ 10,000 events/s ${backlogRate >= 10_000 ? "MET" : "MISSED"}`,
      ...(runDirect ? [`≥ 0.7 of direct ${backlogRate / direct >= 0.7 ? "MET" : "MISSED"}`] : []),
      ...(live
        ? [
            `live p50 ≤ 100 ms ${percentile(live.latencies, 50) <= 100 ? "MET" : "MISSED"}`,
            `live p99 ≤ 500 ms ${percentile(live.latencies, 99) <= 500 ? "MET" : "MISSED"}`,
          ]
        : []),
    ];
    out.push(`  targets              : ${targets.join(", ")}`);
  }
  process.stdout.write(out.join("\n") + "\n");
  const ok =
    fin.stored === expected && fin.distinct === expected && streamLeft.lag === 0 && streamLeft.pending === 0;
  if (!ok)
    process.stderr.write("bench: not every event was stored exactly once, or the stream was not drained\n");
  process.exit(ok ? 0 : 1);
}

const role = process.env.BENCH_INGEST_ROLE;
const start =
  role === "collector"
    ? () => collectorProcess(Number(process.env.BENCH_WINDOW_END))
    : role === "sidecar"
      ? sidecarProcess
      : OTLP
        ? otlpMain
        : main;
start().catch((err) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
