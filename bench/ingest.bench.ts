/**
 * pnpm bench:ingest — end-to-end ingestion rate of the collector against the straight-insert rate of
 * the same kind and number of rows, measured in the same run, on a fresh embedded engine.
 *
 *   collector: Dapr bulk envelopes of generated inference CloudEvents POSTed over HTTP (keep-alive,
 *              N deliveries in flight) to the collector's bulk delivery route; a delivery counts when
 *              every entry was answered SUCCESS (RETRY entries are resent).
 *   straight:  the same number of rows from the same generator (a twin set: the collector's own
 *              rows would be duplicates by then), mapped with toInferenceRow + JSON.stringify as any
 *              client would, inserted with ch.insertJsonEachRow in batches of
 *              COLLECTOR_BATCH_MAX_ROWS into the same table (same materialized views), one at a time.
 *
 * Two processes, as in production, where senders are other machines: this one is the load
 * generator (it builds every request body before the clock starts and only sends them), a forked
 * child is the collector with its embedded engine (its own event loop and heap; the straight insert
 * runs there too, on the same engine). RSS is the child's. Both share the machine's cores.
 *
 * Flags: --entries 1000 (entries per delivery) --concurrency 48 (deliveries in flight)
 *        --events 200000 (events per run) --runs 3 --batch-rows 20000 --wait-ms 200
 *        --spread-seconds 300 (each run's arrival times span N seconds, the runs one after the other
 *        up to now; a large value such as 86400 measures a backfill, where each batch touches many
 *        more rollup rows)
 *        --shuffle (send each run's events in random time order instead of arrival order: live
 *        traffic arrives roughly in order, which keeps each batch's time range — and so the writer's
 *        existence check and the rollup rows each insert touches — narrow; shuffled is the worst case)
 */
import { fork, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import type { AddressInfo } from "node:net";
import { parseArgs } from "node:util";
import { SingleBar, Presets } from "cli-progress";
import { clickhouseConfigSchema, createClickHouse, migrate, renderContextFrom } from "@budmetrics/clickhouse";
import { collectorConfigSchema, createCollectorApp, createEventParser } from "@budmetrics/collector";
import { loadConfig } from "@budmetrics/config";
import { createHost, createRegistry } from "@budmetrics/http";
import { createSilentLogger } from "@budmetrics/logger";
import { INFERENCE_COLUMNS, Tables, toInferenceRow, toNumber } from "@budmetrics/schema";
import { createCatalogue, generateInferences, inferenceCloudEvent } from "../test/support/generate";

const { values: flags } = parseArgs({
  options: {
    entries: { type: "string", default: "1000" },
    concurrency: { type: "string", default: "48" },
    events: { type: "string", default: "200000" },
    runs: { type: "string", default: "3" },
    "batch-rows": { type: "string", default: "20000" },
    "wait-ms": { type: "string", default: "200" },
    "spread-seconds": { type: "string", default: "300" },
    shuffle: { type: "boolean", default: false },
  },
});
const ENTRIES = Number(flags.entries);
const CONCURRENCY = Number(flags.concurrency);
const EVENTS = Number(flags.events);
const RUNS = Number(flags.runs);
const BATCH_ROWS = Number(flags["batch-rows"]);
const WAIT_MS = Number(flags["wait-ms"]);
const SPREAD_SECONDS = Number(flags["spread-seconds"]);
for (const [k, v] of Object.entries({
  ENTRIES,
  CONCURRENCY,
  EVENTS,
  RUNS,
  BATCH_ROWS,
  WAIT_MS,
  SPREAD_SECONDS,
})) {
  if (!Number.isInteger(v) || v <= 0) throw new Error(`--${k.toLowerCase()} must be a positive integer`);
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}
const fmt = (n: number) => Math.round(n).toLocaleString("en-US");

/** Messages between the load generator (parent) and the collector process (child). */
type ToChild = { type: "straight"; run: number } | { type: "finish" };
type FromChild =
  | { type: "ready"; port: number; rss: number }
  | { type: "straight-done"; seconds: number }
  | {
      type: "finished";
      stored: number;
      distinct: number;
      flushSeconds: number;
      flushCount: number;
      peakRss: number;
    };

const CATALOGUE_SEED = 42;
const twinSeed = (run: number) => 5000 + run;

/** One run's events: its own stretch of the window, in arrival order unless --shuffle. */
function runEvents(seed: number, run: number, windowEnd: number) {
  const endMs = windowEnd - (RUNS - 1 - run) * SPREAD_SECONDS * 1000;
  const events = [
    ...generateInferences({
      seed,
      count: EVENTS,
      startMs: endMs - SPREAD_SECONDS * 1000,
      endMs,
      catalogue: createCatalogue(CATALOGUE_SEED),
    }),
  ];
  if (!flags.shuffle) events.sort((a, b) => (a.request_arrival_time < b.request_arrival_time ? -1 : 1));
  return events;
}

/** The collector process: engine, migrations, the collector app on an HTTP port, the straight insert. */
async function collectorProcess(windowEnd: number): Promise<void> {
  const send = (m: FromChild) => process.send!(m);
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

  const config = loadConfig(collectorConfigSchema, {
    COLLECTOR_BATCH_MAX_ROWS: String(BATCH_ROWS),
    COLLECTOR_BATCH_MAX_WAIT_MS: String(WAIT_MS),
    COLLECTOR_QUEUE_MAX_ROWS: String(Math.max(200_000, BATCH_ROWS * 4)),
    COLLECTOR_MAX_BODY_BYTES: String(64 * 1024 * 1024),
  });
  const registry = createRegistry(false);
  const app = await createCollectorApp({ ch, log, config, registry });
  const server = http.createServer(createHost({ apps: [app], log, registry: createRegistry(false) }));
  // As in production (packages/http listen): idle keep-alive sockets outlive the pauses between runs,
  // so the client never reuses a socket the server has just closed (ECONNRESET).
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  let peakRss = process.memoryUsage().rss;
  const rssTimer = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 100);
  send({ type: "ready", port: (server.address() as AddressInfo).port, rss: peakRss });

  process.on("message", (m: ToChild) => {
    void (async () => {
      if (m.type === "straight") {
        // Straight insert of the twin rows: generated before the clock, mapped and inserted inside it.
        const twin = runEvents(twinSeed(m.run), m.run, windowEnd);
        const t1 = performance.now();
        for (let i = 0; i < twin.length; i += BATCH_ROWS) {
          const lines = twin
            .slice(i, i + BATCH_ROWS)
            .map((d) =>
              JSON.stringify(toInferenceRow(d, { id: d.inference_id, source: "budgateway", type: "x" })),
            );
          await ch.insertJsonEachRow(
            Tables.inferenceEvents,
            Buffer.from(lines.join("\n") + "\n"),
            INFERENCE_COLUMNS,
          );
        }
        send({ type: "straight-done", seconds: (performance.now() - t1) / 1000 });
        return;
      }
      // finish: count what is stored, read the flush histogram, shut down in order.
      const [stored] = await ch.query<{ n: number; d: number }>(
        `SELECT count() AS n, uniqExact(inference_id) AS d FROM ${ch.database}.${Tables.inferenceEvents}`,
      );
      const flush = (
        await registry.getSingleMetricAsString("budmetrics_collector_flush_duration_seconds")
      ).split("\n");
      const metricValue = (suffix: string) =>
        flush
          .filter(
            (l) =>
              l.startsWith(`budmetrics_collector_flush_duration_seconds_${suffix}{`) &&
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
      send({
        type: "finished",
        stored: toNumber(stored?.n),
        distinct: toNumber(stored?.d),
        flushSeconds: metricValue("sum"),
        flushCount: metricValue("count"),
        peakRss,
      });
      process.disconnect();
    })().catch((err: unknown) => {
      process.stderr.write(`collector process failed: ${err instanceof Error ? err.stack : String(err)}\n`);
      process.exit(1);
    });
  });
}

/** The load generator: builds the deliveries, drives the child over HTTP, prints the figures. */
async function main() {
  // Inputs, built before the clock starts: one distinct set of events per run.
  const windowEnd = Date.now();

  const child: ChildProcess = fork(__filename, process.argv.slice(2), {
    env: { ...process.env, BENCH_INGEST_ROLE: "collector", BENCH_WINDOW_END: String(windowEnd) },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const inbox: FromChild[] = [];
  const waiters: Array<() => void> = [];
  child.on("message", (m: FromChild) => {
    inbox.push(m);
    waiters.splice(0).forEach((w) => w());
  });
  child.on("exit", (code) => {
    if (code !== 0) {
      process.stderr.write(`bench failed: the collector process exited with ${code}\n`);
      process.exit(1);
    }
  });
  async function receive<T extends FromChild["type"]>(type: T): Promise<Extract<FromChild, { type: T }>> {
    for (;;) {
      const i = inbox.findIndex((m) => m.type === type);
      if (i >= 0) return inbox.splice(i, 1)[0] as Extract<FromChild, { type: T }>;
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
  }
  const ready = await receive("ready");
  const port = ready.port;

  function buildBodies(run: number): Buffer[] {
    const data = runEvents(1000 + run, run, windowEnd);
    const bodies: Buffer[] = [];
    for (let i = 0; i < data.length; i += ENTRIES) {
      const entries = data.slice(i, i + ENTRIES).map((d, j) => ({
        entryId: `${run}-${i + j}`,
        event: {
          ...inferenceCloudEvent(d),
          topic: "budMetricsMessages",
          pubsubname: "pubsub-redis",
          traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        },
        contentType: "application/cloudevents+json",
        metadata: {},
      }));
      bodies.push(
        Buffer.from(
          JSON.stringify({
            id: `bulk-${run}-${i}`,
            type: "com.dapr.event.sent.bulk",
            topic: "budMetricsMessages",
            pubsubname: "pubsub-redis",
            metadata: {},
            entries,
          }),
        ),
      );
    }
    return bodies;
  }
  let bodies = buildBodies(0);
  const bytesPerEvent = bodies.reduce((n, b) => n + b.length, 0) / EVENTS;

  // The collector's JS work alone (parse each body once, validate, map, serialise): its ceiling
  // without the engine.
  const parser = createEventParser({
    sampleTypes: loadConfig(collectorConfigSchema, {}).COLLECTOR_SAMPLE_EVENT_TYPES,
  });
  const tj = performance.now();
  let parsedRows = 0;
  for (const body of bodies) {
    const envelope = JSON.parse(body.toString("utf8")) as { entries: Array<{ event: unknown }> };
    for (const e of envelope.entries) if (parser.parseCloudEvent(e.event).ok) parsedRows++;
  }
  const jsRate = parsedRows / ((performance.now() - tj) / 1000);

  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  function post(body: Buffer): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: "127.0.0.1",
          port,
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

  const bar = new SingleBar(
    {
      format: "{phase} [{bar}] {percentage}% | {value}/{total} events | {rate} ev/s",
      hideCursor: true,
      noTTYOutput: true,
      notTTYSchedule: 5_000,
    },
    Presets.shades_classic,
  );
  bar.start(RUNS * EVENTS * 2, 0, { phase: "collector", rate: "-" });
  let progress = 0;

  const results: Array<{
    collectorRate: number;
    straightRate: number;
    latencies: number[];
    retries: number;
  }> = [];
  for (let run = 0; run < RUNS; run++) {
    if (run > 0) bodies = buildBodies(run);
    // Collector, end to end.
    const latencies: number[] = [];
    let retries = 0;
    let nextBody = 0;
    const t0 = performance.now();
    async function worker() {
      for (;;) {
        const i = nextBody++;
        if (i >= bodies.length) return;
        for (;;) {
          const s = performance.now();
          const res = await post(bodies[i]!);
          latencies.push(performance.now() - s);
          const statuses = (JSON.parse(res.text) as { statuses: Array<{ status: string }> }).statuses;
          if (res.status === 200 && statuses.every((x) => x.status === "SUCCESS")) break;
          // RETRY entries (back-pressure) are resent with the whole delivery; duplicates answer SUCCESS.
          retries++;
          await new Promise((r) => setTimeout(r, 20));
        }
        const n = Math.min(ENTRIES, EVENTS - i * ENTRIES);
        progress += n;
        bar.update(progress, {
          phase: `run ${run + 1}/${RUNS} collector`,
          rate: fmt(((i + 1) * ENTRIES) / ((performance.now() - t0) / 1000)),
        });
      }
    }
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const collectorSeconds = (performance.now() - t0) / 1000;

    // Straight insert of the twin rows, in the collector's process (the engine lives there).
    bar.update(progress, { phase: `run ${run + 1}/${RUNS} straight `, rate: "-" });
    child.send({ type: "straight", run } satisfies ToChild);
    const straight = await receive("straight-done");
    progress += EVENTS;
    bar.update(progress, { rate: fmt(EVENTS / straight.seconds) });
    latencies.sort((a, b) => a - b);
    results.push({
      collectorRate: EVENTS / collectorSeconds,
      straightRate: EVENTS / straight.seconds,
      latencies,
      retries,
    });
  }
  bar.stop();
  agent.destroy();

  child.send({ type: "finish" } satisfies ToChild);
  const fin = await receive("finished");
  const collectorRate = median(results.map((r) => r.collectorRate));
  const straightRate = median(results.map((r) => r.straightRate));
  const all = results.flatMap((r) => r.latencies).sort((a, b) => a - b);
  const out = [
    "",
    `ingest benchmark — ${RUNS} runs × ${fmt(EVENTS)} inference events, ${ENTRIES} entries per bulk delivery, ` +
      `${CONCURRENCY} deliveries in flight, batches of ${fmt(BATCH_ROWS)} rows (max wait ${WAIT_MS} ms), ` +
      `${Math.round(bytesPerEvent)} bytes per event on the wire, arrival times over ${fmt(SPREAD_SECONDS)} s per run ${flags.shuffle ? "shuffled" : "in arrival order"}, ` +
      `${os.cpus().length} CPUs`,
    `  collector end to end : ${fmt(collectorRate)} events/s (median; runs ${results.map((r) => fmt(r.collectorRate)).join(", ")})`,
    `  delivery latency     : p50 ${percentile(all, 50).toFixed(1)} ms, p99 ${percentile(all, 99).toFixed(1)} ms` +
      ` (${all.length} deliveries, ${results.reduce((n, r) => n + r.retries, 0)} resent after RETRY)`,
    `  batches              : ${fin.flushCount} flushed, mean ${fmt((RUNS * EVENTS) / Math.max(1, fin.flushCount))} rows, ` +
      `${(fin.flushSeconds / Math.max(1, fin.flushCount)).toFixed(2)} s each (claims + existence check + insert); ` +
      `${fmt((RUNS * EVENTS) / Math.max(1e-9, fin.flushSeconds))} rows per second of flushing`,
    `  JS path alone        : ${fmt(jsRate)} events/s (JSON.parse + ajv + row mapping + serialisation, one core, no engine)`,
    `  straight insert      : ${fmt(straightRate)} rows/s (median; runs ${results.map((r) => fmt(r.straightRate)).join(", ")})`,
    `  ratio                : ${(collectorRate / straightRate).toFixed(2)} of the straight-insert rate`,
    `  collector RSS        : ${Math.round(ready.rss / 1024 / 1024)} MB before load (engine open, migrated), ` +
      `peak ${Math.round(fin.peakRss / 1024 / 1024)} MB (collector process: app, queue and embedded engine)`,
    `  stored               : ${fmt(fin.stored)} rows, ${fmt(fin.distinct)} distinct (expected ${fmt(2 * RUNS * EVENTS)}: collector's and straight rows)`,
    `  targets              : ≥ 70,000 events/s ${collectorRate >= 70_000 ? "MET" : "MISSED"}, ` +
      `≥ 0.7 of straight ${collectorRate / straightRate >= 0.7 ? "MET" : "MISSED"}`,
  ];
  process.stdout.write(out.join("\n") + "\n");
  const ok = fin.stored === 2 * RUNS * EVENTS && fin.distinct === 2 * RUNS * EVENTS;
  process.exit(ok ? 0 : 1);
}

const role = process.env.BENCH_INGEST_ROLE === "collector" ? "collector" : "generator";
const start = role === "collector" ? () => collectorProcess(Number(process.env.BENCH_WINDOW_END)) : main;
start().catch((err) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
