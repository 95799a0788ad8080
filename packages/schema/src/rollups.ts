/**
 * The inference rollup, declared once. Everything else is derived from this module: the table and
 * its one materialized view (migrations/0008, then 0014/0015 with the table settings; rendered by
 * `pnpm migration:rollup` and then frozen),
 * the states the query app selects from the rollup, the same states computed from raw rows for the
 * unaligned edges of a range, and how states of one column merge. A test holds the engine's
 * `system.columns` of the table to this declaration.
 *
 * One table holds every tier: a row is one (grain, level, bucket, key) with mergeable states. The
 * grain is the bucket width (5 minutes, an hour, a day since the Unix epoch, UTC); the level says
 * which keys the row keeps — `dims` all of them, `model` the model only, `total` none — so a question
 * that filters and groups by nothing (or by the model only) merges one state per bucket (per model)
 * instead of one per endpoint. One view writes all tiers from each raw insert block: one part per
 * insert instead of one per tier table, which is most of what an insert costs for small batches.
 */

export type Grain = "5m" | "1h" | "1d";
export const GRAIN_MS: Readonly<Record<Grain, number>> = { "5m": 300_000, "1h": 3_600_000, "1d": 86_400_000 };
/** Coarsest first: the planner tries them in this order. */
export const GRAINS_COARSE_FIRST: readonly Grain[] = ["1d", "1h", "5m"];

export type RollupLevel = "dims" | "model" | "total";

export interface RollupTier {
  grain: Grain;
  level: RollupLevel;
}

/** The tiers the view writes. A question reads the narrowest level that holds its keys. */
export const INFERENCE_ROLLUP_TIERS: readonly RollupTier[] = [
  { grain: "5m", level: "dims" },
  { grain: "1h", level: "dims" },
  { grain: "1d", level: "dims" },
  { grain: "1h", level: "model" },
  { grain: "1d", level: "model" },
  { grain: "1h", level: "total" },
  { grain: "1d", level: "total" },
];

export function hasTier(grain: Grain, level: RollupLevel): boolean {
  return INFERENCE_ROLLUP_TIERS.some((t) => t.grain === grain && t.level === level);
}

/** Relative accuracy of the DDSketch states (quantileDD): a percentile is within 1 % of an order statistic. */
export const QUANTILE_RELATIVE_ACCURACY = 0.01;

const ZERO_UUID = "toUUID('00000000-0000-0000-0000-000000000000')";

export interface RollupKey {
  column: string;
  type: string;
  /** The key from a raw row. */
  fromRaw: string;
  /** The value a row of a level that drops this key holds. */
  empty: string;
  /** Levels that keep the key. */
  levels: readonly RollupLevel[];
}

/**
 * Keys after (grain, level, bucket_start), in sorting-key order. api_key_project_id holds the zero
 * UUID for "absent": sorting keys cannot be Nullable.
 */
export const INFERENCE_ROLLUP_KEYS: readonly RollupKey[] = [
  { column: "project_id", type: "UUID", fromRaw: "project_id", empty: ZERO_UUID, levels: ["dims"] },
  { column: "model_id", type: "UUID", fromRaw: "model_id", empty: ZERO_UUID, levels: ["dims", "model"] },
  { column: "endpoint_id", type: "UUID", fromRaw: "endpoint_id", empty: ZERO_UUID, levels: ["dims"] },
  {
    column: "api_key_project_id",
    type: "UUID",
    fromRaw: `ifNull(api_key_project_id, ${ZERO_UUID})`,
    empty: ZERO_UUID,
    levels: ["dims"],
  },
  {
    column: "cluster_id",
    type: "LowCardinality(String)",
    fromRaw: "cluster_id",
    empty: "''",
    levels: ["dims"],
  },
  {
    column: "model_name",
    type: "LowCardinality(String)",
    fromRaw: "model_name",
    empty: "''",
    levels: ["dims", "model"],
  },
  {
    column: "project_name",
    type: "LowCardinality(String)",
    fromRaw: "project_name",
    empty: "''",
    levels: ["dims"],
  },
  {
    column: "endpoint_name",
    type: "LowCardinality(String)",
    fromRaw: "endpoint_name",
    empty: "''",
    levels: ["dims"],
  },
];

/** How states of one column combine: rows of any tier, and raw rows, merge into the same answer. */
export type MergeKind = "sum" | "min" | "max" | "quantileDD" | "uniq";

export interface RollupState {
  column: string;
  type: string;
  /** The state of a group of raw rows (the view, and raw pieces of a query). */
  fromRaw: string;
  merge: MergeKind;
}

const ACC = QUANTILE_RELATIVE_ACCURACY;
const QUEUING_MS =
  "toInt64(toUnixTimestamp64Milli(request_forward_time) - toUnixTimestamp64Milli(request_arrival_time))";

/**
 * Every state of the inference rollup. Counts, integer sums, the Decimal cost sum and min/max are
 * exact; float sums are exact up to summation order; quantiles are DDSketch; users are `uniq`
 * (≈1.6 % error).
 */
export const INFERENCE_ROLLUP_STATES = {
  requests: {
    column: "request_count",
    type: "SimpleAggregateFunction(sum, UInt64)",
    fromRaw: "toUInt64(count())",
    merge: "sum",
  },
  success: {
    column: "success_count",
    type: "SimpleAggregateFunction(sum, UInt64)",
    fromRaw: "toUInt64(countIf(is_success))",
    merge: "sum",
  },
  cached: {
    column: "cached_count",
    type: "SimpleAggregateFunction(sum, UInt64)",
    fromRaw: "toUInt64(countIf(cached))",
    merge: "sum",
  },
  queuing_sum: {
    column: "queuing_ms_sum",
    type: "SimpleAggregateFunction(sum, Int64)",
    fromRaw: `sum(${QUEUING_MS})`,
    merge: "sum",
  },
  queuing_min: {
    column: "queuing_ms_min",
    type: "SimpleAggregateFunction(min, Int64)",
    fromRaw: `min(${QUEUING_MS})`,
    merge: "min",
  },
  queuing_max: {
    column: "queuing_ms_max",
    type: "SimpleAggregateFunction(max, Int64)",
    fromRaw: `max(${QUEUING_MS})`,
    merge: "max",
  },
  input_tokens: {
    column: "input_tokens_sum",
    type: "SimpleAggregateFunction(sum, UInt64)",
    fromRaw: "toUInt64(sum(input_tokens))",
    merge: "sum",
  },
  output_tokens: {
    column: "output_tokens_sum",
    type: "SimpleAggregateFunction(sum, UInt64)",
    fromRaw: "toUInt64(sum(output_tokens))",
    merge: "sum",
  },
  latency_count: {
    column: "latency_count",
    type: "SimpleAggregateFunction(sum, UInt64)",
    fromRaw: "toUInt64(count(response_time_ms))",
    merge: "sum",
  },
  latency_sum: {
    column: "latency_sum",
    type: "SimpleAggregateFunction(sum, Float64)",
    fromRaw: "toFloat64(ifNull(sum(response_time_ms), 0))",
    merge: "sum",
  },
  latency_min: {
    column: "latency_min",
    type: "SimpleAggregateFunction(min, Nullable(Float64))",
    fromRaw: "min(response_time_ms)",
    merge: "min",
  },
  latency_max: {
    column: "latency_max",
    type: "SimpleAggregateFunction(max, Nullable(Float64))",
    fromRaw: "max(response_time_ms)",
    merge: "max",
  },
  latency_q: {
    column: "latency_q",
    type: `AggregateFunction(quantileDD(${ACC}, 0.5), Float64)`,
    fromRaw: `quantileDDStateIf(${ACC}, 0.5)(assumeNotNull(response_time_ms), response_time_ms IS NOT NULL)`,
    merge: "quantileDD",
  },
  ttft_count: {
    column: "ttft_count",
    type: "SimpleAggregateFunction(sum, UInt64)",
    fromRaw: "toUInt64(count(ttft_ms))",
    merge: "sum",
  },
  ttft_sum: {
    column: "ttft_sum",
    type: "SimpleAggregateFunction(sum, Float64)",
    fromRaw: "toFloat64(ifNull(sum(ttft_ms), 0))",
    merge: "sum",
  },
  ttft_min: {
    column: "ttft_min",
    type: "SimpleAggregateFunction(min, Nullable(Float64))",
    fromRaw: "min(ttft_ms)",
    merge: "min",
  },
  ttft_max: {
    column: "ttft_max",
    type: "SimpleAggregateFunction(max, Nullable(Float64))",
    fromRaw: "max(ttft_ms)",
    merge: "max",
  },
  ttft_q: {
    column: "ttft_q",
    type: `AggregateFunction(quantileDD(${ACC}, 0.5), Float64)`,
    fromRaw: `quantileDDStateIf(${ACC}, 0.5)(assumeNotNull(ttft_ms), ttft_ms IS NOT NULL)`,
    merge: "quantileDD",
  },
  throughput_count: {
    column: "throughput_count",
    type: "SimpleAggregateFunction(sum, UInt64)",
    fromRaw: "toUInt64(countIf(response_time_ms > 0))",
    merge: "sum",
  },
  throughput_sum: {
    column: "throughput_sum",
    type: "SimpleAggregateFunction(sum, Float64)",
    fromRaw: "sumIf(output_tokens * 1000 / assumeNotNull(response_time_ms), response_time_ms > 0)",
    merge: "sum",
  },
  cost: {
    column: "cost_sum",
    type: "SimpleAggregateFunction(sum, Decimal(38, 9))",
    fromRaw: "toDecimal128(sum(ifNull(cost, toDecimal64(0, 9))), 9)",
    merge: "sum",
  },
  users: {
    column: "users",
    type: "AggregateFunction(uniq, UUID)",
    fromRaw: "uniqStateIf(assumeNotNull(user_id), user_id IS NOT NULL)",
    merge: "uniq",
  },
} as const satisfies Record<string, RollupState>;

/**
 * The states of the metric-sample rollups (metric_samples_rollup_{5m,1h,1d}, migrations/0005, one
 * table per grain keyed by metric_type, model, project, endpoint, cluster and bucket_start).
 */
export const SAMPLE_ROLLUP_STATES = {
  count: {
    column: "sample_count",
    type: "SimpleAggregateFunction(sum, UInt64)",
    fromRaw: "toUInt64(count())",
    merge: "sum",
  },
  sum: {
    column: "value_sum",
    type: "SimpleAggregateFunction(sum, Float64)",
    fromRaw: "sum(value)",
    merge: "sum",
  },
  min: {
    column: "value_min",
    type: "SimpleAggregateFunction(min, Float64)",
    fromRaw: "min(value)",
    merge: "min",
  },
  max: {
    column: "value_max",
    type: "SimpleAggregateFunction(max, Float64)",
    fromRaw: "max(value)",
    merge: "max",
  },
  q: {
    column: "value_q",
    type: `AggregateFunction(quantileDD(${ACC}, 0.5), Float64)`,
    fromRaw: `quantileDDState(${ACC}, 0.5)(value)`,
    merge: "quantileDD",
  },
} as const satisfies Record<string, RollupState>;

export type SampleState = keyof typeof SAMPLE_ROLLUP_STATES;

export type InferenceState = keyof typeof INFERENCE_ROLLUP_STATES;
export const INFERENCE_STATE_NAMES = Object.keys(INFERENCE_ROLLUP_STATES) as InferenceState[];

/**
 * The final value of merged states of one column: sums, minima and maxima of SimpleAggregateFunction
 * columns (and of raw-row states), the requested quantile levels of a DDSketch, the uniq estimate.
 */
export function mergeStatesSql(
  merge: MergeKind,
  column: string,
  quantileLevels: readonly number[] = [0.5],
): string {
  switch (merge) {
    case "sum":
    case "min":
    case "max":
      return `${merge}(${column})`;
    case "quantileDD":
      return `quantilesDDMerge(${ACC}, ${quantileLevels.map(levelLiteral).join(", ")})(${column})`;
    case "uniq":
      return `uniqMerge(${column})`;
  }
}

/** A quantile level inlined in SQL: a number in (0, 1), printed by Number#toString. */
export function levelLiteral(p: number): string {
  if (!(Number.isFinite(p) && p > 0 && p < 1)) throw new Error(`quantile level out of range: ${p}`);
  return String(p);
}

const TIER_TYPE =
  "Tuple(grain Enum8('5m' = 1, '1h' = 2, '1d' = 3), level Enum8('dims' = 1, 'model' = 2, 'total' = 3), seconds UInt32)";

/**
 * Table settings of the inference rollup, rendered into its CREATE TABLE.
 * - `index_granularity`: the engine reads a column by whole granules of this many rows and decodes
 *   every aggregate state in them, kept or not. At the default 8,192, "hourly over 7 days" (168
 *   `total` rows) decoded a granule of 8,192 sketch states per sketch column; 256 rows per granule
 *   made the statements reading the `total` and `model` levels up to 2.8× faster on the engine alone
 *   (docs/QUERY.md, "Where the time goes") for a primary index 32× longer (one mark per 256 rows:
 *   ~4,000 marks per million rollup rows).
 * - `non_replicated_deduplication_window`: a retried insert of the same block is counted once (0012).
 *
 * Not set, measured: `min_age_to_force_merge_seconds` (merges forced by part age, with or without
 * `min_age_to_force_merge_on_partition_only`) made the questions slower right after a backfill while
 * its merges ran, and rewrites the month's rollup after every insert that follows a quiet gap longer
 * than the age (docs/QUERY.md, "Forcing the rollup's merges by age").
 */
export const INFERENCE_ROLLUP_TABLE_SETTINGS = {
  index_granularity: 256,
  non_replicated_deduplication_window: 1000,
} as const;

/**
 * The DDL of the rollup table and of its view, with the migration template tokens ({{db}}, {{local}},
 * {{engine}}, {{ttl}}, {{distributed}}, {{on_cluster}}); `pnpm migration:rollup` prints both for a new
 * migration. The view reads each raw insert block once, repeats every row once per tier (ARRAY JOIN)
 * and groups by tier, bucket and the keys the tier's level keeps.
 */
export function renderInferenceRollupDdl(table = "inference_rollup"): { table: string; view: string } {
  const states = Object.values(INFERENCE_ROLLUP_STATES) as RollupState[];
  const width =
    Math.max(...[...INFERENCE_ROLLUP_KEYS, ...states].map((c) => c.column.length), "bucket_start".length) + 2;
  const col = (name: string, type: string) => `    ${name.padEnd(width)}${type}`;
  const keyNames = INFERENCE_ROLLUP_KEYS.map((k) => k.column);
  const columns = [
    col("grain", "Enum8('5m' = 1, '1h' = 2, '1d' = 3)"),
    col("level", "Enum8('dims' = 1, 'model' = 2, 'total' = 3)"),
    col("bucket_start", "DateTime('UTC')"),
    ...INFERENCE_ROLLUP_KEYS.map((k) => col(k.column, k.type)),
    ...states.map((s) => col(s.column, s.type)),
  ];
  const tiers = INFERENCE_ROLLUP_TIERS.map(
    (t) => `('${t.grain}', '${t.level}', ${GRAIN_MS[t.grain] / 1000})`,
  );
  const keyExpr = (k: RollupKey) =>
    k.levels.length === 3
      ? `${k.fromRaw} AS ${k.column}`
      : `if(tier.level IN (${k.levels.map((l) => `'${l}'`).join(", ")}), ${k.fromRaw}, ${k.empty}) AS ${k.column}`;
  return {
    table: [
      `CREATE TABLE IF NOT EXISTS {{db}}.{{local ${table}}} {{on_cluster}}`,
      "(",
      columns.join(",\n"),
      ")",
      "ENGINE = {{engine AggregatingMergeTree}}",
      "PARTITION BY toYYYYMM(bucket_start)",
      `ORDER BY (grain, level, toStartOfDay(bucket_start), ${keyNames.slice(0, 3).join(", ")}, bucket_start, ${keyNames.slice(3).join(", ")})`,
      "{{ttl bucket_start AGGREGATED_DATA_RETENTION_DAYS}}",
      `SETTINGS ${Object.entries(INFERENCE_ROLLUP_TABLE_SETTINGS)
        .map(([k, v]) => `${k} = ${v}`)
        .join(", ")};`,
      "",
      `{{distributed ${table} cityHash64(project_id)}};`,
    ].join("\n"),
    view: [
      `CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.${table}_mv {{on_cluster}}`,
      `TO {{db}}.{{local ${table}}}`,
      "AS SELECT",
      "    tier.grain AS grain,",
      "    tier.level AS level,",
      "    toDateTime(intDiv(toUnixTimestamp(toDateTime(request_arrival_time, 'UTC')), tier.seconds) * tier.seconds, 'UTC') AS bucket_start,",
      ...INFERENCE_ROLLUP_KEYS.map((k) => `    ${keyExpr(k)},`),
      states.map((s) => `    ${s.fromRaw} AS ${s.column}`).join(",\n"),
      "FROM {{db}}.{{local inference_events}}",
      `ARRAY JOIN [${tiers.join(", ")}]::Array(${TIER_TYPE}) AS tier`,
      `GROUP BY grain, level, bucket_start, ${keyNames.join(", ")};`,
    ].join("\n"),
  };
}
