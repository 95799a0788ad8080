/**
 * Pure builders of the statements behind the Bud-stack endpoints (metrics/*, usage, sync). Each returns
 * `{ query, query_params }`: every value is a bound parameter, every identifier and expression comes
 * from the allow-lists below. They read the raw table (FINAL, like every raw read of the query app), so
 * user-level keys (user_id, api_key_id), prompt exclusion and exact quantiles are available everywhere.
 */
import { Tables } from "@budmetrics/schema";
import type { BuiltQuery } from "../analytics/queries";

/** Filter keys the callers send (`filters: {project_id: [...], ...}`), by the column they restrict. */
export const FILTER_COLUMNS = {
  project_id: { column: "project_id", type: "UUID" },
  api_key_project_id: { column: "api_key_project_id", type: "UUID" },
  model_id: { column: "model_id", type: "UUID" },
  endpoint_id: { column: "endpoint_id", type: "UUID" },
  user_id: { column: "user_id", type: "UUID" },
  api_key_id: { column: "api_key_id", type: "UUID" },
  prompt_id: { column: "prompt_id", type: "String" },
  error_type: { column: "error_type", type: "String" },
  error_code: { column: "error_code", type: "String" },
} as const;
export type FilterKey = keyof typeof FILTER_COLUMNS;
export const FILTER_KEYS = Object.keys(FILTER_COLUMNS) as FilterKey[];

/** Normalised filters: the accepted values of each key. An empty list matches nothing. */
export type CompatFilters = Partial<Record<FilterKey, string[]>>;

/** `inference` leaves out prompt (agent) traffic, `prompt` keeps only it, `any` both. */
export type DataSource = "inference" | "prompt" | "any";

export interface Scope {
  db: string;
  /** Inclusive bounds (epoch ms) on request_arrival_time; null = unbounded. */
  fromMs: number | null;
  toMs: number | null;
  filters: CompatFilters;
  dataSource: DataSource;
}

const TABLE = (db: string) => `${db}.${Tables.inferenceEvents} FINAL`;

export function scopeWhere(s: Scope): { where: string[]; params: Record<string, unknown> } {
  const where: string[] = [];
  const params: Record<string, unknown> = {};
  if (s.fromMs !== null) {
    params.from = s.fromMs;
    where.push("request_arrival_time >= fromUnixTimestamp64Milli({from:Int64}, 'UTC')");
  }
  if (s.toMs !== null) {
    params.to = s.toMs;
    where.push("request_arrival_time <= fromUnixTimestamp64Milli({to:Int64}, 'UTC')");
  }
  if (s.dataSource === "inference") where.push("(prompt_id IS NULL OR prompt_id = '')");
  if (s.dataSource === "prompt") where.push("(prompt_id IS NOT NULL AND prompt_id != '')");
  for (const key of FILTER_KEYS) {
    const values = s.filters[key];
    if (values === undefined) continue;
    if (values.length === 0) {
      where.push("0");
      continue;
    }
    const col = FILTER_COLUMNS[key];
    params[`f_${key}`] = values;
    where.push(`${col.column} IN {f_${key}:Array(${col.type})}`);
  }
  return { where, params };
}

function whereSql(where: string[]): string {
  return where.length ? `WHERE ${where.join("\n  AND ")}` : "";
}

/** Group keys the callers send, with the id (and name) they answer. */
export const GROUP_COLUMNS = {
  model: { id: "toString(model_id)", out: "model_id", name: { expr: "any(model_name)", out: "model_name" } },
  project: {
    id: "toString(project_id)",
    out: "project_id",
    name: { expr: "any(project_name)", out: "project_name" },
  },
  endpoint: {
    id: "toString(endpoint_id)",
    out: "endpoint_id",
    name: { expr: "any(endpoint_name)", out: "endpoint_name" },
  },
  user: { id: "toString(user_id)", out: "user_id", name: null },
  user_project: { id: "toString(api_key_project_id)", out: "api_key_project_id", name: null },
  api_key: { id: "toString(api_key_id)", out: "api_key_id", name: null },
  error_type: { id: "error_type", out: "error_type", name: null },
  status_code: { id: "toString(status_code)", out: "status_code", name: null },
} as const;
export type GroupKey = keyof typeof GROUP_COLUMNS;

function groupCols(groups: readonly GroupKey[]): { select: string[]; by: string[] } {
  const select: string[] = [];
  const by: string[] = [];
  for (const g of groups) {
    const c = GROUP_COLUMNS[g];
    select.push(`${c.id} AS g_${c.out}`);
    by.push(`g_${c.out}`);
    if (c.name) select.push(`${c.name.expr} AS g_${c.name.out}`);
  }
  return { select, by };
}

/** Metric expressions over raw rows, by the original's metric names (aggregated and time-series). */
export const METRIC_SQL = {
  total_requests: "toFloat64(count())",
  success_count: "toFloat64(countIf(is_success))",
  error_count: "toFloat64(countIf(NOT is_success))",
  success_rate: "if(count() = 0, 0, countIf(is_success) * 100 / count())",
  error_rate: "if(count() = 0, 0, countIf(NOT is_success) * 100 / count())",
  avg_latency: "avg(response_time_ms)",
  p95_latency: "quantileExactInclusive(0.95)(response_time_ms)",
  p99_latency: "quantileExactInclusive(0.99)(response_time_ms)",
  total_tokens: "toFloat64(sum(input_tokens + output_tokens))",
  total_input_tokens: "toFloat64(sum(input_tokens))",
  total_output_tokens: "toFloat64(sum(output_tokens))",
  avg_tokens: "avg(input_tokens + output_tokens)",
  total_cost: "toFloat64(sum(cost))",
  avg_cost: "avg(toFloat64(cost))",
  ttft_avg: "avg(ttft_ms)",
  ttft_p95: "quantileExactInclusive(0.95)(ttft_ms)",
  ttft_p99: "quantileExactInclusive(0.99)(ttft_ms)",
  cache_hit_rate: "if(count() = 0, 0, countIf(cached) * 100 / count())",
  throughput_avg: "avg(output_tokens * 1000 / nullIf(response_time_ms, 0))",
  unique_users: "toFloat64(uniqExact(user_id))",
  p95_inference_cost: "quantileExactInclusive(0.95)(toFloat64(cost))",
  max_inference_cost: "toFloat64(max(cost))",
  min_inference_cost: "toFloat64(min(cost))",
} as const;
export type MetricKey = keyof typeof METRIC_SQL;

export interface AggregateSpec extends Scope {
  metrics: readonly MetricKey[];
  groups: readonly GroupKey[];
  limit: number;
}

/** Whole-range metrics, one row per group (one row in all when not grouped), most requests first. */
export function buildAggregateQuery(s: AggregateSpec): BuiltQuery {
  const { where, params } = scopeWhere(s);
  const g = groupCols(s.groups);
  const cols = [...s.metrics.map((m) => `${METRIC_SQL[m]} AS m_${m}`), "count() AS n", ...g.select];
  params.limit = s.limit;
  const query =
    `SELECT ${cols.join(", ")}\nFROM ${TABLE(s.db)}\n${whereSql(where)}` +
    (g.by.length ? `\nGROUP BY ${g.by.join(", ")}\nORDER BY n DESC, ${g.by.join(", ")}` : "") +
    `\nLIMIT {limit:UInt32}`;
  return { query, query_params: params };
}

export interface SeriesSpec extends AggregateSpec {
  /** Bucket width (ms) and the offset of the first bucket from the epoch (weeks start on Sunday). */
  stepMs: number;
  offsetMs: number;
}

/** Metrics per time bucket (and group): buckets are `offset + k·step` since the epoch, UTC. */
export function buildSeriesQuery(s: SeriesSpec): BuiltQuery {
  const { where, params } = scopeWhere(s);
  const g = groupCols(s.groups);
  params.step = s.stepMs;
  params.off = s.offsetMs;
  params.limit = s.limit;
  const bucket =
    "intDiv(toUnixTimestamp64Milli(request_arrival_time) - {off:Int64}, {step:Int64}) * {step:Int64} + {off:Int64}";
  const cols = [`${bucket} AS bucket_ms`, ...s.metrics.map((m) => `${METRIC_SQL[m]} AS m_${m}`), ...g.select];
  const query =
    `SELECT ${cols.join(", ")}\nFROM ${TABLE(s.db)}\n${whereSql(where)}\n` +
    `GROUP BY ${["bucket_ms", ...g.by].join(", ")}\nORDER BY ${["bucket_ms", ...g.by].join(", ")}\n` +
    `LIMIT {limit:UInt32}`;
  return { query, query_params: params };
}

/**
 * Bucket rules for histograms, as parallel arrays: `[lo, hi)` (kind 0), `= lo` (kind 1) or `>= lo`
 * (kind 2). A value falls in the first bucket that holds it; index 0 = none.
 */
export interface BucketArrays {
  lo: number[];
  hi: number[];
  kind: number[];
}

const BUCKET_INDEX = (v: string) =>
  `arrayFirstIndex((lo, hi, k) -> if(k = 1, ${v} = lo, if(k = 2, ${v} >= lo, ${v} >= lo AND ${v} < hi)), ` +
  "{b_lo:Array(Float64)}, {b_hi:Array(Float64)}, {b_kind:Array(UInt8)})";

export interface LatencyHistogramSpec extends Scope {
  buckets: BucketArrays;
  groups: readonly GroupKey[];
  limit: number;
}

/** Response times (null counts as 0 ms, as in the original) per bucket and group; b = 0: no bucket. */
export function buildLatencyHistogramQuery(s: LatencyHistogramSpec): BuiltQuery {
  const { where, params } = scopeWhere(s);
  const g = groupCols(s.groups);
  Object.assign(params, { b_lo: s.buckets.lo, b_hi: s.buckets.hi, b_kind: s.buckets.kind, limit: s.limit });
  const lat = "ifNull(response_time_ms, 0)";
  const cols = [`${BUCKET_INDEX(lat)} AS b`, "count() AS n", `sum(${lat}) AS lat_sum`, ...g.select];
  const query =
    `SELECT ${cols.join(", ")}\nFROM ${TABLE(s.db)}\n${whereSql(where)}\n` +
    `GROUP BY ${["b", ...g.by].join(", ")}\nORDER BY ${[...g.by, "b"].join(", ")}\nLIMIT {limit:UInt32}`;
  return { query, query_params: params };
}

/** X axis of the prompt distribution. Concurrency = requests that arrived in the same second. */
export const DISTRIBUTION_BUCKET_BY = {
  concurrency: "concurrent_count",
  input_tokens: "toFloat64(input_tokens)",
  output_tokens: "toFloat64(output_tokens)",
} as const;
/**
 * Y axis. total_duration_ms is not in the gateway's event: response time plus the gateway's queueing
 * (forward − arrival) stands in for it.
 */
export const DISTRIBUTION_METRIC = {
  total_duration_ms:
    "ifNull(response_time_ms, 0) + toFloat64(toUnixTimestamp64Milli(request_forward_time) - toUnixTimestamp64Milli(request_arrival_time))",
  ttft_ms: "nullIf(ifNull(ttft_ms, 0), 0)",
  response_time_ms: "ifNull(response_time_ms, 0)",
  throughput_per_user:
    "output_tokens * 1000.0 / nullIf(ifNull(response_time_ms, 0), 0) / nullIf(concurrent_count, 0)",
} as const;
export type DistributionBucketBy = keyof typeof DISTRIBUTION_BUCKET_BY;
export type DistributionMetric = keyof typeof DISTRIBUTION_METRIC;

function distributionRows(s: Scope): { from: string; params: Record<string, unknown> } {
  const { where, params } = scopeWhere(s);
  return {
    from:
      "(SELECT *, count() OVER (PARTITION BY toStartOfSecond(request_arrival_time)) AS concurrent_count\n" +
      ` FROM ${TABLE(s.db)}\n ${whereSql(where)})`,
    params,
  };
}

/** Range and row count of the X axis (for buckets made from the data). */
export function buildDistributionRangeQuery(s: Scope & { bucketBy: DistributionBucketBy }): BuiltQuery {
  const { from, params } = distributionRows(s);
  const v = DISTRIBUTION_BUCKET_BY[s.bucketBy];
  return {
    query: `SELECT min(${v}) AS lo, max(${v}) AS hi, count() AS n\nFROM ${from}`,
    query_params: params,
  };
}

export function buildDistributionQuery(
  s: Scope & { bucketBy: DistributionBucketBy; metric: DistributionMetric; buckets: BucketArrays },
): BuiltQuery {
  const { from, params } = distributionRows(s);
  Object.assign(params, { b_lo: s.buckets.lo, b_hi: s.buckets.hi, b_kind: s.buckets.kind });
  return {
    query:
      `SELECT ${BUCKET_INDEX("bv")} AS b, count() AS n, avgIf(mv, mv IS NOT NULL AND isFinite(mv)) AS avg_v\n` +
      `FROM (SELECT ${DISTRIBUTION_BUCKET_BY[s.bucketBy]} AS bv, ${DISTRIBUTION_METRIC[s.metric]} AS mv FROM ${from})\n` +
      "GROUP BY b\nORDER BY b",
    query_params: params,
  };
}

/** The request IP as text, IPv4 without the `::ffff:` prefix the IPv6 column stores it with. */
export const IP_TEXT =
  "if(startsWith(toString(request_ip), '::ffff:') AND position(toString(request_ip), '.') > 0, substring(toString(request_ip), 8), toString(request_ip))";

export function buildCountQuery(s: Scope): BuiltQuery {
  const { where, params } = scopeWhere(s);
  return { query: `SELECT count() AS n FROM ${TABLE(s.db)}\n${whereSql(where)}`, query_params: params };
}

/** Rows whose client location the gateway recorded (its spans); the others are located by their IP. */
const HAS_STORED_PLACE = "ifNull(country_code, '') != ''";

/** Joins the parts of a location key; the same form is built from IP lookups (service.ts). */
export const PLACE_KEY_SEPARATOR = "\u001f";

/** Distinct request IPs of rows without a recorded location, at most `limit` (one more is asked to detect overflow). */
export function buildDistinctIpsQuery(s: Scope & { limit: number }): BuiltQuery {
  const { where, params } = scopeWhere(s);
  params.limit = s.limit;
  return {
    query:
      `SELECT DISTINCT ${IP_TEXT} AS ip FROM ${TABLE(s.db)}\n` +
      `${whereSql([...where, "request_ip IS NOT NULL", `NOT (${HAS_STORED_PLACE})`])}\nLIMIT {limit:UInt32}`,
    query_params: params,
  };
}

/**
 * Requests per location key: a recorded location gives its key in SQL (country, region, city joined by
 * PLACE_KEY_SEPARATOR, the parts `group` asks for; empty when a part is missing or the country is not
 * in `countries`), an IP was mapped to its key beforehand (`ips` → `keys`); rows without a key are left out.
 */
export function buildLocationQuery(
  s: Scope & {
    ips: string[];
    keys: string[];
    group: "country" | "region" | "city";
    countries: string[] | null;
  },
): BuiltQuery {
  const { where, params } = scopeWhere(s);
  Object.assign(params, { ips: s.ips, keys: s.keys, countries: s.countries ?? [], sep: PLACE_KEY_SEPARATOR });
  const cc = "upper(assumeNotNull(country_code))";
  const reg = "ifNull(region, '')";
  const city = "ifNull(city, '')";
  const stored = {
    country: cc,
    region: `if(${reg} = '', '', concat(${cc}, {sep:String}, ${reg}))`,
    city: `if(${city} = '', '', concat(${cc}, {sep:String}, ${reg}, {sep:String}, ${city}))`,
  }[s.group];
  const loc =
    `if(${HAS_STORED_PLACE}, if(empty({countries:Array(String)}) OR has({countries:Array(String)}, ${cc}), ${stored}, ''), ` +
    `transform(${IP_TEXT}, {ips:Array(String)}, {keys:Array(String)}, ''))`;
  return {
    query:
      `SELECT ${loc} AS loc, count() AS n, ` +
      "countIf(is_success) AS ok, avg(response_time_ms) AS lat, uniqExact(user_id) AS users\n" +
      `FROM ${TABLE(s.db)}\n${whereSql([...where, `(request_ip IS NOT NULL OR ${HAS_STORED_PLACE})`])}\n` +
      "GROUP BY loc\nHAVING loc != ''\nORDER BY n DESC, loc",
    query_params: params,
  };
}

/** Usage totals, per user when `perUser` (the bulk form), else one row. */
export function buildUsageQuery(s: Scope & { perUser: boolean }): BuiltQuery {
  const { where, params } = scopeWhere(s);
  const cols = [
    "count() AS requests",
    "countIf(is_success) AS success",
    "sum(input_tokens) AS input_tokens",
    "sum(output_tokens) AS output_tokens",
    "toFloat64(sum(ifNull(cost, toDecimal64(0, 9)))) AS cost",
    "avg(response_time_ms) AS avg_latency",
    "uniqExact(user_id) AS users",
  ];
  if (s.perUser) cols.unshift("toString(user_id) AS uid");
  return {
    query:
      `SELECT ${cols.join(", ")}\nFROM ${TABLE(s.db)}\n${whereSql(where)}` +
      (s.perUser ? "\nGROUP BY uid" : ""),
    query_params: params,
  };
}

/** Period starts of the usage history, by the original's granularity names. */
export const HISTORY_BUCKETS = {
  hourly: "toUnixTimestamp(toStartOfHour(request_arrival_time, 'UTC'))",
  daily: "toUnixTimestamp(toDateTime(toDate(request_arrival_time, 'UTC'), 'UTC'))",
  weekly: "toUnixTimestamp(toDateTime(toMonday(request_arrival_time, 'UTC'), 'UTC'))",
  monthly: "toUnixTimestamp(toDateTime(toStartOfMonth(request_arrival_time, 'UTC'), 'UTC'))",
} as const;
export type HistoryGranularity = keyof typeof HISTORY_BUCKETS;

/** Usage per period, only periods with requests, oldest first. */
export function buildUsageHistoryQuery(s: Scope & { granularity: HistoryGranularity }): BuiltQuery {
  const { where, params } = scopeWhere(s);
  return {
    query:
      `SELECT ${HISTORY_BUCKETS[s.granularity]} AS period_s, count() AS requests, sum(input_tokens) AS input_tokens, ` +
      "sum(output_tokens) AS output_tokens, toFloat64(sum(ifNull(cost, toDecimal64(0, 9)))) AS cost\n" +
      `FROM ${TABLE(s.db)}\n${whereSql(where)}\nGROUP BY period_s\nORDER BY period_s`,
    query_params: params,
  };
}

/** Last use and request count per API key (credential), most recently used first. */
export function buildCredentialActivityQuery(s: Scope & { limit: number }): BuiltQuery {
  const { where, params } = scopeWhere(s);
  params.limit = s.limit;
  return {
    query:
      "SELECT toString(assumeNotNull(api_key_id)) AS credential_id, toUnixTimestamp64Milli(max(request_arrival_time)) AS last_ms, " +
      "count() AS request_count, toFloat64(sum(ifNull(cost, toDecimal64(0, 9)))) AS cost\n" +
      `FROM ${TABLE(s.db)}\n${whereSql([...where, "api_key_id IS NOT NULL"])}\n` +
      "GROUP BY credential_id\nORDER BY last_ms DESC, credential_id\nLIMIT {limit:UInt32}",
    query_params: params,
  };
}

/** Last activity and usage per user (success_rate a fraction, as the sync caller reads it). */
export function buildUserActivityQuery(s: Scope & { limit: number }): BuiltQuery {
  const { where, params } = scopeWhere(s);
  params.limit = s.limit;
  return {
    query:
      "SELECT toString(assumeNotNull(user_id)) AS uid, toUnixTimestamp64Milli(max(request_arrival_time)) AS last_ms, " +
      "sum(input_tokens + output_tokens) AS total_tokens, toFloat64(sum(ifNull(cost, toDecimal64(0, 9)))) AS cost, " +
      "count() AS requests, avg(toUInt8(is_success)) AS success_fraction\n" +
      `FROM ${TABLE(s.db)}\n${whereSql([...where, "user_id IS NOT NULL"])}\n` +
      "GROUP BY uid\nORDER BY last_ms DESC, uid\nLIMIT {limit:UInt32}",
    query_params: params,
  };
}

/**
 * Blocked requests (records of kind `blocked`, migrations/0013) in scope: one statement per part of the
 * original's blocking statistics. `part` picks it: totals, per rule, per reason, top client addresses
 * (10), per hour. Rules are keyed by their name (their id where no name is stored).
 */
export function buildBlockingQuery(
  s: Scope,
  part: "totals" | "rules" | "reasons" | "ips" | "hours",
): BuiltQuery {
  const { where, params } = scopeWhere(s);
  const from = `FROM ${TABLE(s.db)}\n${whereSql([...where, "is_blocked"])}`;
  const query = {
    totals: `SELECT count() AS n ${from}`,
    // By the rule's name, as the original and budapp key it; a record without one (stored before
    // migrations/0016, or a gateway that sent no name) by its rule id.
    rules: `SELECT coalesce(nullIf(rule_name, ''), toString(rule_id)) AS rule, count() AS n ${from} AND (rule_name != '' OR rule_id IS NOT NULL)\nGROUP BY rule\nORDER BY n DESC, rule`,
    // The blocking event's own reason first, then the gateway's category, as the original reads them.
    reasons: `SELECT coalesce(nullIf(block_reason_detail, ''), nullIf(block_reason, ''), 'unknown') AS reason, count() AS n ${from}\nGROUP BY reason\nORDER BY n DESC, reason`,
    ips: `SELECT ${IP_TEXT} AS ip, any(country_code) AS country, count() AS n ${from}\nGROUP BY ip\nORDER BY n DESC, ip\nLIMIT 10`,
    hours: `SELECT toInt64(toUnixTimestamp(toStartOfHour(request_arrival_time))) * 1000 AS hour, count() AS n ${from}\nGROUP BY hour\nORDER BY hour`,
  }[part];
  return { query, query_params: params };
}

/** The original's gateway breakdowns read the request as the gateway recorded it (spans): route, agent, place. */
export const CLIENT_GROUP_COLUMNS = {
  device_type: "device_type",
  browser: "browser_name",
  os: "os_name",
} as const;
export type ClientGroup = keyof typeof CLIENT_GROUP_COLUMNS;

/** Requests per (path, method), most first: count, average response time, share answered ≥ 400 (%). */
export function buildTopRoutesQuery(s: Scope & { limit: number }): BuiltQuery {
  const { where, params } = scopeWhere(s);
  params.limit = s.limit;
  return {
    query:
      "SELECT path, ifNull(method, 'GET') AS method, count() AS n, avg(response_time_ms) AS avg_ms, " +
      "countIf(status_code >= 400) * 100 / count() AS error_rate\n" +
      `FROM ${TABLE(s.db)}\n${whereSql([...where, "path IS NOT NULL"])}\n` +
      "GROUP BY path, method\nORDER BY n DESC, path, method\nLIMIT {limit:UInt32}",
    query_params: params,
  };
}

/** Requests per device type, browser or operating system, most first. */
export function buildClientDistributionQuery(s: Scope & { group: ClientGroup }): BuiltQuery {
  const { where, params } = scopeWhere(s);
  const col = CLIENT_GROUP_COLUMNS[s.group];
  return {
    query:
      `SELECT ${col} AS name, count() AS n\nFROM ${TABLE(s.db)}\n${whereSql([...where, `${col} IS NOT NULL`])}\n` +
      "GROUP BY name\nORDER BY n DESC, name",
    query_params: params,
  };
}

/** Requests per recorded country (50 most; a row without a country is its own), or per city (100 most). */
export function buildGatewayPlacesQuery(s: Scope & { by: "country" | "city" }): BuiltQuery {
  const { where, params } = scopeWhere(s);
  const from = `FROM ${TABLE(s.db)}\n`;
  return {
    query:
      s.by === "country"
        ? `SELECT country_code, count() AS n\n${from}${whereSql(where)}\nGROUP BY country_code\nORDER BY n DESC, country_code\nLIMIT 50`
        : `SELECT city, country_code, count() AS n, any(${IP_TEXT}) AS ip\n${from}${whereSql([...where, "city IS NOT NULL"])}\n` +
          "GROUP BY city, country_code\nORDER BY n DESC, city, country_code\nLIMIT 100",
    query_params: params,
  };
}
