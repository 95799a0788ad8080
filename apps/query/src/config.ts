import { defineSchema, mergeSchemas, type ConfigOf } from "@budmetrics/config";
import { redisConfigSchema } from "@budmetrics/http";

/** Every setting of the query app, with unit and default (docs/QUERY.md lists them too). */
export const queryOwnConfigSchema = defineSchema({
  QUERY_CACHE_TTL_SECONDS: {
    type: "int",
    min: 0,
    default: 300,
    doc: "seconds a cached answer lives when its whole range is older than the late-event horizon (0 = no cache)",
  },
  QUERY_CACHE_RECENT_TTL_SECONDS: {
    type: "int",
    min: 0,
    default: 5,
    doc: "seconds a cached answer lives when its range reaches into the late-event horizon (0 = not cached)",
  },
  QUERY_LATE_EVENT_HORIZON_SECONDS: {
    type: "int",
    min: 0,
    default: 900,
    doc: "events may still arrive this many seconds after their time: answers touching that window are cached briefly",
  },
  QUERY_CACHE_KEY_PREFIX: {
    type: "string",
    default: "budmetrics:query:",
    doc: "prefix of every cache key in Redis",
  },
  QUERY_CACHE_TIMEOUT_MS: {
    type: "int",
    min: 1,
    default: 150,
    doc: "milliseconds a cache read or write may take before the request goes on uncached (fail-open)",
  },
  QUERY_CACHE_MEMORY_MAX_ENTRIES: {
    type: "int",
    min: 1,
    default: 5_000,
    doc: "entries of the in-memory LRU cache used when REDIS_URL is unset",
  },
  QUERY_CACHE_MAX_ENTRY_BYTES: {
    type: "int",
    min: 1024,
    default: 8_000_000,
    doc: "answers larger than this many bytes are not cached",
  },
  QUERY_CACHE_HOT_MAX_BYTES: {
    type: "int",
    min: 0,
    default: 67_108_864,
    doc: "bytes of the in-process layer in front of the shared cache (exact-request hits, compressed once); 0 = off",
  },
  QUERY_CACHE_HOT_TTL_SECONDS: {
    type: "int",
    min: 0,
    default: 30,
    doc: "longest life of an in-process entry (never longer than the answer's own TTL)",
  },
  ANALYTICS_MAX_RANGE_DAYS: {
    type: "int",
    min: 1,
    default: 366,
    doc: "longest from_date..to_date range an analytics request may ask, in days",
  },
  ANALYTICS_MAX_BUCKETS: {
    type: "int",
    min: 1,
    default: 10_000,
    doc: "most time buckets one analytics request may produce",
  },
  ANALYTICS_MAX_RESULT_ROWS: {
    type: "int",
    min: 1,
    default: 200_000,
    doc: "most (bucket, group) rows one analytics answer may hold, gap filling included",
  },
  QUERY_MAX_EXECUTION_SECONDS: {
    type: "int",
    min: 1,
    default: 20,
    doc: "per-statement execution time limit (SETTINGS max_execution_time); over it the request gets 422",
  },
  QUERY_MAX_MEMORY_BYTES: {
    type: "int",
    min: 1_000_000,
    default: 2_000_000_000,
    doc: "per-statement memory limit in bytes (SETTINGS max_memory_usage)",
  },
  QUERY_MAX_ROWS_TO_READ: {
    type: "int",
    min: 1,
    default: 2_000_000_000,
    doc: "per-statement limit of rows read (SETTINGS max_rows_to_read)",
  },
  QUERY_CONCURRENCY_LOOKBACK_SECONDS: {
    type: "int",
    min: 0,
    default: 3_600,
    doc: "requests that arrived this many seconds before from_date are still counted in flight (longest expected response time)",
  },
  QUERY_ROWS_READ_SAMPLE_RATE: {
    type: "number",
    min: 0,
    max: 1,
    default: 0.1,
    doc: "share (0..1) of statements whose rows read are estimated with EXPLAIN ESTIMATE for the rows-read metric (0 = off)",
  },
  QUERY_SLOW_MS: {
    type: "int",
    min: 0,
    default: 200,
    doc: "requests slower than this many milliseconds are kept in /metrics/query-performance",
  },
  QUERY_BODY_LIMIT_BYTES: {
    type: "int",
    min: 1024,
    default: 262_144,
    doc: "largest accepted JSON request body in bytes (413 above)",
  },
  QUERY_COMPRESSION_MIN_BYTES: {
    type: "int",
    min: 0,
    default: 1024,
    doc: "responses at least this large are brotli/gzip compressed when the client accepts it",
  },
});

export const queryConfigSchema = mergeSchemas(redisConfigSchema, queryOwnConfigSchema);

export type QueryConfig = ConfigOf<typeof queryConfigSchema>;
