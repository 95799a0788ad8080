import path from "node:path";
import express from "express";
import type { Registry } from "prom-client";
import { readRetentionDays, type ClickHouse } from "@budmetrics/clickhouse";
import type { Logger } from "@budmetrics/logger";
import { withTimeout } from "@budmetrics/lifecycle";
import { type MountedApp } from "@budmetrics/http";
import { createClickHouseQuarantineSink, createClickHouseRowSink } from "./adapters/clickhouse-sink";
import { createFileWriteAheadLog } from "./adapters/file-wal";
import { createMemoryClaimStore } from "./adapters/memory-claims";
import { createMemorySpanActivity, type SpanActivity } from "./otlp/activity";
import { createMemoryPendingStore } from "./otlp/memory-store";
import { createOtlpIngest, type OtlpIngest, type PendingStore, type SweepResult } from "./otlp/otlp-ingest";
import { createRecordSink } from "./otlp/record-sink";
import type { CollectorConfig } from "./config";
import { createBatcher, type Batcher } from "./ingest/batcher";
import { createIngest, type EventHolder, type Ingest, type RetentionHorizon } from "./ingest/ingest";
import { createEventParser } from "./ingest/parse-event";
import { EVENT_KIND_NAMES, EVENT_KINDS, INFERENCE_EVENT_TYPE, type EventKind } from "./ingest/kinds";
import type { ClaimStore } from "./ingest/ports";
import { errorFields } from "./log-fields";
import { createCollectorMetrics, createOtlpMetrics } from "./metrics";
import { mountDaprRoutes } from "./routes/dapr.route";
import { mountHttpIngestRoutes } from "./routes/http-ingest.route";
import { mountOtlpRoutes } from "./routes/otlp.route";

export interface CollectorDeps {
  ch: ClickHouse;
  log: Logger;
  config: CollectorConfig;
  registry: Registry;
  /** Claims across replicas (Redis in server mode); in-process claims when absent. */
  claims?: ClaimStore;
  /** Called from close() after the batches are drained (e.g. quit the Redis client the claims use). */
  onClose?: () => Promise<void>;
  /**
   * Where the OTLP path keeps pending spans and held CloudEvents (Redis across replicas, from
   * compose.ts); in process memory when absent. `shared`: the store outlives this process, so
   * shutdown leaves its contents to the next sweep of any replica instead of writing them all now.
   */
  otlp?: { store: PendingStore; activity: SpanActivity; shared: boolean };
}

export interface CollectorApp extends MountedApp {
  /** The use case behind the routes (tests and the benchmark drive it directly too). */
  readonly ingest: Ingest;
  readonly batchers: Readonly<Record<EventKind, Batcher>>;
  /** The OTLP use case, when COLLECTOR_OTLP_ENABLED is not false. */
  readonly otlp?: OtlpIngest;
  /** Runs one sweep now (what the timer does), e.g. at a time past the bound in tests. */
  sweep?(nowMs: number): Promise<SweepResult>;
}

/** Builds the collector's routes without listening (tests and the standalone launcher mount it). */
export async function createCollectorApp(deps: CollectorDeps): Promise<CollectorApp> {
  const { ch, config } = deps;
  const log = deps.log.child({ app: "collector" });
  const claims =
    deps.claims ??
    createMemoryClaimStore({
      maxCommitted: config.COLLECTOR_CLAIM_MEMORY_MAX_KEYS,
      pendingTtlMs: config.COLLECTOR_CLAIM_PENDING_TTL_MS,
    });

  const batchers = {} as Record<EventKind, Batcher>;
  const metrics = createCollectorMetrics(deps.registry, {
    knownTypes: [INFERENCE_EVENT_TYPE, ...config.COLLECTOR_SAMPLE_EVENT_TYPES],
    queueDepth: () => {
      const depth = (b: Batcher) => {
        const s = b.stats();
        return { rows: s.queuedRows + s.inFlightRows, bytes: s.queuedBytes + s.inFlightBytes };
      };
      return Object.fromEntries(EVENT_KIND_NAMES.map((k) => [k, depth(batchers[k])])) as Record<
        EventKind,
        { rows: number; bytes: number }
      >;
    },
  });
  const onError = (code: string, operation: string) => metrics.clickhouseError(code, operation);
  // Embedded mode: this process is the engine, so a crash can stop an insert between its parts; the
  // write-ahead log beside the engine's data lets the next start complete it (docs/COLLECTOR.md).
  const wal =
    ch.mode === "embedded" && ch.dataDir
      ? createFileWriteAheadLog(path.join(ch.dataDir, "collector-wal"))
      : undefined;
  const sink = createClickHouseRowSink({
    ch,
    claims,
    ...(wal ? { wal } : {}),
    onError,
    onPhases: (kind, phasesMs) => metrics.writePhases(kind, phasesMs),
  });
  const quarantine = createClickHouseQuarantineSink({ ch, onError });
  try {
    const r = await sink.recover();
    if (r.replayed + r.dropped > 0) log.warn(r, "batches interrupted by a crash completed");
  } catch (err) {
    // ClickHouse not answering yet: every write recovers first, so nothing is written before it.
    log.warn({ error: errorFields(err) }, "interrupted batches not completed yet");
  }

  for (const kind of EVENT_KIND_NAMES) {
    const batchLog = log.child({ component: "batcher", kind });
    batchers[kind] = createBatcher((rows) => sink.write(kind, rows), {
      maxBatchRows: config.COLLECTOR_BATCH_MAX_ROWS,
      minIntervalMs: config.COLLECTOR_INSERT_MIN_INTERVAL_MS,
      maxQueueRows: config.COLLECTOR_QUEUE_MAX_ROWS,
      maxQueueBytes: config.COLLECTOR_QUEUE_MAX_BYTES,
      flushTimeoutMs: config.COLLECTOR_FLUSH_TIMEOUT_MS,
      maxRetries: config.COLLECTOR_FLUSH_MAX_RETRIES,
      retryBackoffMs: config.COLLECTOR_FLUSH_RETRY_BACKOFF_MS,
      onFlush(info) {
        metrics.flushed(kind, info);
        if (info.ok)
          batchLog.debug(
            { rows: info.rows, bytes: info.bytes, durationMs: info.durationMs },
            "batch flushed",
          );
        else
          batchLog.warn(
            { error: errorFields(info.error), rows: info.rows, attempts: info.attempts },
            "batch failed",
          );
      },
      onRetry(err, attempt) {
        metrics.flushRetry(kind);
        batchLog.warn({ error: errorFields(err), attempt }, "flush retry");
      },
    });
  }

  // Events older than their table keeps are refused (expired), not stored to be dropped at once. What a
  // table keeps is read from the table (its TTL) once ClickHouse answers; until then nothing is refused
  // for age (and nothing can be written either).
  let retention: Record<string, number> | undefined;
  let loading: Promise<void> | undefined;
  const horizon: RetentionHorizon = {
    prepare() {
      if (retention) return Promise.resolve();
      loading ??= readRetentionDays(
        ch,
        EVENT_KIND_NAMES.map((k) => EVENT_KINDS[k].storage.table),
      ).then(
        (r) => {
          retention = r;
          log.info({ retentionDays: r }, "table retention read");
        },
        (err: unknown) => {
          loading = undefined;
          log.warn({ error: errorFields(err) }, "table retention not read yet");
        },
      );
      return loading;
    },
    at(kind, nowMs) {
      const days = retention?.[EVENT_KINDS[kind].storage.table] ?? 0;
      return days > 0 ? nowMs - days * 86_400_000 : undefined;
    },
  };
  void horizon.prepare();
  const parser = createEventParser({ sampleTypes: config.COLLECTOR_SAMPLE_EVENT_TYPES });

  let accepting = true;
  let closed = false;
  const otlp =
    config.COLLECTOR_OTLP_ENABLED === "false"
      ? undefined
      : createOtlpRuntime({ deps, log, parser, batcher: batchers.inference, quarantine, horizon });

  const ingest = createIngest({
    parser,
    batchers,
    quarantine,
    metrics,
    log,
    horizon,
    accepting: () => accepting,
    ...(otlp ? { holder: otlp.holder } : {}),
  });

  const router = express.Router();
  mountDaprRoutes(router, { config, ingest, metrics, log });
  mountHttpIngestRoutes(router, { config, ingest, metrics, log });
  if (otlp) {
    mountOtlpRoutes(router, {
      config,
      otlp: otlp.use,
      metrics: otlp.metrics,
      log,
      accepting: () => accepting,
    });
  }

  const allBatchers = () => EVENT_KIND_NAMES.map((k) => batchers[k]);
  return {
    name: "collector",
    router,
    ingest,
    batchers,
    ...(otlp ? { otlp: otlp.use, sweep: (nowMs: number) => otlp.sweep(nowMs) } : {}),
    health: {
      ...(otlp
        ? {
            otlp: async () => {
              try {
                const size = await otlp.store.size();
                return { status: "ok", mode: config.COLLECTOR_OTLP_ENABLED, ...size };
              } catch (err) {
                return { status: "degraded", error: err instanceof Error ? err.message : String(err) };
              }
            },
          }
        : {}),
      clickhouse: async () => {
        const t0 = Date.now();
        const ping = await ch.ping();
        return ping.ok
          ? { status: "ok", mode: ch.mode, latencyMs: Date.now() - t0 }
          : { status: "down", mode: ch.mode, error: ping.error };
      },
      collector: async () => {
        const q = allBatchers().map((b) => b.stats());
        return {
          status: accepting ? "ok" : "degraded",
          accepting,
          queuedRows: q.reduce((n, s) => n + s.queuedRows + s.inFlightRows, 0),
        };
      },
    },
    async ready() {
      return accepting && (await ch.ping()).ok;
    },
    stopAccepting() {
      // Shutdown step 1: readiness 503 and every new delivery RETRY; queued rows still get written.
      // With OTLP on, the batchers stay open for the final sweep (drain) and are stopped after it.
      accepting = false;
      if (!otlp) for (const b of allBatchers()) b.stopAccepting();
      log.info("collector stopped accepting");
    },
    async drain() {
      // Step 2: write what the OTLP path still holds (in-process store), then flush every queued row,
      // ignoring the batch wait. Bounded by COLLECTOR_DRAIN_TIMEOUT_MS; whatever is still queued then
      // is answered RETRY (not stored, so not acknowledged).
      const t0 = Date.now();
      try {
        await withTimeout(
          (async () => {
            if (otlp) {
              await otlp.finish();
              for (const b of allBatchers()) b.stopAccepting();
            }
            await Promise.all(allBatchers().map((b) => b.drain()));
          })(),
          config.COLLECTOR_DRAIN_TIMEOUT_MS,
          "drain",
        );
        log.info({ durationMs: Date.now() - t0 }, "collector drained");
      } catch (err) {
        for (const b of allBatchers()) b.abandon();
        log.warn(
          { err, durationMs: Date.now() - t0 },
          "drain deadline passed; queued deliveries answered RETRY",
        );
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      otlp?.stop();
      for (const b of allBatchers()) b.abandon();
      await deps.onClose?.();
    },
  };
}

/**
 * The OTLP path's parts (docs/OTLP.md): the use case over the pending store and a record sink into
 * the inference batcher, the holder the CloudEvent path offers inference events to, the sweep timer,
 * and the final sweep of shutdown.
 */
function createOtlpRuntime(ctx: {
  deps: CollectorDeps;
  log: Logger;
  parser: ReturnType<typeof createEventParser>;
  batcher: Batcher;
  quarantine: ReturnType<typeof createClickHouseQuarantineSink>;
  horizon: RetentionHorizon;
}) {
  const { config, registry } = ctx.deps;
  const log = ctx.log.child({ component: "otlp" });
  const store = ctx.deps.otlp?.store ?? createMemoryPendingStore();
  const activity = ctx.deps.otlp?.activity ?? createMemorySpanActivity(config.COLLECTOR_OTLP_RETAIN_MS);
  const shared = ctx.deps.otlp?.shared ?? false;
  const metrics = createOtlpMetrics(registry, { pending: () => store.size() });
  const sink = createRecordSink({
    batcher: ctx.batcher,
    parser: ctx.parser,
    quarantine: ctx.quarantine,
    horizon: ctx.horizon,
    metrics,
    onProblems: (recordId, problems) =>
      log.debug({ recordId, problems: problems.map((p) => p.split(":")[0]) }, "record values left out"),
  });
  const core = createOtlpIngest({
    store,
    sink,
    config: {
      boundMs: config.COLLECTOR_OTLP_BOUND_MS,
      retainMs: config.COLLECTOR_OTLP_RETAIN_MS,
      maxPending: config.COLLECTOR_OTLP_MAX_PENDING,
      sweepLimit: config.COLLECTOR_OTLP_SWEEP_LIMIT,
    },
  });

  // Spans the mapping reads mark the path active (COLLECTOR_OTLP_ENABLED=auto holds CloudEvents then).
  const use: OtlpIngest = {
    async acceptSpans(spans, nowMs) {
      const result = await core.acceptSpans(spans, nowMs);
      const c = result.counts;
      if (c.accepted + c.duplicates + c.late > 0) {
        await activity.seen(nowMs).catch((err: unknown) => {
          log.warn({ error: errorFields(err) }, "span activity not recorded");
        });
      }
      return result;
    },
    holdEvents: (events, nowMs) => core.holdEvents(events, nowMs),
    sweep: (nowMs) => core.sweep(nowMs),
  };

  const holder: EventHolder = {
    async hold(events, nowMs) {
      if (config.COLLECTOR_OTLP_ENABLED === "auto") {
        let active: boolean;
        try {
          active = await activity.active(nowMs);
        } catch (err) {
          metrics.held("retry", events.length);
          const message = err instanceof Error ? err.message : String(err);
          return events.map(() => ({ action: "retry", message }));
        }
        if (!active) {
          metrics.held("write", events.length);
          return events.map(() => ({ action: "write" }));
        }
      }
      const decisions = await core.holdEvents(events, nowMs);
      for (const action of ["held", "write", "retry"] as const)
        metrics.held(action, decisions.filter((d) => d.action === action).length);
      return decisions;
    },
  };

  let running: Promise<SweepResult> | undefined;
  function sweep(nowMs: number): Promise<SweepResult> {
    running ??= core
      .sweep(nowMs)
      .then((r) => {
        metrics.sweep(r);
        if (r.failed) log.warn({ traces: r.traces, events: r.events }, "sweep incomplete; retried next time");
        else if (r.records + r.events > 0)
          log.debug({ traces: r.traces, records: r.records, events: r.events }, "swept");
        return r;
      })
      .finally(() => {
        running = undefined;
      });
    return running;
  }
  const timer = setInterval(() => void sweep(Date.now()), config.COLLECTOR_OTLP_SWEEP_INTERVAL_MS);
  timer.unref();

  return {
    use,
    holder,
    metrics,
    store,
    sweep,
    stop() {
      clearInterval(timer);
    },
    /**
     * Shutdown: stop the timer and, with an in-process store, write everything pending now (the
     * bound is not waited for) so nothing acknowledged is lost. A shared store keeps it for the
     * sweeps of the other replicas, or of this one after its restart.
     */
    async finish() {
      clearInterval(timer);
      if (running) await running;
      if (shared) return;
      for (let i = 0; i < 10_000; i++) {
        const size = await store.size();
        if (size.pendingSpans + size.heldEvents === 0) return;
        const r = await sweep(Date.now() + config.COLLECTOR_OTLP_BOUND_MS + 1);
        if (r.failed || r.traces + r.events === 0) {
          log.warn({ ...size }, "shutdown: spans or held events could not be written");
          return;
        }
      }
    },
  };
}
