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
  writePhases(kind: EventKind, phasesMs: { claims: number; identity: number; insert: number }): void;
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

  // Reuse a metric already on the registry (a second collector instance in one process, as in tests).
  const counter = (name: string, help: string, labelNames: string[]) =>
    getOrCreate(registry, name, () => new Counter({ name, help, labelNames, registers }));
  const histogram = (name: string, help: string, labelNames: string[], buckets: number[]) =>
    getOrCreate(registry, name, () => new Histogram({ name, help, labelNames, buckets, registers }));
  // Gauges read this instance's queues, so a previous instance's gauge is replaced, not reused.
  const queueGauge = (name: string, help: string, pick: (d: { rows: number; bytes: number }) => number) => {
    if (registry.getSingleMetric(name)) registry.removeSingleMetric(name);
    new Gauge({
      name,
      help,
      labelNames: ["kind"],
      registers,
      collect() {
        const d = opts.queueDepth();
        for (const kind of Object.keys(d) as EventKind[]) this.set({ kind }, pick(d[kind]));
      },
    });
  };

  const received = counter(
    "budmetrics_collector_events_received_total",
    "events received, by CloudEvent type and kind (inference, sample, or invalid)",
    ["type", "kind"],
  );
  const outcomes = counter(
    "budmetrics_collector_events_total",
    "valid events by outcome: inserted (committed), duplicate (already stored), retry (not stored, answered RETRY), expired (older than the table keeps: quarantined), unstorable (refused by the engine: quarantined)",
    ["type", "outcome"],
  );
  const invalid = counter(
    "budmetrics_collector_events_invalid_total",
    "invalid events quarantined, by CloudEvent type and reason code",
    ["type", "reason"],
  );
  const batchRows = histogram(
    "budmetrics_collector_batch_rows",
    "rows per flushed batch",
    ["kind"],
    [1, 10, 100, 500, 1_000, 5_000, 10_000, 20_000, 50_000, 100_000],
  );
  const flushSeconds = histogram(
    "budmetrics_collector_flush_duration_seconds",
    "time to commit one batch (claims, existence check, insert, retries)",
    ["kind", "result"],
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  );
  const phaseSeconds = histogram(
    "budmetrics_collector_write_phase_seconds",
    "time of each phase of a committed write: claims, identity (the check against the stored ids), insert",
    ["kind", "phase"],
    [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  );
  const flushRetries = counter(
    "budmetrics_collector_flush_retries_total",
    "flush attempts repeated after a retryable error",
    ["kind"],
  );
  const chErrors = counter(
    "budmetrics_collector_clickhouse_errors_total",
    "failed ClickHouse writes by error code (CLICKHOUSE_UNAVAILABLE, CLICKHOUSE_TIMEOUT, CLICKHOUSE_REJECTED, …)",
    ["code", "operation"],
  );
  const deliveries = counter(
    "budmetrics_collector_entry_answers_total",
    "per-entry answers given, by channel and status (SUCCESS/RETRY/DROP for Dapr; inserted/duplicate/invalid/retry for HTTP)",
    ["channel", "status"],
  );
  queueGauge("budmetrics_collector_queue_rows", "rows queued or in flight, by kind", (d) => d.rows);
  queueGauge(
    "budmetrics_collector_queue_bytes",
    "serialised bytes queued or in flight, by kind",
    (d) => d.bytes,
  );

  return {
    received: (type, kind, n) => received.inc({ type: label(type), kind }, n),
    outcome: (type, outcome, n) => outcomes.inc({ type: label(type), outcome }, n),
    invalid: (type, reason) => invalid.inc({ type: label(type), reason }),
    flushed(kind, info) {
      batchRows.observe({ kind }, info.rows);
      flushSeconds.observe({ kind, result: info.ok ? "ok" : "error" }, info.durationMs / 1000);
    },
    flushRetry: (kind) => flushRetries.inc({ kind }),
    writePhases(kind, phasesMs) {
      for (const [phase, ms] of Object.entries(phasesMs)) phaseSeconds.observe({ kind, phase }, ms / 1000);
    },
    clickhouseError: (code, operation) => chErrors.inc({ code, operation }),
    delivery: (channel, status, n) => deliveries.inc({ channel, status }, n),
  };
}
