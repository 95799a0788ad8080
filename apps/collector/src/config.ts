import { defineSchema, mergeSchemas, type ConfigOf } from "@budmetrics/config";
import { appTokenConfigSchema, redisConfigSchema } from "@budmetrics/http";

/**
 * Every collector setting, with its unit in the name and its default. Inconsistent combinations are
 * reported by `collectorConfigChecks` (pass them to loadConfig), never clamped silently.
 */
export const collectorConfigSchema = mergeSchemas(
  mergeSchemas(redisConfigSchema, appTokenConfigSchema),
  defineSchema({
    COLLECTOR_PUBSUB_NAME: {
      type: "string",
      default: "pubsub-redis",
      pattern: /^[A-Za-z0-9][A-Za-z0-9_.-]*$/,
      doc: "Dapr pub/sub component the collector subscribes through (GET /dapr/subscribe)",
    },
    COLLECTOR_TOPIC: {
      type: "string",
      default: "budMetricsMessages",
      pattern: /^[A-Za-z0-9][A-Za-z0-9_.-]*$/,
      doc: "topic carrying inference events and metric samples",
    },
    COLLECTOR_DEAD_LETTER_TOPIC: {
      type: "string",
      default: "poisonMessages",
      pattern: /^[A-Za-z0-9][A-Za-z0-9_.-]*$/,
      doc: "dead-letter topic: Dapr forwards DROPped (invalid) and exhausted events there",
    },
    COLLECTOR_BULK_MAX_MESSAGES: {
      type: "int",
      min: 1,
      max: 10_000,
      default: 5_000,
      doc: "bulk subscribe: most messages the sidecar hands over in one delivery; the pub/sub component's concurrency must be at least this (count)",
    },
    COLLECTOR_BULK_MAX_AWAIT_MS: {
      type: "int",
      min: 0,
      default: 50,
      doc: "bulk subscribe: longest the sidecar waits to fill a delivery (milliseconds)",
    },
    COLLECTOR_SAMPLE_EVENT_TYPES: {
      type: "list",
      default: ["model.inference", "metric_sample", "metric.sample"],
      doc: "CloudEvent types carrying a generic metric sample (comma-separated); add_observability_metrics is always an inference",
    },
    COLLECTOR_BATCH_MAX_ROWS: {
      type: "int",
      min: 1,
      default: 20_000,
      doc: "a batch is flushed as soon as it holds this many rows (rows)",
    },
    COLLECTOR_INSERT_MIN_INTERVAL_MS: {
      type: "int",
      min: 0,
      default: 100,
      doc: "group commit: rows are written at once when no write is in flight, but two writes into one table start at least this far apart unless a full batch waits — at most 1000/N inserts per second per table, so light traffic does not make a part per event (milliseconds)",
    },
    COLLECTOR_QUEUE_MAX_ROWS: {
      type: "int",
      min: 1,
      default: 200_000,
      doc: "rows queued or in flight per event kind; beyond it deliveries get RETRY / HTTP 503 (rows)",
    },
    COLLECTOR_QUEUE_MAX_BYTES: {
      type: "int",
      min: 1024,
      default: 256 * 1024 * 1024,
      doc: "serialised bytes queued or in flight per event kind; beyond it deliveries get RETRY / 503 (bytes)",
    },
    COLLECTOR_FLUSH_TIMEOUT_MS: {
      type: "int",
      min: 100,
      default: 20_000,
      doc: "deadline of one flush including its retries; past it the batch is answered RETRY. A delivery may wait for the write in flight and then its own: twice this, plus COLLECTOR_INSERT_MIN_INTERVAL_MS, must stay below the Dapr delivery timeout (milliseconds)",
    },
    COLLECTOR_FLUSH_MAX_RETRIES: {
      type: "int",
      min: 0,
      default: 3,
      doc: "extra attempts of a flush that failed with a retryable ClickHouse error (count)",
    },
    COLLECTOR_FLUSH_RETRY_BACKOFF_MS: {
      type: "int",
      min: 0,
      default: 200,
      doc: "first back-off between flush attempts, doubled each time (milliseconds)",
    },
    COLLECTOR_DRAIN_TIMEOUT_MS: {
      type: "int",
      min: 100,
      default: 10_000,
      doc: "SIGTERM: time to flush queued batches; rows still queued then are answered RETRY. Keep it below DRAIN_TIMEOUT_MS (milliseconds)",
    },
    COLLECTOR_MAX_BODY_BYTES: {
      type: "int",
      min: 1024,
      default: 64 * 1024 * 1024,
      doc: "largest accepted request body; larger bodies get HTTP 413. Must hold a full bulk: at least COLLECTOR_BULK_MAX_MESSAGES × 4 KiB (bytes)",
    },
    COLLECTOR_RETRY_AFTER_SECONDS: {
      type: "int",
      min: 1,
      default: 5,
      doc: "Retry-After sent with HTTP 503 when the queue is full or ClickHouse is down (seconds)",
    },
    COLLECTOR_CLAIM_PENDING_TTL_MS: {
      type: "int",
      min: 1_000,
      default: 120_000,
      doc: "claim of an event being written (Redis, or in memory without it); must outlive a flush with its retries; a write whose outcome is unknown (server timeout) keeps its claims this long (milliseconds)",
    },
    COLLECTOR_CLAIM_COMMITTED_TTL_SECONDS: {
      type: "int",
      min: 1,
      default: 86_400,
      doc: "how long Redis remembers a committed event id; older ids are found by the table check (seconds)",
    },
    COLLECTOR_CLAIM_KEY_PREFIX: {
      type: "string",
      default: "budmetrics:claim:",
      doc: "prefix of the collector's Redis claim keys (the database name is appended)",
    },
    COLLECTOR_CLAIM_MEMORY_MAX_KEYS: {
      type: "int",
      min: 1,
      default: 500_000,
      doc: "in-process claims (embedded mode): committed ids remembered before the table check takes over (keys)",
    },
    COLLECTOR_OTLP_ENABLED: {
      type: "enum",
      values: ["auto", "true", "false"],
      default: "auto",
      doc: "OTLP traces (POST /v1/traces, docs/OTLP.md): auto = the route is mounted and inference CloudEvents are held for their spans only while spans arrive (seen within COLLECTOR_OTLP_RETAIN_MS); true = the route is mounted and every inference CloudEvent is held; false = no route, nothing held",
    },
    COLLECTOR_OTLP_BOUND_MS: {
      type: "int",
      min: 1_000,
      default: 120_000,
      doc: "how long an incomplete request's spans, and a held CloudEvent, wait for the rest of the request before its record is written as it is (milliseconds)",
    },
    COLLECTOR_OTLP_RETAIN_MS: {
      type: "int",
      min: 1_000,
      default: 900_000,
      doc: "how long the span and inference ids of a written record are remembered to recognise resent and late spans; at least COLLECTOR_OTLP_BOUND_MS (milliseconds)",
    },
    COLLECTOR_OTLP_MAX_PENDING: {
      type: "int",
      min: 1,
      default: 200_000,
      doc: "pending spans plus held CloudEvents beyond which OTLP requests get 503 + Retry-After and CloudEvents RETRY (count)",
    },
    COLLECTOR_OTLP_SWEEP_INTERVAL_MS: {
      type: "int",
      min: 10,
      default: 1_000,
      doc: "how often requests whose time bound has passed are written (and expired done markers forgotten); below COLLECTOR_OTLP_BOUND_MS (milliseconds)",
    },
    COLLECTOR_OTLP_SWEEP_LIMIT: {
      type: "int",
      min: 1,
      default: 5_000,
      doc: "traces and held CloudEvents finished per sweep (count)",
    },
    COLLECTOR_OTLP_MAX_BODY_BYTES: {
      type: "int",
      min: 1024,
      default: 64 * 1024 * 1024,
      doc: "largest OTLP request body, both as received and after gzip/deflate; larger bodies get HTTP 413 (bytes)",
    },
    COLLECTOR_OTLP_KEY_PREFIX: {
      type: "string",
      default: "budmetrics:otlp:",
      doc: "prefix of the OTLP pending store's Redis keys (server mode with REDIS_URL); the database name is appended as a hash tag, {db}:",
    },
  }),
);

export type CollectorConfig = ConfigOf<typeof collectorConfigSchema>;

/** Cross-field rules; each returns a problem or undefined. */
export const collectorConfigChecks: ReadonlyArray<(c: CollectorConfig) => string | undefined> = [
  (c) =>
    c.COLLECTOR_QUEUE_MAX_ROWS < c.COLLECTOR_BATCH_MAX_ROWS
      ? `COLLECTOR_QUEUE_MAX_ROWS (${c.COLLECTOR_QUEUE_MAX_ROWS}) must be ≥ COLLECTOR_BATCH_MAX_ROWS (${c.COLLECTOR_BATCH_MAX_ROWS})`
      : undefined,
  (c) =>
    c.COLLECTOR_MAX_BODY_BYTES < c.COLLECTOR_BULK_MAX_MESSAGES * 4096
      ? `COLLECTOR_MAX_BODY_BYTES (${c.COLLECTOR_MAX_BODY_BYTES}) must hold a full bulk of COLLECTOR_BULK_MAX_MESSAGES (${c.COLLECTOR_BULK_MAX_MESSAGES}) events of 4 KiB: a bulk answered 413 is resent whole, for ever`
      : undefined,
  (c) =>
    c.COLLECTOR_CLAIM_PENDING_TTL_MS <= c.COLLECTOR_FLUSH_TIMEOUT_MS
      ? `COLLECTOR_CLAIM_PENDING_TTL_MS (${c.COLLECTOR_CLAIM_PENDING_TTL_MS}) must exceed COLLECTOR_FLUSH_TIMEOUT_MS (${c.COLLECTOR_FLUSH_TIMEOUT_MS}): a claim must outlive the write it protects`
      : undefined,
  (c) =>
    c.COLLECTOR_OTLP_RETAIN_MS < c.COLLECTOR_OTLP_BOUND_MS
      ? `COLLECTOR_OTLP_RETAIN_MS (${c.COLLECTOR_OTLP_RETAIN_MS}) must be ≥ COLLECTOR_OTLP_BOUND_MS (${c.COLLECTOR_OTLP_BOUND_MS}): a span that comes after its record was written at the bound must still be recognised as late`
      : undefined,
  (c) =>
    c.COLLECTOR_OTLP_SWEEP_INTERVAL_MS >= c.COLLECTOR_OTLP_BOUND_MS
      ? `COLLECTOR_OTLP_SWEEP_INTERVAL_MS (${c.COLLECTOR_OTLP_SWEEP_INTERVAL_MS}) must be below COLLECTOR_OTLP_BOUND_MS (${c.COLLECTOR_OTLP_BOUND_MS}): records are written at most one interval after their bound`
      : undefined,
];
