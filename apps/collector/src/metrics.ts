import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { FlushInfo } from "./ingest/batcher";
import type { IngestMetrics } from "./ingest/ingest";
import type { EventKind } from "./ingest/parse-event";
import type { SweepResult } from "./otlp/otlp-ingest";
import type { RecordSinkMetrics } from "./otlp/record-sink";
import type { OtlpRouteMetrics } from "./routes/otlp.route";

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
    "valid events by outcome: inserted (committed), duplicate (already stored), held (kept for its spans, OTLP on), retry (not stored, answered RETRY), expired (older than the table keeps: quarantined), unstorable (refused by the engine: quarantined)",
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

/** The OTLP path's metrics (route, record sink, held CloudEvents, sweep, pending store). */
export interface OtlpMetrics extends OtlpRouteMetrics, RecordSinkMetrics {
  held(decision: "held" | "write" | "retry", n: number): void;
  sweep(result: SweepResult): void;
}

export function createOtlpMetrics(
  registry: Registry,
  opts: { pending: () => Promise<{ pendingSpans: number; heldEvents: number }> },
): OtlpMetrics {
  const registers = [registry];
  const counter = (name: string, help: string, labelNames: string[]) =>
    getOrCreate(registry, name, () => new Counter({ name, help, labelNames, registers }));
  const requests = counter(
    "budmetrics_collector_otlp_requests_total",
    "POST /v1/traces answers by HTTP status (200 stored or pending, 400/413/415 unreadable, 503 not acknowledged)",
    ["status"],
  );
  const spans = counter(
    "budmetrics_collector_otlp_spans_total",
    "spans by outcome: received (every span of a request), rejected (unusable: ids, times, attributes), ignored (no record reads it), accepted (pending or written for the first time), duplicate (resent), late (its record was already written: dropped)",
    ["outcome"],
  );
  const records = counter(
    "budmetrics_collector_otlp_records_total",
    "records written by the OTLP path, by kind (inference, blocked, response; event = a held CloudEvent written alone at its bound) and outcome (inserted, duplicate, refused = quarantined, retry)",
    ["kind", "outcome"],
  );
  const problems = counter(
    "budmetrics_collector_otlp_record_problems_total",
    "values of records left out (or a forward time corrected) so that the rest of the record could be stored",
    [],
  );
  const held = counter(
    "budmetrics_collector_otlp_held_events_total",
    "inference CloudEvents offered to the OTLP path, by decision: held (kept for their spans), write (written at once: their record exists, or no spans arrive), retry (could not be held)",
    ["decision"],
  );
  const sweeps = counter(
    "budmetrics_collector_otlp_sweeps_total",
    "sweeps (records whose time bound passed, held events written alone) by result: ok, failed (retried at the next sweep)",
    ["result"],
  );
  if (registry.getSingleMetric("budmetrics_collector_otlp_pending"))
    registry.removeSingleMetric("budmetrics_collector_otlp_pending");
  new Gauge({
    name: "budmetrics_collector_otlp_pending",
    help: "what the OTLP pending store holds now: spans waiting for the rest of their request, held CloudEvents",
    labelNames: ["what"],
    registers,
    async collect() {
      try {
        const size = await opts.pending();
        this.set({ what: "spans" }, size.pendingSpans);
        this.set({ what: "events" }, size.heldEvents);
      } catch {
        // the store is unreachable: keep the last values
      }
    },
  });
  return {
    request: (status) => requests.inc({ status: String(status) }),
    spans: (outcome, n) => {
      if (n > 0) spans.inc({ outcome }, n);
    },
    records: (kind, outcome, n) => records.inc({ kind, outcome }, n),
    problems: (n) => problems.inc(n),
    held: (decision, n) => {
      if (n > 0) held.inc({ decision }, n);
    },
    sweep: (r) => sweeps.inc({ result: r.failed ? "failed" : "ok" }),
  };
}
