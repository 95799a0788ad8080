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
import type { CollectorConfig } from "./config";
import { createBatcher, type Batcher } from "./ingest/batcher";
import { createIngest, type Ingest, type RetentionHorizon } from "./ingest/ingest";
import { createEventParser } from "./ingest/parse-event";
import { EVENT_KIND_NAMES, EVENT_KINDS, INFERENCE_EVENT_TYPE, type EventKind } from "./ingest/kinds";
import type { ClaimStore } from "./ingest/ports";
import { errorFields } from "./log-fields";
import { createCollectorMetrics } from "./metrics";
import { mountDaprRoutes } from "./routes/dapr.route";
import { mountHttpIngestRoutes } from "./routes/http-ingest.route";

export interface CollectorDeps {
  ch: ClickHouse;
  log: Logger;
  config: CollectorConfig;
  registry: Registry;
  /** Claims across replicas (Redis in server mode); in-process claims when absent. */
  claims?: ClaimStore;
  /** Called from close() after the batches are drained (e.g. quit the Redis client the claims use). */
  onClose?: () => Promise<void>;
}

export interface CollectorApp extends MountedApp {
  /** The use case behind the routes (tests and the benchmark drive it directly too). */
  readonly ingest: Ingest;
  readonly batchers: Readonly<Record<EventKind, Batcher>>;
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
  const ingest = createIngest({ parser, batchers, quarantine, metrics, log, horizon });

  const router = express.Router();
  mountDaprRoutes(router, { config, ingest, metrics, log });
  mountHttpIngestRoutes(router, { config, ingest, metrics, log });

  let accepting = true;
  let closed = false;
  const allBatchers = () => EVENT_KIND_NAMES.map((k) => batchers[k]);
  return {
    name: "collector",
    router,
    ingest,
    batchers,
    health: {
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
      accepting = false;
      for (const b of allBatchers()) b.stopAccepting();
      log.info("collector stopped accepting");
    },
    async drain() {
      // Step 2: flush every queued row, ignoring the batch wait. Bounded by COLLECTOR_DRAIN_TIMEOUT_MS;
      // whatever is still queued then is answered RETRY (not stored, so not acknowledged).
      const t0 = Date.now();
      try {
        await withTimeout(
          Promise.all(allBatchers().map((b) => b.drain())),
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
      for (const b of allBatchers()) b.abandon();
      await deps.onClose?.();
    },
  };
}
