import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { FlushInfo } from "./ingest/batcher";
import type { IngestMetrics } from "./ingest/ingest";
import type { EventKind } from "./ingest/parse-event";

/**
 * The collector's Prometheus metrics on the injected registry (shared with the query app in
 * embedded mode, so every name carries the `budmetrics_collector_` prefix). Event types come from
 * untrusted input: only configured types become label values, anything else is "other".
 */
export interface CollectorMetrics extends IngestMetrics {
  flushed(kind: EventKind, info: FlushInfo): void;
  flushRetry(kind: EventKind): void;
  clickhouseError(code: string, operation: string): void;
  delivery(channel: string, status: string, n: number): void;
}

function getOrCreate<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

export function createCollectorMetrics(
  registry: Registry,
  opts: {
    knownTypes: readonly string[];
    queueDepth: () => Record<EventKind, { rows: number; bytes: number }>;
  },
): CollectorMetrics {
  const known = new Set(opts.knownTypes);
  const label = (type: string) => (known.has(type) ? type : "other");
  const registers = [registry];

  const received = getOrCreate(
    registry,
    "budmetrics_collector_events_received_total",
    () =>
      new Counter({
        name: "budmetrics_collector_events_received_total",
        help: "events received, by CloudEvent type and kind (inference, sample, or invalid)",
        labelNames: ["type", "kind"],
        registers,
      }),
  );
  const outcomes = getOrCreate(
    registry,
    "budmetrics_collector_events_total",
    () =>
      new Counter({
        name: "budmetrics_collector_events_total",
        help: "valid events by outcome: inserted (committed), duplicate (already stored), retry (not stored, answered RETRY)",
        labelNames: ["type", "outcome"],
        registers,
      }),
  );
  const invalid = getOrCreate(
    registry,
    "budmetrics_collector_events_invalid_total",
    () =>
      new Counter({
        name: "budmetrics_collector_events_invalid_total",
        help: "invalid events quarantined, by CloudEvent type and reason code",
        labelNames: ["type", "reason"],
        registers,
      }),
  );
  const batchRows = getOrCreate(
    registry,
    "budmetrics_collector_batch_rows",
    () =>
      new Histogram({
        name: "budmetrics_collector_batch_rows",
        help: "rows per flushed batch",
        labelNames: ["kind"],
        buckets: [1, 10, 100, 500, 1_000, 5_000, 10_000, 20_000, 50_000, 100_000],
        registers,
      }),
  );
  const flushSeconds = getOrCreate(
    registry,
    "budmetrics_collector_flush_duration_seconds",
    () =>
      new Histogram({
        name: "budmetrics_collector_flush_duration_seconds",
        help: "time to commit one batch (claims, existence check, insert, retries)",
        labelNames: ["kind", "result"],
        buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
        registers,
      }),
  );
  const flushRetries = getOrCreate(
    registry,
    "budmetrics_collector_flush_retries_total",
    () =>
      new Counter({
        name: "budmetrics_collector_flush_retries_total",
        help: "flush attempts repeated after a retryable error",
        labelNames: ["kind"],
        registers,
      }),
  );
  const chErrors = getOrCreate(
    registry,
    "budmetrics_collector_clickhouse_errors_total",
    () =>
      new Counter({
        name: "budmetrics_collector_clickhouse_errors_total",
        help: "failed ClickHouse writes by error code (CLICKHOUSE_UNAVAILABLE, CLICKHOUSE_TIMEOUT, CLICKHOUSE_REJECTED, …)",
        labelNames: ["code", "operation"],
        registers,
      }),
  );
  const deliveries = getOrCreate(
    registry,
    "budmetrics_collector_entry_answers_total",
    () =>
      new Counter({
        name: "budmetrics_collector_entry_answers_total",
        help: "per-entry answers given, by channel and status (SUCCESS/RETRY/DROP for Dapr; inserted/duplicate/invalid/retry for HTTP)",
        labelNames: ["channel", "status"],
        registers,
      }),
  );
  const existingDepth = registry.getSingleMetric("budmetrics_collector_queue_rows");
  if (existingDepth) registry.removeSingleMetric("budmetrics_collector_queue_rows");
  if (registry.getSingleMetric("budmetrics_collector_queue_bytes")) {
    registry.removeSingleMetric("budmetrics_collector_queue_bytes");
  }
  new Gauge({
    name: "budmetrics_collector_queue_rows",
    help: "rows queued or in flight, by kind",
    labelNames: ["kind"],
    registers,
    collect() {
      const d = opts.queueDepth();
      for (const kind of Object.keys(d) as EventKind[]) this.set({ kind }, d[kind].rows);
    },
  });
  new Gauge({
    name: "budmetrics_collector_queue_bytes",
    help: "serialised bytes queued or in flight, by kind",
    labelNames: ["kind"],
    registers,
    collect() {
      const d = opts.queueDepth();
      for (const kind of Object.keys(d) as EventKind[]) this.set({ kind }, d[kind].bytes);
    },
  });

  return {
    received: (type, kind, n) => received.inc({ type: label(type), kind }, n),
    outcome: (type, outcome, n) => outcomes.inc({ type: label(type), outcome }, n),
    invalid: (type, reason) => invalid.inc({ type: label(type), reason }),
    flushed(kind, info) {
      batchRows.observe({ kind }, info.rows);
      flushSeconds.observe({ kind, result: info.ok ? "ok" : "error" }, info.durationMs / 1000);
    },
    flushRetry: (kind) => flushRetries.inc({ kind }),
    clickhouseError: (code, operation) => chErrors.inc({ code, operation }),
    delivery: (channel, status, n) => deliveries.inc({ channel, status }, n),
  };
}
