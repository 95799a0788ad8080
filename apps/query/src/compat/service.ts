/**
 * Use cases behind the Bud-stack endpoints: run the statements of ./sql and shape the answers the
 * callers' models read. Pure of HTTP: they receive a SqlRunner (and the IP lookup for geography).
 */
import { toNumber } from "@budmetrics/schema";
import { queryErrors, validation } from "../errors";
import type { SqlRunner } from "../ports";
import type { GeoLookup } from "./geo";
import { formatMetric, numberOrNull, round2, safeFloat } from "./shape";
import {
  buildAggregateQuery,
  buildBlockingQuery,
  buildClientDistributionQuery,
  buildGatewayPlacesQuery,
  buildTopRoutesQuery,
  buildCountQuery,
  buildCredentialActivityQuery,
  buildDistinctIpsQuery,
  buildDistributionQuery,
  buildDistributionRangeQuery,
  buildLatencyHistogramQuery,
  buildLocationQuery,
  buildSeriesQuery,
  buildUsageHistoryQuery,
  buildUsageQuery,
  buildUserActivityQuery,
  FILTER_COLUMNS,
  FILTER_KEYS,
  GROUP_COLUMNS,
  PLACE_KEY_SEPARATOR,
  type BucketArrays,
  type ClientGroup,
  type CompatFilters,
  type DistributionBucketBy,
  type DistributionMetric,
  type FilterKey,
  type GroupKey,
  type HistoryGranularity,
  type MetricKey,
  type Scope,
} from "./sql";
import { isoDay, isoUtc, naiveIso } from "./time";

type Row = Record<string, unknown>;

export interface CompatLimits {
  /** Most groups / rows one answer holds. */
  maxResultRows: number;
  /** Most time buckets of a series. */
  maxBuckets: number;
  /** Most distinct client addresses a geography answer resolves. */
  maxDistinctIps: number;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (s: string) => UUID_RE.test(s);

/**
 * The callers' `filters` dict → accepted values per key. A scalar is a list of one; values that cannot
 * match an id column (not a UUID) are dropped, so such a filter, like an empty list, matches nothing —
 * it never fails the request (a failure makes budapp retry without filters, i.e. without the project
 * restriction). Keys outside `keys` are ignored, as by the original.
 */
export function normaliseFilters(
  raw: Record<string, unknown> | null | undefined,
  keys: readonly FilterKey[] = FILTER_KEYS,
): CompatFilters {
  const out: CompatFilters = {};
  for (const key of keys) {
    const v = raw?.[key];
    if (v === undefined || v === null) continue;
    const list = Array.isArray(v) ? v : [v];
    const values: string[] = [];
    for (const x of list) {
      if (typeof x !== "string") throw validation(`filters.${key} must be a string or a list of strings`);
      if (FILTER_COLUMNS[key].type === "UUID") {
        if (isUuid(x)) values.push(x.toLowerCase());
      } else values.push(x);
    }
    out[key] = [...new Set(values)].sort();
  }
  return out;
}

function dateRange(fromMs: number, toMs: number) {
  return { from: isoUtc(fromMs), to: isoUtc(toMs) };
}

const ID_KEYS = [
  "model_id",
  "model_name",
  "project_id",
  "project_name",
  "endpoint_id",
  "endpoint_name",
  "user_id",
  "api_key_project_id",
  "api_key_project_name",
] as const;

/** The id/name fields of a group as the callers' group models declare them (null when not grouped). */
function groupIds(r: Row, groups: readonly GroupKey[], keys: readonly string[] = ID_KEYS) {
  const out: Record<string, string | null> = Object.fromEntries(keys.map((k) => [k, null]));
  for (const g of groups) {
    const c = GROUP_COLUMNS[g];
    const id = r[`g_${c.out}`];
    out[c.out] = typeof id === "string" && id !== "" ? id : null;
    if (c.name) {
      const name = r[`g_${c.name.out}`];
      out[c.name.out] = typeof name === "string" && name !== "" ? name : null;
    }
  }
  return out;
}

// ---------------------------------------------------------------- aggregated

export interface AggregatedSpec {
  scope: Scope & { fromMs: number; toMs: number };
  metrics: readonly MetricKey[];
  groups: readonly GroupKey[];
}

export async function aggregated(sql: SqlRunner, spec: AggregatedSpec, limits: CompatLimits) {
  const rows = await sql.run<Row>(
    "compat.aggregated",
    buildAggregateQuery({
      ...spec.scope,
      db: sql.db,
      metrics: spec.metrics,
      groups: spec.groups,
      limit: limits.maxResultRows,
    }),
  );
  const values = (r: Row) =>
    Object.fromEntries(
      spec.metrics.map((m) => {
        const value = safeFloat(r[`m_${m}`]);
        return [m, { value, ...formatMetric(m, value) }];
      }),
    );
  const grouped = spec.groups.length > 0;
  const groups = grouped ? rows.map((r) => ({ ...groupIds(r, spec.groups), metrics: values(r) })) : [];
  return {
    object: "aggregated_metrics",
    groups,
    summary: grouped ? {} : values(rows[0] ?? {}),
    total_groups: groups.length,
    date_range: dateRange(spec.scope.fromMs, spec.scope.toMs),
  };
}

// ---------------------------------------------------------------- time series

export const INTERVAL_MS = {
  "1m": 60_000,
  "5m": 300_000,
  "15m": 900_000,
  "30m": 1_800_000,
  "1h": 3_600_000,
  "6h": 21_600_000,
  "12h": 43_200_000,
  "1d": 86_400_000,
  "1w": 604_800_000,
} as const;
export type SeriesInterval = keyof typeof INTERVAL_MS;
/** Weeks start on Sunday, as in the original (1970-01-04 was a Sunday). */
const WEEK_OFFSET_MS = 3 * 86_400_000;

export interface SeriesSpec {
  scope: Scope & { fromMs: number; toMs: number };
  /** Output name → metric expression key. */
  metrics: ReadonlyArray<{ key: string; metric: MetricKey }>;
  groups: readonly GroupKey[];
  interval: SeriesInterval;
  fillGaps: boolean;
}

export function seriesBuckets(fromMs: number, toMs: number, interval: SeriesInterval): number[] {
  const step = INTERVAL_MS[interval];
  const off = interval === "1w" ? WEEK_OFFSET_MS : 0;
  const first = Math.floor((fromMs - off) / step) * step + off;
  const out: number[] = [];
  for (let t = first; t <= toMs; t += step) out.push(t);
  return out;
}

const SERIES_ID_KEYS = ID_KEYS.filter((k) => k !== "user_id");

export async function timeSeries(sql: SqlRunner, spec: SeriesSpec, limits: CompatLimits) {
  const buckets = seriesBuckets(spec.scope.fromMs, spec.scope.toMs, spec.interval);
  if (buckets.length > limits.maxBuckets) {
    throw queryErrors.create(
      "QUERY_TOO_MANY_BUCKETS",
      `interval ${spec.interval} over this range gives ${buckets.length} buckets (at most ${limits.maxBuckets}): use a wider interval or a shorter range`,
    );
  }
  const sqlMetrics = [...new Set(spec.metrics.map((m) => m.metric))];
  const rows = await sql.run<Row>(
    "compat.time_series",
    buildSeriesQuery({
      ...spec.scope,
      db: sql.db,
      metrics: sqlMetrics,
      groups: spec.groups,
      stepMs: INTERVAL_MS[spec.interval],
      offsetMs: spec.interval === "1w" ? WEEK_OFFSET_MS : 0,
      limit: limits.maxResultRows,
    }),
  );
  const values = (r: Row | undefined) =>
    Object.fromEntries(spec.metrics.map((m) => [m.key, r ? safeFloat(r[`m_${m.metric}`]) : 0]));
  const point = (ms: number, r: Row | undefined) => ({ timestamp: isoUtc(ms), values: values(r) });
  let groups: Array<Record<string, unknown>>;
  if (spec.groups.length === 0) {
    const byBucket = new Map(rows.map((r) => [toNumber(r.bucket_ms), r]));
    const points = spec.fillGaps
      ? buckets.map((ms) => point(ms, byBucket.get(ms)))
      : rows.map((r) => point(toNumber(r.bucket_ms), r));
    groups = [{ ...Object.fromEntries(SERIES_ID_KEYS.map((k) => [k, null])), data_points: points }];
  } else {
    // One series per group in order of first appearance; only buckets with requests (the original's rule).
    const series = new Map<string, Record<string, unknown> & { data_points: unknown[] }>();
    for (const r of rows) {
      const ids = groupIds(r, spec.groups, SERIES_ID_KEYS);
      const key = JSON.stringify(spec.groups.map((g) => ids[GROUP_COLUMNS[g].out]));
      let s = series.get(key);
      if (!s) series.set(key, (s = { ...ids, data_points: [] }));
      s.data_points.push(point(toNumber(r.bucket_ms), r));
    }
    groups = [...series.values()];
  }
  return {
    object: "time_series",
    groups,
    interval: spec.interval,
    date_range: dateRange(spec.scope.fromMs, spec.scope.toMs),
  };
}

// ---------------------------------------------------------------- histograms

export interface BucketDef {
  min: number;
  max: number;
  label: string;
}

/** A bucket bound as callers send it: a number, numeric text, or "inf" (open end). */
function bound(v: unknown): number | null {
  if (typeof v === "number" && !Number.isNaN(v)) return v;
  if (typeof v === "string") {
    const t = v.trim().toLowerCase();
    if (t === "inf" || t === "+inf" || t === "infinity") return Infinity;
    if (t !== "" && Number.isFinite(Number(t))) return Number(t);
  }
  return null;
}

/** Caller bucket definitions; 422 with the original's message when a field is missing. */
export function parseBucketDefs(raw: ReadonlyArray<Record<string, unknown>>): BucketDef[] {
  return raw.map((b, i) => {
    if (!("min" in b) || !("max" in b) || !("label" in b)) {
      throw validation("Each bucket must have 'min', 'max', and 'label' fields", { bucket: i });
    }
    const min = bound(b.min);
    const max = bound(b.max);
    if (min === null || max === null) throw validation(`buckets[${i}]: min and max must be numbers`);
    if (typeof b.label !== "string" && typeof b.label !== "number") {
      throw validation(`buckets[${i}]: label must be text`);
    }
    return { min, max, label: String(b.label) };
  });
}

export const DEFAULT_LATENCY_BUCKETS: readonly BucketDef[] = [
  { min: 0, max: 100, label: "0-100ms" },
  { min: 100, max: 500, label: "100-500ms" },
  { min: 500, max: 1000, label: "500ms-1s" },
  { min: 1000, max: 2000, label: "1-2s" },
  { min: 2000, max: 5000, label: "2-5s" },
  { min: 5000, max: 10000, label: "5-10s" },
  { min: 10000, max: Infinity, label: ">10s" },
];

/** Latency buckets: `[min, max)`, a bucket with an infinite max is open. */
function latencyArrays(defs: readonly BucketDef[]): BucketArrays {
  return {
    lo: defs.map((d) => d.min),
    hi: defs.map((d) => (Number.isFinite(d.max) ? d.max : 0)),
    kind: defs.map((d) => (Number.isFinite(d.max) ? 0 : 2)),
  };
}

const cleanDefs = (defs: readonly BucketDef[]) =>
  defs.map((d) => ({ min: d.min, max: Number.isFinite(d.max) ? d.max : 999_999_999, label: d.label }));

export interface LatencySpec {
  scope: Scope & { fromMs: number; toMs: number };
  groups: readonly GroupKey[];
  buckets: readonly BucketDef[];
}

export async function latencyDistribution(sql: SqlRunner, spec: LatencySpec, limits: CompatLimits) {
  const rows = await sql.run<Row>(
    "compat.latency_distribution",
    buildLatencyHistogramQuery({
      ...spec.scope,
      db: sql.db,
      buckets: latencyArrays(spec.buckets),
      groups: spec.groups,
      limit: limits.maxResultRows,
    }),
  );
  const histogram = (rs: Row[], total: number) =>
    spec.buckets.map((d, i) => {
      const r = rs.find((x) => toNumber(x.b) === i + 1);
      const count = r ? toNumber(r.n) : 0;
      const avg = r && count > 0 ? safeFloat(r.lat_sum) / count : 0;
      return {
        range: d.label,
        count,
        percentage: total > 0 ? round2((count / total) * 100) : 0,
        avg_latency: avg ? round2(avg) : null,
      };
    });
  const total = rows.reduce((s, r) => s + toNumber(r.n), 0);
  let groups: Array<Record<string, unknown>> = [];
  if (spec.groups.length > 0) {
    const byGroup = new Map<string, { ids: Record<string, string | null>; rows: Row[]; total: number }>();
    for (const r of rows) {
      const ids = groupIds(r, spec.groups);
      const key = JSON.stringify(spec.groups.map((g) => ids[GROUP_COLUMNS[g].out]));
      let g = byGroup.get(key);
      if (!g) byGroup.set(key, (g = { ids, rows: [], total: 0 }));
      g.rows.push(r);
      g.total += toNumber(r.n);
    }
    groups = [...byGroup.values()]
      .sort((a, b) => b.total - a.total)
      .map((g) => ({ ...g.ids, buckets: histogram(g.rows, g.total), total_requests: g.total }));
  }
  // Overall: the same rows summed over groups (exact counts and averages).
  const merged = new Map<number, { b: number; n: number; lat_sum: number }>();
  for (const r of rows) {
    const b = toNumber(r.b);
    const m = merged.get(b) ?? { b, n: 0, lat_sum: 0 };
    m.n += toNumber(r.n);
    m.lat_sum += safeFloat(r.lat_sum);
    merged.set(b, m);
  }
  return {
    object: "latency_distribution",
    groups,
    overall_distribution: histogram([...merged.values()], total),
    total_requests: total,
    date_range: dateRange(spec.scope.fromMs, spec.scope.toMs),
    bucket_definitions: cleanDefs(spec.buckets),
  };
}

export interface DistributionSpec {
  scope: Scope & { fromMs: number; toMs: number };
  bucketBy: DistributionBucketBy;
  metric: DistributionMetric;
  buckets: readonly BucketDef[] | null;
}

/** Buckets made from the data's range, as the original makes them (ten, or one per concurrency value). */
export function autoBuckets(
  bucketBy: DistributionBucketBy,
  lo: number | null,
  hi: number | null,
): BucketDef[] {
  const min = lo ?? 0;
  let max = hi ?? 100;
  if (min >= max) max = min + 10;
  if (bucketBy === "concurrency") {
    const a = Math.trunc(min);
    const b = Math.trunc(max);
    const unique = b - a + 1;
    if (unique <= 10)
      return Array.from({ length: unique }, (_, i) => ({ min: a + i, max: a + i, label: String(a + i) }));
    const size = Math.ceil(unique / 10);
    const out: BucketDef[] = [];
    for (let i = 0; i < 10; i++) {
      const start = a + i * size;
      if (start > b) break;
      const end = Math.min(start + size - 1, b);
      out.push({ min: start, max: end, label: start === end ? String(start) : `${start}-${end}` });
    }
    return out;
  }
  const width = (max - min) / 10;
  return Array.from({ length: 10 }, (_, i) => {
    const s = min + i * width;
    const e = min + (i + 1) * width;
    return { min: s, max: e, label: `${Math.trunc(s)}-${Math.trunc(e)}` };
  });
}

/**
 * Distribution buckets: a single-value bucket matches that value, the last bucket is open, the others
 * are `[min, max)`. Integer concurrency ranges made from the data (`1-5`, `6-10`) hold both ends.
 */
function distributionArrays(defs: readonly BucketDef[], integerRanges: boolean): BucketArrays {
  return {
    lo: defs.map((d) => d.min),
    hi: defs.map((d) => (Number.isFinite(d.max) ? (integerRanges ? d.max + 1 : d.max) : 0)),
    kind: defs.map((d, i) => (d.min === d.max ? 1 : i === defs.length - 1 ? 2 : 0)),
  };
}

export async function promptDistribution(sql: SqlRunner, spec: DistributionSpec) {
  const base = { ...spec.scope, db: sql.db, bucketBy: spec.bucketBy };
  const range = await sql.run<Row>("compat.distribution_range", buildDistributionRangeQuery(base));
  const total = toNumber(range[0]?.n);
  const defs =
    spec.buckets ?? autoBuckets(spec.bucketBy, numberOrNull(range[0]?.lo), numberOrNull(range[0]?.hi));
  const rows =
    defs.length === 0
      ? []
      : await sql.run<Row>(
          "compat.distribution",
          buildDistributionQuery({
            ...base,
            metric: spec.metric,
            buckets: distributionArrays(defs, spec.buckets === null && spec.bucketBy === "concurrency"),
          }),
        );
  return {
    object: "prompt_distribution",
    buckets: defs.map((d, i) => {
      const r = rows.find((x) => toNumber(x.b) === i + 1);
      return {
        range: d.label,
        bucket_start: d.min,
        bucket_end: Number.isFinite(d.max) ? d.max : 999_999_999,
        count: r ? toNumber(r.n) : 0,
        avg_value: round2(safeFloat(r?.avg_v)),
      };
    }),
    total_count: total,
    bucket_by: spec.bucketBy,
    metric: spec.metric,
    date_range: dateRange(spec.scope.fromMs, spec.scope.toMs),
    bucket_definitions: cleanDefs(defs),
  };
}

// ---------------------------------------------------------------- geography

export type GeoGroup = "country" | "region" | "city";

export interface GeographySpec {
  scope: Scope & { fromMs: number; toMs: number };
  groupBy: GeoGroup;
  limit: number;
  /** Upper-case ISO codes; null = every country. */
  countries: string[] | null;
}

/** A location the gateway recorded, from its key (no coordinates: they are not stored). */
function storedPlace(key: string) {
  const [country_code = "", region = "", city = ""] = key.split(PLACE_KEY_SEPARATOR);
  return { country_code, region: region || null, city: city || null, lat: null, lon: null };
}

export async function geography(
  sql: SqlRunner,
  spec: GeographySpec,
  lookup: GeoLookup,
  limits: CompatLimits,
) {
  const scope = { ...spec.scope, db: sql.db };
  const [count, ipRows] = await Promise.all([
    spec.countries ? Promise.resolve([]) : sql.run<Row>("compat.geo_total", buildCountQuery(scope)),
    sql.run<Row>("compat.geo_ips", buildDistinctIpsQuery({ ...scope, limit: limits.maxDistinctIps + 1 }), {
      maxResultRows: limits.maxDistinctIps + 1,
    }),
  ]);
  if (ipRows.length > limits.maxDistinctIps) {
    throw queryErrors.create(
      "QUERY_RESULT_TOO_LARGE",
      `more than ${limits.maxDistinctIps} distinct client addresses in range: narrow the range or the filters`,
    );
  }
  const places = new Map<
    string,
    {
      country_code: string;
      region: string | null;
      city: string | null;
      lat: number | null;
      lon: number | null;
    }
  >();
  const ips: string[] = [];
  const keys: string[] = [];
  for (const r of ipRows) {
    const ip = String(r.ip);
    const loc = lookup(ip);
    if (!loc || !loc.country_code) continue;
    if (spec.countries && !spec.countries.includes(loc.country_code)) continue;
    if (spec.groupBy === "region" && !loc.region) continue;
    if (spec.groupBy === "city" && !loc.city) continue;
    const parts =
      spec.groupBy === "country"
        ? [loc.country_code]
        : spec.groupBy === "region"
          ? [loc.country_code, loc.region]
          : [loc.country_code, loc.region, loc.city];
    const key = parts.join(PLACE_KEY_SEPARATOR);
    if (!places.has(key)) {
      places.set(key, {
        country_code: loc.country_code,
        region: spec.groupBy === "country" ? null : loc.region,
        city: spec.groupBy === "city" ? loc.city : null,
        lat: spec.groupBy === "city" ? loc.latitude : null,
        lon: spec.groupBy === "city" ? loc.longitude : null,
      });
    }
    ips.push(ip);
    keys.push(key);
  }
  const rows = await sql.run<Row>(
    "compat.geo_locations",
    buildLocationQuery({ ...scope, ips, keys, group: spec.groupBy, countries: spec.countries }),
  );
  const total = spec.countries ? rows.reduce((s, r) => s + toNumber(r.n), 0) : toNumber(count[0]?.n);
  const locations = rows.slice(0, spec.limit).map((r) => {
    const p = places.get(String(r.loc)) ?? storedPlace(String(r.loc));
    const n = toNumber(r.n);
    const lat = numberOrNull(r.lat);
    return {
      country_code: p.country_code,
      country_name: null,
      region: p.region,
      city: p.city,
      latitude: p.lat,
      longitude: p.lon,
      request_count: n,
      success_rate: n > 0 ? round2((toNumber(r.ok) / n) * 100) : 0,
      avg_latency_ms: lat === null ? null : round2(lat),
      unique_users: toNumber(r.users),
      percentage: total > 0 ? round2((n / total) * 100) : 0,
    };
  });
  return {
    object: "geographic_data",
    locations,
    total_requests: total,
    total_locations: locations.length,
    date_range: dateRange(spec.scope.fromMs, spec.scope.toMs),
    group_by: spec.groupBy,
  };
}

// ---------------------------------------------------------------- usage and sync

function usageNumbers(r: Row | undefined) {
  const requests = toNumber(r?.requests);
  const success = toNumber(r?.success);
  const input = toNumber(r?.input_tokens);
  const output = toNumber(r?.output_tokens);
  return {
    total_tokens: input + output,
    total_input_tokens: input,
    total_output_tokens: output,
    total_cost: safeFloat(r?.cost),
    request_count: requests,
    success_count: success,
    success_rate: requests > 0 ? (success / requests) * 100 : 0,
  };
}

export async function usageSummary(sql: SqlRunner, scope: Scope) {
  const rows = await sql.run<Row>(
    "compat.usage_summary",
    buildUsageQuery({ ...scope, db: sql.db, perUser: false }),
  );
  const r = rows[0];
  return {
    object: "info",
    message: "Usage summary retrieved successfully",
    param: {
      ...usageNumbers(r),
      avg_latency_ms: numberOrNull(r?.avg_latency),
      unique_users: toNumber(r?.users),
    },
  };
}

export async function usageBulk(
  sql: SqlRunner,
  spec: { scope: Scope; userIds: string[]; startText: string; endText: string; projectId: string | null },
) {
  const rows = await sql.run<Row>(
    "compat.usage_bulk",
    buildUsageQuery({ ...spec.scope, db: sql.db, perUser: true }),
  );
  const byUser = new Map(rows.map((r) => [String(r.uid), r]));
  const users = spec.userIds.map((id) => ({ user_id: id, ...usageNumbers(byUser.get(id)) }));
  return {
    object: "info",
    message: "Bulk usage summary retrieved successfully",
    param: {
      users,
      summary: {
        total_users: users.length,
        total_tokens_all: users.reduce((s, u) => s + u.total_tokens, 0),
        total_cost_all: users.reduce((s, u) => s + u.total_cost, 0),
        total_requests_all: users.reduce((s, u) => s + u.request_count, 0),
        date_range: { start_date: spec.startText, end_date: spec.endText },
        project_id: spec.projectId,
      },
    },
  };
}

export async function usageHistory(
  sql: SqlRunner,
  spec: { scope: Scope; granularity: HistoryGranularity; echo: string },
) {
  const rows = await sql.run<Row>(
    "compat.usage_history",
    buildUsageHistoryQuery({ ...spec.scope, db: sql.db, granularity: spec.granularity }),
  );
  return {
    object: "info",
    message: "Usage history retrieved successfully",
    param: {
      data: rows.map((r) => {
        const ms = toNumber(r.period_s) * 1000;
        const input = toNumber(r.input_tokens);
        const output = toNumber(r.output_tokens);
        return {
          date: spec.granularity === "hourly" ? naiveIso(ms) : isoDay(ms),
          tokens: input + output,
          input_tokens: input,
          output_tokens: output,
          requests: toNumber(r.requests),
          cost: safeFloat(r.cost),
        };
      }),
      granularity: spec.echo,
    },
  };
}

/** Most credentials / users one sync answer lists. */
const SYNC_LIMIT = 100_000;

export async function credentialUsage(sql: SqlRunner, scope: Scope & { fromMs: number }, nowMs: number) {
  const rows = await sql.run<Row>(
    "compat.credential_usage",
    buildCredentialActivityQuery({ ...scope, db: sql.db, limit: SYNC_LIMIT }),
    { maxResultRows: SYNC_LIMIT },
  );
  return {
    object: "credential_usage",
    credentials: rows.map((r) => ({
      credential_id: String(r.credential_id),
      last_used_at: isoUtc(toNumber(r.last_ms)),
      request_count: toNumber(r.request_count),
      cost: safeFloat(r.cost),
    })),
    query_window: { since: isoUtc(scope.fromMs), until: isoUtc(nowMs) },
  };
}

export interface SyncSpec {
  mode: "incremental" | "full";
  thresholdMinutes: number;
  credentials: boolean;
  users: boolean;
  userIds: string[];
  scope: Scope;
}

export async function metricsSync(sql: SqlRunner, spec: SyncSpec, nowMs: number) {
  const scope = { ...spec.scope, db: sql.db, limit: SYNC_LIMIT };
  const [creds, users] = await Promise.all([
    spec.credentials
      ? sql.run<Row>("compat.sync_credentials", buildCredentialActivityQuery(scope), {
          maxResultRows: SYNC_LIMIT,
        })
      : Promise.resolve([]),
    spec.users
      ? sql.run<Row>("compat.sync_users", buildUserActivityQuery(scope), { maxResultRows: SYNC_LIMIT })
      : Promise.resolve([]),
  ]);
  const credentialUsage = creds.map((r) => ({
    credential_id: String(r.credential_id),
    last_used_at: isoUtc(toNumber(r.last_ms)),
    request_count: toNumber(r.request_count),
  }));
  const userUsage = users.map((r) => ({
    user_id: String(r.uid),
    last_activity_at: isoUtc(toNumber(r.last_ms)),
    usage_data: {
      total_tokens: toNumber(r.total_tokens),
      total_cost: safeFloat(r.cost),
      request_count: toNumber(r.requests),
      success_rate: safeFloat(r.success_fraction),
    },
  }));
  const active = userUsage.length;
  if (spec.mode === "full" && spec.users) {
    const seen = new Set(userUsage.map((u) => u.user_id));
    for (const id of spec.userIds) {
      if (seen.has(id)) continue;
      seen.add(id);
      userUsage.push({
        user_id: id,
        last_activity_at: isoUtc(nowMs),
        usage_data: { total_tokens: 0, total_cost: 0, request_count: 0, success_rate: 0 },
      });
    }
  }
  return {
    object: "metrics_sync",
    sync_mode: spec.mode,
    activity_threshold_minutes: spec.thresholdMinutes,
    query_timestamp: isoUtc(nowMs),
    credential_usage: credentialUsage,
    user_usage: userUsage,
    stats: {
      active_credentials: credentialUsage.length,
      active_users: active,
      total_users_checked: userUsage.length,
    },
  };
}

// ---------------------------------------------------------------- gateway blocking

/**
 * The original's blocking statistics from the blocked records the collector makes from the gateway's
 * spans: totals, per rule (by its name; its id where none is stored), per reason, the ten most blocked client addresses, per hour,
 * and the block rate against every request in range (prompt traffic included, as the original's).
 */
export async function blockingStats(sql: SqlRunner, scope: Scope & { fromMs: number; toMs: number }) {
  const s = { ...scope, db: sql.db };
  const [totals, rules, reasons, ips, hours, all] = await Promise.all([
    sql.run<Row>("compat.blocking_totals", buildBlockingQuery(s, "totals")),
    sql.run<Row>("compat.blocking_rules", buildBlockingQuery(s, "rules")),
    sql.run<Row>("compat.blocking_reasons", buildBlockingQuery(s, "reasons")),
    sql.run<Row>("compat.blocking_ips", buildBlockingQuery(s, "ips")),
    sql.run<Row>("compat.blocking_hours", buildBlockingQuery(s, "hours")),
    sql.run<Row>("compat.blocking_requests", buildCountQuery({ ...s, dataSource: "any" })),
  ]);
  const blocked = toNumber(totals[0]?.n);
  const requests = toNumber(all[0]?.n);
  return {
    object: "gateway_blocking_stats",
    total_blocked: blocked,
    block_rate: requests > 0 ? round2((blocked / requests) * 100) : 0,
    blocked_by_rule: Object.fromEntries(rules.map((r) => [String(r.rule), toNumber(r.n)])),
    blocked_by_reason: Object.fromEntries(reasons.map((r) => [String(r.reason), toNumber(r.n)])),
    top_blocked_ips: ips.map((r) => ({
      ip: typeof r.ip === "string" && r.ip !== "" ? r.ip : "Unknown",
      country: typeof r.country === "string" && r.country !== "" ? r.country : "Unknown",
      count: toNumber(r.n),
    })),
    time_series: hours.map((r) => ({ timestamp: naiveIso(toNumber(r.hour)), blocked_count: toNumber(r.n) })),
  };
}

// ---------------------------------------------------------------- gateway breakdowns (the original's shapes)

type RangedScope = Scope & { fromMs: number; toMs: number };

/** `{routes: [{path, method, count, avg_response_time, error_rate}]}`, most requests first. */
export async function topRoutes(sql: SqlRunner, scope: RangedScope, limit: number) {
  const rows = await sql.run<Row>("compat.top_routes", buildTopRoutesQuery({ ...scope, db: sql.db, limit }));
  return {
    routes: rows.map((r) => ({
      path: String(r.path),
      method: String(r.method),
      count: toNumber(r.n),
      avg_response_time: safeFloat(r.avg_ms),
      error_rate: safeFloat(r.error_rate),
    })),
  };
}

/** `{distribution: [{name, count, percent}], total, group_by}` over device type, browser or OS. */
export async function clientDistribution(sql: SqlRunner, scope: RangedScope, groupBy: string) {
  const group: ClientGroup = groupBy === "browser" || groupBy === "os" ? groupBy : "device_type";
  const rows = await sql.run<Row>(
    "compat.client_distribution",
    buildClientDistributionQuery({ ...scope, db: sql.db, group }),
  );
  const total = rows.reduce((n, r) => n + toNumber(r.n), 0);
  return {
    distribution: rows.map((r) => ({
      name: String(r.name),
      count: toNumber(r.n),
      percent: total > 0 ? round2((toNumber(r.n) / total) * 100) : 0,
    })),
    total,
    group_by: groupBy,
  };
}

/**
 * The original's geographical statistics from the client location the gateway recorded: countries
 * (50), cities (100) with coordinates from the bundled database for one of the city's addresses
 * (the gateway's coordinates are not stored), and the heat-map points of the cities that have them.
 */
export async function gatewayPlaces(sql: SqlRunner, scope: RangedScope, lookup: GeoLookup) {
  const s = { ...scope, db: sql.db };
  const [countryRows, cityRows] = await Promise.all([
    sql.run<Row>("compat.gateway_countries", buildGatewayPlacesQuery({ ...s, by: "country" })),
    sql.run<Row>("compat.gateway_cities", buildGatewayPlacesQuery({ ...s, by: "city" })),
  ]);
  const total = countryRows.reduce((n, r) => n + toNumber(r.n), 0);
  const percent = (n: number) => (total > 0 ? round2((n / total) * 100) : 0);
  const countries = countryRows.map((r) => ({
    country_code: typeof r.country_code === "string" ? r.country_code : null,
    count: toNumber(r.n),
    percent: percent(toNumber(r.n)),
  }));
  const cities = cityRows.map((r) => {
    const code = typeof r.country_code === "string" ? r.country_code : null;
    const at = typeof r.ip === "string" && r.ip !== "" ? lookup(r.ip) : null;
    const same = at !== null && at.country_code === code;
    return {
      city: String(r.city),
      country_code: code,
      count: toNumber(r.n),
      percent: percent(toNumber(r.n)),
      latitude: same ? at.latitude : null,
      longitude: same ? at.longitude : null,
    };
  });
  return {
    object: "gateway_geographical_stats",
    total_requests: total,
    unique_countries: countries.length,
    unique_cities: cities.length,
    countries,
    cities,
    heatmap_data: cities
      .filter((c) => c.latitude !== null && c.longitude !== null)
      .map((c) => ({
        lat: c.latitude,
        lng: c.longitude,
        count: c.count,
        city: c.city,
        country_code: c.country_code,
      })),
  };
}
