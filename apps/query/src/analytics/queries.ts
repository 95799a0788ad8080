/**
 * Pure query builders: each returns `{ query, query_params }`. Every value is a bound parameter;
 * every identifier comes from the allow-lists below. The only inlined literal is a percentile level,
 * a number validated to lie in (0, 1) and printed by Number#toString.
 */
import {
  INFERENCE_ROLLUP_STATES,
  SAMPLE_ROLLUP_STATES,
  Tables,
  hasTier,
  mergeStatesSql,
  type Grain,
  type RollupLevel,
  type RollupState,
} from "@budmetrics/schema";
import type { InferenceAgg, SampleAgg } from "./catalog";
import { STANDARD_LEVELS } from "./catalog";
import type { Segment } from "./planner";

export interface BuiltQuery {
  query: string;
  query_params: Record<string, unknown>;
}

/** Allow-list of the group / filter dimensions (the request schemas' enum). */
export const DIM_VALUES = ["model", "project", "endpoint", "user_project", "api_key", "cluster"] as const;
export type Dim = (typeof DIM_VALUES)[number];
export type FilterKey = Dim | "prompt";

/** Values of one filter split by form: UUID-looking values match the id column, others the name column. */
export interface FilterValues {
  ids: string[];
  names: string[];
}
export type Filters = Partial<Record<FilterKey, FilterValues>>;

const ZERO_UUID = "toUUID('00000000-0000-0000-0000-000000000000')";

interface DimColumns {
  /** Id column (rollup and raw) or null when the dimension has no id. */
  id: string;
  idType: "UUID" | "String";
  name: string | null;
  rawId?: string;
  rollup: boolean;
}

/** Allow-list: group/filter dimensions of the inference tables. */
export const INFERENCE_DIMS: Readonly<Record<Dim, DimColumns>> = {
  model: { id: "model_id", idType: "UUID", name: "model_name", rollup: true },
  project: { id: "project_id", idType: "UUID", name: "project_name", rollup: true },
  endpoint: { id: "endpoint_id", idType: "UUID", name: "endpoint_name", rollup: true },
  user_project: {
    id: "api_key_project_id",
    idType: "UUID",
    name: null,
    rawId: `ifNull(api_key_project_id, ${ZERO_UUID})`,
    rollup: true,
  },
  api_key: {
    id: "api_key_id",
    idType: "UUID",
    name: null,
    rawId: `ifNull(api_key_id, ${ZERO_UUID})`,
    rollup: false,
  },
  cluster: { id: "cluster_id", idType: "String", name: null, rollup: true },
};

/** Allow-list: dimensions of the metric-sample tables (names only). */
export const SAMPLE_DIMS: Readonly<Partial<Record<Dim, string>>> = {
  model: "model",
  project: "project",
  endpoint: "endpoint",
  cluster: "cluster",
};

type StateExpr = { inner: string; raw: string; outer: (c: string) => string };

/**
 * A declared rollup state (packages/schema rollups.ts) as the query uses it: the column a rollup row
 * holds, the same state from raw rows, and the merge into the final value.
 */
function stateExpr(st: RollupState): StateExpr {
  // Decimal cost sums leave the engine as Float64: the answers are JSON numbers.
  const outer =
    st.merge === "sum" && st.type.includes("Decimal")
      ? (c: string) => `toFloat64(${mergeStatesSql(st.merge, c)})`
      : (c: string) => mergeStatesSql(st.merge, c, STANDARD_LEVELS);
  return { inner: st.column, raw: st.fromRaw, outer };
}

function exprsOf<K extends string>(states: Record<K, RollupState>): Readonly<Record<K, StateExpr>> {
  return Object.fromEntries(
    (Object.entries(states) as Array<[K, RollupState]>).map(([k, st]) => [k, stateExpr(st)]),
  ) as Record<K, StateExpr>;
}

const ROLLUP_EXPR = exprsOf(INFERENCE_ROLLUP_STATES);
const SAMPLE_EXPR = exprsOf(SAMPLE_ROLLUP_STATES);

/**
 * A sketch column merged once for the standard levels and a seed `aggregation: percentile` level:
 * `<alias>` holds the standard quantiles, `<alias>p` the extra one (one merge instead of two).
 */
function sketchWithExtraLevel(column: string, alias: string, extraLevel: number): string[] {
  const n = STANDARD_LEVELS.length;
  return [
    `${mergeStatesSql("quantileDD", column, [...STANDARD_LEVELS, extraLevel])} AS ${alias}_all`,
    `arraySlice(${alias}_all, 1, ${n}) AS ${alias}`,
    `${alias}_all[${n + 1}] AS ${alias}p`,
  ];
}

export interface StatesSpec {
  db: string;
  /** Bucket edges (epoch ms); the last is the exclusive end. */
  edges: readonly number[];
  segments: readonly Segment[];
  dims: readonly Dim[];
  filters: Filters;
  /** Only inferences that carry a prompt_id (data_source = prompt). */
  promptOnly?: boolean;
  /** Only inferences without a prompt_id (the Bud stack's data_source = inference); raw rows only. */
  withoutPrompts?: boolean;
}

export interface InferenceStatesSpec extends StatesSpec {
  aggs: readonly InferenceAgg[];
  /** Extra quantile level in (0, 1) for seed `aggregation: percentile` → `<metric>_qp` columns. */
  extraLevel?: number;
}

export interface SampleStatesSpec extends StatesSpec {
  metricTypes: readonly string[];
  aggs: readonly SampleAgg[];
  extraLevel?: number;
}

/** The raw-row condition of a data source (the rollups hold both kinds of traffic). */
function promptCondition(spec: { promptOnly?: boolean; withoutPrompts?: boolean }): string[] {
  if (spec.promptOnly) return ["prompt_id IS NOT NULL"];
  if (spec.withoutPrompts) return ["(prompt_id IS NULL OR prompt_id = '')"];
  return [];
}

/** True when dims, filters and data source can be served from the rollups at all. */
export function rollupServes(dims: readonly Dim[], filters: Filters, promptOnly: boolean): boolean {
  if (promptOnly || filters.prompt) return false;
  if (dims.some((d) => !INFERENCE_DIMS[d].rollup)) return false;
  return (Object.keys(filters) as FilterKey[]).every((k) => k === "prompt" || INFERENCE_DIMS[k].rollup);
}

function inferenceFilterSql(filters: Filters, raw: boolean, params: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const key of Object.keys(filters).sort() as FilterKey[]) {
    const v = filters[key]!;
    if (key === "prompt") {
      params.f_prompt = [...v.ids, ...v.names];
      out.push("prompt_id IN {f_prompt:Array(String)}");
      continue;
    }
    const d = INFERENCE_DIMS[key];
    const idCol = raw && d.rawId ? d.rawId : d.id;
    const parts: string[] = [];
    if (d.idType === "String") {
      params[`f_${key}`] = [...v.ids, ...v.names];
      parts.push(`${idCol} IN {f_${key}:Array(String)}`);
    } else {
      if (v.ids.length > 0) {
        params[`f_${key}_ids`] = v.ids;
        parts.push(`${idCol} IN {f_${key}_ids:Array(UUID)}`);
      }
      if (v.names.length > 0) {
        if (d.name) {
          params[`f_${key}_names`] = v.names;
          parts.push(`${d.name} IN {f_${key}_names:Array(String)}`);
        } else {
          // A dimension without a name column: a non-UUID value can match nothing.
          parts.push("0");
        }
      }
    }
    // No value at all (a top-k over no groups) matches nothing.
    out.push(parts.length === 0 ? "0" : parts.length === 1 ? parts[0]! : `(${parts.join(" OR ")})`);
  }
  return out;
}

function sampleFilterSql(filters: Filters, params: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const key of Object.keys(filters).sort() as FilterKey[]) {
    const col = SAMPLE_DIMS[key as Dim];
    const v = filters[key]!;
    if (!col) {
      out.push("0");
      continue;
    }
    params[`f_${key}`] = [...v.ids, ...v.names];
    out.push(`${col} IN {f_${key}:Array(String)}`);
  }
  return out;
}

function inferenceDimSelect(dims: readonly Dim[], raw: boolean): string[] {
  const cols: string[] = [];
  for (const d of dims) {
    const c = INFERENCE_DIMS[d];
    cols.push(`${raw && c.rawId ? c.rawId : c.id} AS g_${d}_id`);
    if (c.name) cols.push(`${c.name} AS g_${d}_name`);
  }
  return cols;
}

function outerDims(dims: readonly Dim[], hasName: (d: Dim) => boolean) {
  const select: string[] = [];
  const group: string[] = [];
  for (const d of dims) {
    select.push(`g_${d}_id`);
    group.push(`g_${d}_id`);
    if (hasName(d)) select.push(`any(g_${d}_name) AS g_${d}_name`);
  }
  return { select, group };
}

const BUCKET_OF = (msExpr: string) => `roundDown(${msExpr}, {edges:Array(Int64)})`;

/**
 * The narrowest rollup level that holds a question's dimensions: `total` when nothing filters or
 * groups, `model` when only the model does, else `dims`. Each holds the same merged states, from far
 * fewer rows; a grain without that level (5 minutes) reads `dims`.
 */
export function rollupLevel(spec: {
  dims: readonly Dim[];
  filters: Filters;
  promptOnly?: boolean;
}): RollupLevel {
  if (spec.promptOnly) return "dims";
  const keys = Object.keys(spec.filters);
  if (spec.dims.length === 0 && keys.length === 0) return "total";
  if (spec.dims.every((d) => d === "model") && keys.every((k) => k === "model")) return "model";
  return "dims";
}

/** The level a segment of `grain` reads for a question that could use `wanted`. */
export function levelFor(grain: Grain, wanted: RollupLevel): RollupLevel {
  return hasTier(grain, wanted) ? wanted : "dims";
}

/** Inference states per (bucket, group): rollup pieces and raw pieces unioned, then merged. */
export function buildInferenceStatesQuery(spec: InferenceStatesSpec): BuiltQuery {
  const params: Record<string, unknown> = { edges: [...spec.edges] };
  const parts: string[] = [];
  const needsQp = spec.extraLevel !== undefined;
  const innerAggs = [...spec.aggs];
  const raws: string[] = [];
  spec.segments.forEach((seg, i) => {
    params[`s${i}_from`] = seg.fromMs;
    params[`s${i}_to`] = seg.toMs;
    if (seg.source === "raw") {
      raws.push(
        `request_arrival_time >= fromUnixTimestamp64Milli({s${i}_from:Int64}, 'UTC') AND ` +
          `request_arrival_time < fromUnixTimestamp64Milli({s${i}_to:Int64}, 'UTC')`,
      );
      return;
    }
    const table = `${spec.db}.${Tables.inferenceRollup}`;
    // Grain and level are allow-listed literals (the declaration's own values).
    const where = [
      `grain = '${seg.grain}'`,
      `level = '${levelFor(seg.grain, rollupLevel(spec))}'`,
      `bucket_start >= fromUnixTimestamp64Milli({s${i}_from:Int64}, 'UTC')`,
      `bucket_start < fromUnixTimestamp64Milli({s${i}_to:Int64}, 'UTC')`,
      ...inferenceFilterSql(spec.filters, false, params),
    ];
    const cols = [
      `${BUCKET_OF("toInt64(toUnixTimestamp(bucket_start)) * 1000")} AS b`,
      ...inferenceDimSelect(spec.dims, false),
      ...innerAggs.map((a) => `${ROLLUP_EXPR[a].inner} AS st_${a}`),
    ];
    parts.push(`SELECT ${cols.join(", ")}\nFROM ${table}\nWHERE ${where.join("\n  AND ")}`);
  });
  if (raws.length > 0) {
    // Every raw stretch (head and tail of a range) in one piece: one scan of the raw table.
    const table = `${spec.db}.${Tables.inferenceEvents}`;
    const where = [
      raws.length === 1 ? raws[0]! : `(${raws.map((r) => `(${r})`).join(" OR ")})`,
      ...promptCondition(spec),
      ...inferenceFilterSql(spec.filters, true, params),
    ];
    const cols = [
      `${BUCKET_OF("toUnixTimestamp64Milli(request_arrival_time)")} AS b`,
      ...inferenceDimSelect(spec.dims, true),
      ...innerAggs.map((a) => `${ROLLUP_EXPR[a].raw} AS st_${a}`),
    ];
    const group = [
      "b",
      ...spec.dims.flatMap((d) => [`g_${d}_id`, ...(INFERENCE_DIMS[d].name ? [`g_${d}_name`] : [])]),
    ];
    parts.push(
      `SELECT ${cols.join(", ")}\nFROM ${table} FINAL\nWHERE ${where.join("\n  AND ")}\nGROUP BY ${group.join(", ")}`,
    );
  }
  const od = outerDims(spec.dims, (d) => INFERENCE_DIMS[d].name !== null);
  const outerAggs = innerAggs.flatMap((a) =>
    needsQp && (a === "latency_q" || a === "ttft_q")
      ? sketchWithExtraLevel(`st_${a}`, `a_${a}`, spec.extraLevel!)
      : [`${ROLLUP_EXPR[a].outer(`st_${a}`)} AS a_${a}`],
  );
  const query =
    `SELECT b, ${[...od.select, ...outerAggs].join(", ")}\n` +
    `FROM (\n${parts.join("\nUNION ALL\n")}\n)\n` +
    `GROUP BY ${["b", ...od.group].join(", ")}\n` +
    `ORDER BY ${["b", ...od.group].join(", ")}`;
  return { query, query_params: params };
}

/** Metric-sample states per (bucket, metric_type, group). */
export function buildSampleStatesQuery(spec: SampleStatesSpec): BuiltQuery {
  const params: Record<string, unknown> = { edges: [...spec.edges], metric_types: [...spec.metricTypes] };
  const parts: string[] = [];
  const dimCols = spec.dims.map((d) => `${SAMPLE_DIMS[d]!} AS g_${d}_id`);
  spec.segments.forEach((seg, i) => {
    params[`s${i}_from`] = seg.fromMs;
    params[`s${i}_to`] = seg.toMs;
    if (seg.source === "rollup") {
      const where = [
        "metric_type IN {metric_types:Array(String)}",
        `bucket_start >= fromUnixTimestamp64Milli({s${i}_from:Int64}, 'UTC')`,
        `bucket_start < fromUnixTimestamp64Milli({s${i}_to:Int64}, 'UTC')`,
        ...sampleFilterSql(spec.filters, params),
      ];
      const cols = [
        `${BUCKET_OF("toInt64(toUnixTimestamp(bucket_start)) * 1000")} AS b`,
        "metric_type AS g_metric",
        ...dimCols,
        ...spec.aggs.map((a) => `${SAMPLE_EXPR[a].inner} AS ${a}_s`),
      ];
      parts.push(
        `SELECT ${cols.join(", ")}\nFROM ${spec.db}.${Tables.sampleRollup[seg.grain]}\nWHERE ${where.join("\n  AND ")}`,
      );
    } else {
      const where = [
        "metric_type IN {metric_types:Array(String)}",
        `sample_time >= fromUnixTimestamp64Milli({s${i}_from:Int64}, 'UTC')`,
        `sample_time < fromUnixTimestamp64Milli({s${i}_to:Int64}, 'UTC')`,
        ...sampleFilterSql(spec.filters, params),
      ];
      const cols = [
        `${BUCKET_OF("toUnixTimestamp64Milli(sample_time)")} AS b`,
        "metric_type AS g_metric",
        ...dimCols,
        ...spec.aggs.map((a) => `${SAMPLE_EXPR[a].raw} AS ${a}_s`),
      ];
      const group = ["b", "g_metric", ...spec.dims.map((d) => `g_${d}_id`)];
      parts.push(
        `SELECT ${cols.join(", ")}\nFROM ${spec.db}.${Tables.metricSamples} FINAL\nWHERE ${where.join("\n  AND ")}\nGROUP BY ${group.join(", ")}`,
      );
    }
  });
  const group = ["b", "g_metric", ...spec.dims.map((d) => `g_${d}_id`)];
  const outerAggs = spec.aggs.flatMap((a) =>
    spec.extraLevel !== undefined && a === "q"
      ? sketchWithExtraLevel("q_s", "a_q", spec.extraLevel)
      : [`${SAMPLE_EXPR[a].outer(`${a}_s`)} AS a_${a}`],
  );
  const query =
    `SELECT ${[...group, ...outerAggs].join(", ")}\n` +
    `FROM (\n${parts.join("\nUNION ALL\n")}\n)\n` +
    `GROUP BY ${group.join(", ")}\n` +
    `ORDER BY ${group.join(", ")}`;
  return { query, query_params: params };
}

export interface ConcurrencySpec {
  db: string;
  edges: readonly number[];
  dims: readonly Dim[];
  filters: Filters;
  promptOnly?: boolean;
  withoutPrompts?: boolean;
  /** Requests that arrived this long before edges[0] may still be in flight. */
  lookbackMs: number;
}

/**
 * Peak requests in flight per (bucket, group), from raw rows: each request is in flight over
 * [arrival, arrival + response_time_ms). A sweep over start (+1) and end (−1) events per group gives
 * the number in flight at every instant that matters; a bucket's peak is the largest value at an
 * arrival inside it or at its start (a probe per bucket start and group carries requests still
 * running from earlier buckets). Order at one instant: ends (kind 0), probe (1), starts (2), then
 * ends of zero-length requests (3), so intervals are half-open and a zero-length request is in flight
 * at its own arrival. `a_arrivals` tells buckets with arrivals from probe-only rows.
 */
export function buildConcurrencyQuery(spec: ConcurrencySpec): BuiltQuery {
  const from = spec.edges[0]!;
  const to = spec.edges[spec.edges.length - 1]!;
  const params: Record<string, unknown> = {
    edges: [...spec.edges],
    c_scan_from: from - spec.lookbackMs,
    c_from: from,
    c_to: to,
  };
  const where = [
    "request_arrival_time >= fromUnixTimestamp64Milli({c_scan_from:Int64}, 'UTC')",
    "request_arrival_time < fromUnixTimestamp64Milli({c_to:Int64}, 'UTC')",
    ...promptCondition(spec),
    ...inferenceFilterSql(spec.filters, true, params),
  ];
  const dimCols = [
    ...spec.dims.map((d) => `${INFERENCE_DIMS[d].rawId ?? INFERENCE_DIMS[d].id} AS g_${d}_id`),
    ...spec.dims.filter((d) => INFERENCE_DIMS[d].name).map((d) => `${INFERENCE_DIMS[d].name} AS g_${d}_name`),
  ];
  const ids = spec.dims.map((d) => `g_${d}_id`);
  const names = spec.dims.filter((d) => INFERENCE_DIMS[d].name).map((d) => `g_${d}_name`);
  const groupCols = [...ids, ...names];
  const lead = (cols: string[]) => (cols.length > 0 ? `${cols.join(", ")}, ` : "");
  const partition = ids.length > 0 ? `PARTITION BY ${ids.join(", ")} ` : "";
  const lines = [
    "WITH ev AS (",
    `  SELECT ${lead(dimCols)}toFloat64(toUnixTimestamp64Milli(request_arrival_time)) AS t0, greatest(ifNull(response_time_ms, 0), 0) AS dur`,
    `  FROM ${spec.db}.${Tables.inferenceEvents} FINAL`,
    `  WHERE ${where.join("\n    AND ")}`,
    ")",
    `SELECT ${BUCKET_OF("toInt64(floor(t))")} AS b, ${[...ids, ...names.map((n) => `any(${n}) AS ${n}`), "toUInt64(max(running)) AS a_peak", "countIf(kind = 2) AS a_arrivals"].join(", ")}`,
    "FROM (",
    `  SELECT t, kind, ${lead(groupCols)}sum(multiIf(kind = 2, 1, kind = 1, 0, -1)) OVER (${partition}ORDER BY t ASC, kind ASC ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running`,
    "  FROM (",
    `    SELECT ${lead(groupCols)}e.1 AS t, e.2 AS kind`,
    "    FROM ev ARRAY JOIN [(t0, toUInt8(2)), (t0 + dur, if(dur > 0, toUInt8(0), toUInt8(3)))] AS e",
    "    UNION ALL",
    `    SELECT ${lead(groupCols)}toFloat64(arrayJoin(arrayPopBack({edges:Array(Int64)}))) AS t, toUInt8(1) AS kind`,
    // Groups for the probes: DISTINCT needs no FINAL (a copy has the same group), so this reads
    // only the group and time columns instead of merging every row a second time.
    `    FROM (SELECT DISTINCT ${dimCols.length > 0 ? dimCols.join(", ") : "1 AS one"} FROM ${spec.db}.${Tables.inferenceEvents} WHERE ${where.join(" AND ")})`,
    "  )",
    ")",
    "WHERE kind IN (1, 2) AND t >= {c_from:Int64} AND t < {c_to:Int64}",
    `GROUP BY ${["b", ...ids].join(", ")}`,
    `ORDER BY ${["b", ...ids].join(", ")}`,
  ];
  const query = lines.join("\n");
  return { query, query_params: params };
}
