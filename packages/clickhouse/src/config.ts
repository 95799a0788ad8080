import { defineSchema, mergeSchemas, type ConfigOf } from "@budmetrics/config";

/** ClickHouse settings shared by every app and the migration CLI. */
export const clickhouseConfigSchema = defineSchema({
  CLICKHOUSE_URL: {
    type: "url",
    protocols: ["http", "https"],
    default: null,
    doc: "ClickHouse server HTTP(S) endpoint. Unset = embedded engine (chdb) in DATA_DIR",
  },
  CLICKHOUSE_USER: { type: "string", default: "default", doc: "server mode: user" },
  CLICKHOUSE_PASSWORD: { type: "string", default: "", secret: true, doc: "server mode: password" },
  CLICKHOUSE_DATABASE: {
    type: "string",
    default: "budmetrics",
    pattern: /^[A-Za-z_][A-Za-z0-9_]*$/,
    doc: "database holding every table (created if missing)",
  },
  CLICKHOUSE_CLUSTER: {
    type: "string",
    default: null,
    pattern: /^[A-Za-z_][A-Za-z0-9_.-]*$/,
    doc: "server mode: cluster name; renders ON CLUSTER, Replicated engines and Distributed tables",
  },
  CLICKHOUSE_REQUEST_TIMEOUT_MS: {
    type: "int",
    min: 100,
    default: 30_000,
    doc: "deadline of one ClickHouse call (queries also carry max_execution_time)",
  },
  CLICKHOUSE_MAX_OPEN_CONNECTIONS: {
    type: "int",
    min: 1,
    default: 10,
    doc: "server mode: HTTP connection pool size",
  },
  CLICKHOUSE_APPLICATION: {
    type: "string",
    default: "budmetrics",
    doc: "server mode: application name reported to ClickHouse (system.query_log http_user_agent)",
  },
  CLICKHOUSE_MIGRATE_ON_START: {
    type: "enum",
    values: ["auto", "true", "false"],
    default: "auto",
    doc: "apply migrations at start-up: auto = in embedded mode only",
  },
  DATA_DIR: { type: "string", default: "./.data", doc: "embedded mode: data folder (one process at a time)" },
  RAW_DATA_RETENTION_DAYS: {
    type: "int",
    min: 0,
    default: 90,
    doc: "TTL of inference_events in days (0 = keep forever); applied when the table is created",
  },
  METRICS_RETENTION_DAYS: {
    type: "int",
    min: 0,
    default: 365,
    doc: "TTL of metric_samples in days (0 = forever)",
  },
  AGGREGATED_DATA_RETENTION_DAYS: {
    type: "int",
    min: 0,
    default: 730,
    doc: "TTL of every rollup in days (0 = forever)",
  },
  QUARANTINE_RETENTION_DAYS: {
    type: "int",
    min: 0,
    default: 30,
    doc: "TTL of the quarantine table in days (0 = forever)",
  },
});

export type ClickHouseConfig = ConfigOf<typeof clickhouseConfigSchema>;

/** What the migration CLI reads: the ClickHouse settings and its log level. */
export const migrateConfigSchema = mergeSchemas(
  clickhouseConfigSchema,
  defineSchema({ LOG_LEVEL: { type: "string", default: "info", doc: "pino log level" } }),
);
