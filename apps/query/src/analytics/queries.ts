/**
 * Pure query builders: each returns `{ query, query_params }`. Every value is a bound parameter;
 * every identifier comes from the allow-lists below. The only inlined literal is a percentile level,
 * a number validated to lie in (0, 1) and printed by Number#toString.
 */
import {
  GRAIN_MS,
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
  /**
   * Raw stretches read `inference_events_by_time` (time-ordered, every inserted row, as the rollups
   * count) instead of the raw table FINAL: for questions the rollups serve, whose dims and filters
   * that table holds.
   */
  rawByTime?: boolean;
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

const HOUR_MS = GRAIN_MS["1h"];

/** Where raw rows are read: the time-ordered copy (migrations/0019), or the raw table FINAL. */
function rawRowsFrom(db: string, byTime: boolean | undefined): string {
  return byTime ? `${db}.${Tables.inferenceEventsByTime}` : `${db}.${Tables.inferenceEvents} FINAL`;
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
    // Every raw stretch (head and tail of a range) in one piece: one read of the raw rows.
    const table = rawRowsFrom(spec.db, spec.rawByTime);
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
      `SELECT ${cols.join(", ")}\nFROM ${table}\nWHERE ${where.join("\n  AND ")}\nGROUP BY ${group.join(", ")}`,
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
  /** Read `inference_events_by_time` (as InferenceStatesSpec.rawByTime) instead of the raw table FINAL. */
  rawByTime?: boolean;
}

/**
 * Peak requests in flight per (bucket, group), from raw rows, with the engine's `maxIntersections`.
 * A request is in flight over [arrival, arrival + response_time_ms). Arrivals are whole
 * milliseconds, so that interval holds the same arrivals and bucket starts as [l, r) with
 * r = l + max(ceil(response_time_ms), 1) in whole milliseconds (a missing, zero or negative time is
 * in flight at its own arrival only). A request is cut at each bucket start and hour mark it spans
 * into pieces, each starting at max(arrival, cut): the peak of an hour piece set is the largest
 * number of its pieces that overlap (`maxIntersections` sorts ends before starts at one instant:
 * half-open), a request still running from an earlier piece (or from before the range, up to the
 * lookback) is in flight at the piece's start, and a bucket's peak is the largest of its hours'.
 * `a_arrivals` counts the pieces that begin with their own arrival. Exact, and one sort per
 * (hour, group) instead of a window over every start and end of a group (4–5× faster at 10M).
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
  const lead = (cols: string[]) => (cols.length > 0 ? `${cols.join(", ")}, ` : "");
  // Cuts: bucket starts and hour marks (UTC). An hour's pieces keep each sweep small: the engine
  // cannot read back a maxIntersections state of more than 2^24 − 1 points (one spilled to disk by a
  // large GROUP BY, or sent between servers in cluster mode), and sorting many small arrays is faster
  // than sorting one large one. A request inside one hour (nearly all) is one piece, found without a
  // search.
  const cut = (x: string) =>
    `greatest(roundDown(${x}, {edges:Array(Int64)}), intDiv(${x}, ${HOUR_MS}) * ${HOUR_MS})`;
  const cuts =
    "arrayConcat([c0], arraySort(arrayDistinct(arrayConcat(" +
    "arrayFilter(x -> x > c0 AND x <= c1, arrayPopBack({edges:Array(Int64)})), " +
    `arrayMap(h -> h * ${HOUR_MS}, range(intDiv(c0, ${HOUR_MS}) + 1, intDiv(c1, ${HOUR_MS}) + 1))))))`;
  const pieceKey = ["b", "p", ...ids];
  const lines = [
    `SELECT ${["b", ...ids, ...names.map((n) => `any(${n}) AS ${n}`), "max(peak) AS a_peak", "sum(arrivals) AS a_arrivals"].join(", ")}`,
    "FROM (",
    `  SELECT ${[...pieceKey, ...names.map((n) => `any(${n}) AS ${n}`), "maxIntersections(toInt64(greatest(l, p)), r) AS peak", "countIf(l >= p) AS arrivals"].join(", ")}`,
    "  FROM (",
    `    SELECT ${lead([...ids, ...names])}l, r, arrayJoin(if(c0 = c1, [c0], ${cuts})) AS p, roundDown(p, {edges:Array(Int64)}) AS b`,
    "    FROM (",
    `      SELECT ${lead(dimCols)}toUnixTimestamp64Milli(request_arrival_time) AS l, l + toInt64(least(greatest(ceil(ifNull(response_time_ms, 0)), 1), 1e13)) AS r, ${cut("greatest(l, {c_from:Int64})")} AS c0, ${cut("(least(r, {c_to:Int64}) - 1)")} AS c1`,
    `      FROM ${rawRowsFrom(spec.db, spec.rawByTime)}`,
    `      WHERE ${where.join("\n        AND ")}`,
    "    )",
    "    WHERE r > {c_from:Int64}",
    "  )",
    `  GROUP BY ${pieceKey.join(", ")}`,
    ")",
    `GROUP BY ${["b", ...ids].join(", ")}`,
    `ORDER BY ${["b", ...ids].join(", ")}`,
  ];
  return { query: lines.join("\n"), query_params: params };
}

/**
 * Whether any prompt (agent) traffic may have arrived in [fromMs, toMs): one row if so, none
 * otherwise. Read from the hours that hold prompt traffic (migrations/0018), so an hour that reaches
 * into the range counts: a "yes" may be an hour's traffic just outside it (the answer is then read
 * from raw rows, exact), a "no" is certain.
 */
export function buildPromptPresenceQuery(db: string, fromMs: number, toMs: number): BuiltQuery {
  return {
    query: `SELECT 1 AS x FROM ${db}.${Tables.inferencePromptHours}\nWHERE ${PROMPT_HOURS_IN_RANGE}\nLIMIT 1`,
    query_params: { p_from: fromMs, p_to: toMs },
  };
}

const PROMPT_HOURS_IN_RANGE =
  "hour >= toStartOfHour(fromUnixTimestamp64Milli({p_from:Int64}, 'UTC'))\n" +
  "  AND hour < fromUnixTimestamp64Milli({p_to:Int64}, 'UTC')";

/**
 * Rows that arrived in [fromMs, untilMs): how many and the first arrival (ms). Reads the arrival time
 * of the time-ordered copy: the granules of that stretch alone. With `prompts`, the same statement
 * also counts the hours with prompt traffic in that range (one statement instead of two: each costs
 * the engine's fixed few milliseconds).
 */
export function buildTailProbeQuery(
  db: string,
  fromMs: number,
  untilMs: number,
  prompts?: { fromMs: number; toMs: number },
): BuiltQuery {
  const promptCount = prompts
    ? `(SELECT count() FROM ${db}.${Tables.inferencePromptHours} WHERE ${PROMPT_HOURS_IN_RANGE}) AS prompts, `
    : "";
  return {
    query:
      `SELECT ${promptCount}count() AS n, toUnixTimestamp64Milli(min(request_arrival_time)) AS first\n` +
      `FROM ${db}.${Tables.inferenceEventsByTime}\n` +
      "WHERE request_arrival_time >= fromUnixTimestamp64Milli({t_from:Int64}, 'UTC')\n" +
      "  AND request_arrival_time < fromUnixTimestamp64Milli({t_until:Int64}, 'UTC')",
    query_params: {
      t_from: fromMs,
      t_until: untilMs,
      ...(prompts ? { p_from: prompts.fromMs, p_to: prompts.toMs } : {}),
    },
  };
}
