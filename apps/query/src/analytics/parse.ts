/**
 * Step 1 of an analytics request (parse → plan → run → shape): both request shapes of
 * POST /observability/analytics (docs/QUERY.md) into one `AnalyticsQuery`. Type checks are done by
 * the JSON schema before this runs (the body arrives typed from it); this adds the rules that span
 * fields, resolves dates in the zone and metric names through the catalog.
 */
import type { AnalyticsBody } from "../http/schemas";
import { INFERENCE_CATALOG, METRIC_ALIASES, type RequestedMetric, type SeedAggregation } from "./catalog";
import type { Dim, FilterKey, Filters } from "./queries";
import { isValidZone, parseDate, type Unit } from "./time";
import { queryErrors, validation } from "../errors";

export interface AnalyticsQuery {
  shape: "bud" | "seed";
  metrics: RequestedMetric[];
  fromMs: number;
  toMs: number;
  /** to_date was null / absent: the range ends now. */
  toIsNow: boolean;
  unit: Unit;
  interval: number;
  /** Calendar buckets (start of unit in the zone) rather than buckets aligned to from_date. */
  calendar: boolean;
  timezone: string;
  filters: Filters;
  groupBy: Dim[];
  returnDelta: boolean;
  fillGaps: boolean;
  topk: number | null;
  promptOnly: boolean;
  /** Leave out prompt traffic (raw rows only: the rollups do not tell it apart). */
  withoutPrompts?: boolean;
  /** No raw row arrived in [toMs, emptyUntilMs): set by the service's tail probe (service.ts). */
  emptyUntilMs?: number;
  aggregation?: SeedAggregation;
  comparisonPeriods: number;
  limit: number | null;
}

export const SEED_INTERVALS: Readonly<Record<NonNullable<AnalyticsBody["interval"]>, Unit>> = {
  minutely: "minute",
  hourly: "hour",
  daily: "day",
  weekly: "week",
  monthly: "month",
  quarterly: "quarter",
  yearly: "year",
};

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(s: string): boolean {
  return UUID_RE.test(s);
}

/** Scalar or list → ids (UUID-shaped, lower-cased) and names. */
export function splitFilterValues(v: string | readonly string[]): { ids: string[]; names: string[] } {
  const list = Array.isArray(v) ? v : [v];
  const ids: string[] = [];
  const names: string[] = [];
  for (const s of list) (isUuid(s) ? ids : names).push(isUuid(s) ? s.toLowerCase() : s);
  return { ids: [...new Set(ids)].sort(), names: [...new Set(names)].sort() };
}

/** The rollups' DateTime columns cover 1970..2106: dates outside are refused rather than wrapped. */
const MIN_DATE_MS = 0;
const MAX_DATE_MS = Date.parse("2106-01-01T00:00:00Z");

export interface RangeLimits {
  maxRangeDays: number;
  /** to_date = now is snapped down to a multiple of this (s) so short-lived cache entries can be shared. */
  nowSnapSeconds?: number;
}

export function parseFilters(
  raw: Partial<Record<FilterKey, string | readonly string[]>> | null | undefined,
): Filters {
  const filters: Filters = {};
  for (const [k, v] of Object.entries(raw ?? {})) {
    if (v === undefined) continue;
    const split = splitFilterValues(v);
    if (split.ids.length + split.names.length === 0) continue;
    filters[k as FilterKey] = split;
  }
  return filters;
}

/** Resolves from/to (null to = now), checks order and the maximum range. */
export function resolveRange(
  fromText: string,
  toText: string | null | undefined,
  zone: string,
  nowMs: number,
  limits: RangeLimits,
  field = "",
): { fromMs: number; toMs: number; toIsNow: boolean } {
  const fromMs = parseDate(fromText, zone);
  if (fromMs === null) throw validation(`${field}from_date must be an ISO-8601 date or date-time`);
  let toMs: number;
  let toIsNow = false;
  if (toText === null || toText === undefined) {
    toMs = nowMs;
    toIsNow = true;
  } else {
    const parsed = parseDate(toText, zone);
    if (parsed === null) throw validation(`${field}to_date must be an ISO-8601 date or date-time`);
    toMs = parsed;
  }
  if (fromMs < MIN_DATE_MS || toMs > MAX_DATE_MS) {
    throw validation("dates must lie between 1970-01-01 and 2105-12-31 (UTC)");
  }
  if (toMs <= fromMs) throw queryErrors.create("QUERY_RANGE_INVALID", "to_date must be after from_date");
  if (toMs - fromMs > limits.maxRangeDays * 86_400_000) {
    throw queryErrors.create("QUERY_RANGE_TOO_LONG", `Date range cannot exceed ${limits.maxRangeDays} days`);
  }
  return { fromMs, toMs, toIsNow };
}

export function resolveMetrics(names: readonly string[]): RequestedMetric[] {
  const out: RequestedMetric[] = [];
  for (const key of new Set(names)) {
    const alias = METRIC_ALIASES[key];
    if (Object.hasOwn(INFERENCE_CATALOG, key))
      out.push({ key, inference: key as keyof typeof INFERENCE_CATALOG });
    else if (alias)
      out.push({ key, inference: alias.metric, ...(alias.field ? { field: alias.field } : {}) });
    else out.push({ key, sample: key });
  }
  return out;
}

/** to_date = now, snapped down to a multiple of `snapSeconds` (never to or before from_date). */
export function snapNow<R extends { fromMs: number; toMs: number; toIsNow: boolean }>(
  r: R,
  snapSeconds: number,
): R {
  if (!r.toIsNow || snapSeconds <= 0) return r;
  const step = snapSeconds * 1000;
  const snapped = Math.floor(r.toMs / step) * step;
  return snapped > r.fromMs ? { ...r, toMs: snapped } : r;
}

export function parseAnalyticsRequest(
  body: AnalyticsBody,
  nowMs: number,
  limits: RangeLimits,
): AnalyticsQuery {
  const seed = body.time_range !== undefined || body.interval !== undefined;
  const timezone = body.timezone ?? "UTC";
  if (!isValidZone(timezone)) throw validation(`timezone must be an IANA time zone name, got "${timezone}"`);
  const groupBy: Dim[] =
    body.group_by == null ? [] : Array.isArray(body.group_by) ? [...new Set(body.group_by)] : [body.group_by];
  const filters = parseFilters(body.filters);
  const metrics = resolveMetrics(body.metrics);

  let range: { fromMs: number; toMs: number; toIsNow: boolean };
  let unit: Unit;
  let interval = 1;
  let calendar = true;
  if (seed) {
    if (body.from_date !== undefined || body.frequency_unit !== undefined) {
      throw validation(
        "use either time_range and interval (seed shape) or from_date and frequency_unit, not both",
      );
    }
    if (!body.time_range) throw validation("time_range is required with interval");
    if (!body.interval) throw validation("interval is required with time_range");
    unit = SEED_INTERVALS[body.interval];
    range = resolveRange(body.time_range.from_date, body.time_range.to_date, timezone, nowMs, limits);
  } else {
    if (body.from_date === undefined) throw validation("from_date is required");
    if (body.frequency_unit === undefined) throw validation("frequency_unit is required");
    unit = body.frequency_unit;
    if (body.frequency_interval != null) {
      interval = body.frequency_interval;
      calendar = false;
    }
    range = resolveRange(body.from_date, body.to_date, timezone, nowMs, limits);
  }
  const topk = body.topk ?? null;
  if (topk !== null) {
    if (groupBy.length === 0) throw validation("topk requires group_by");
    if (Object.keys(filters).length > 0) throw validation("topk cannot be combined with filters");
  }
  if (body.aggregation?.type === "percentile") {
    const p = body.aggregation.percentile;
    if (p === undefined)
      throw validation("aggregation.percentile is required when aggregation.type is percentile");
  }
  const sampleMetrics = metrics.filter((m) => m.sample);
  if (sampleMetrics.length > 0) {
    const bad = groupBy.find((d) => d === "user_project" || d === "api_key");
    if (bad)
      throw validation(`group_by ${bad} is not available for metric samples (${sampleMetrics[0]!.key})`);
  }
  return {
    shape: seed ? "seed" : "bud",
    metrics,
    ...snapNow(range, limits.nowSnapSeconds ?? 0),
    unit,
    interval,
    calendar,
    timezone,
    filters,
    groupBy,
    returnDelta: body.return_delta ?? !seed,
    fillGaps: body.fill_time_gaps ?? true,
    topk,
    promptOnly: body.data_source === "prompt",
    ...(body.aggregation ? { aggregation: body.aggregation } : {}),
    comparisonPeriods: body.comparison ? (body.comparison.periods ?? 1) : 0,
    limit: body.limit ?? null,
  };
}
