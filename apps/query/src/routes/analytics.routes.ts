import { createAnalyticsService, type AnalyticsLimits } from "../analytics/service";
import {
  parseAnalyticsRequest,
  parseFilters,
  resolveMetrics,
  resolveRange,
  type AnalyticsQuery,
  type RawAnalyticsBody,
} from "../analytics/request";
import { isValidZone, type Unit } from "../analytics/time";
import { coverageNotes, type Retention } from "../analytics/coverage";
import type { Dim } from "../analytics/queries";
import { latencyDistribution } from "../browse/service";
import { validation } from "../errors";
import type { Endpoint } from "../http/endpoint";
import {
  aggregatedBody,
  analyticsBody,
  latencyDistributionBody,
  timeSeriesBody,
  type TIME_SERIES_INTERVALS,
} from "../http/schemas";

export interface AnalyticsRouteOptions {
  limits: AnalyticsLimits;
  maxRangeDays: number;
  /** to_date = now is snapped down to a multiple of this (s) so short-lived cache entries can be shared. */
  nowSnapSeconds: number;
  /** Retention of the raw table and the rollups, for the notes of ranges older than the raw horizon. */
  retention?: () => Promise<Retention | null>;
}

/** Keyed by the schema's interval enum: adding an interval to one without the other fails to compile. */
const TS_INTERVALS: Readonly<Record<(typeof TIME_SERIES_INTERVALS)[number], { unit: Unit; n: number }>> = {
  "1m": { unit: "minute", n: 1 },
  "5m": { unit: "minute", n: 5 },
  "15m": { unit: "minute", n: 15 },
  "30m": { unit: "minute", n: 30 },
  "1h": { unit: "hour", n: 1 },
  "6h": { unit: "hour", n: 6 },
  "12h": { unit: "hour", n: 12 },
  "1d": { unit: "day", n: 1 },
  "1w": { unit: "week", n: 1 },
  "1M": { unit: "month", n: 1 },
  "1q": { unit: "quarter", n: 1 },
  "1y": { unit: "year", n: 1 },
};

function zoneOf(tz: string | undefined): string {
  const zone = tz ?? "UTC";
  if (!isValidZone(zone)) throw validation(`timezone must be an IANA time zone name, got "${zone}"`);
  return zone;
}

function snapNow(q: { fromMs: number; toMs: number; toIsNow: boolean }, snapSeconds: number) {
  if (!q.toIsNow || snapSeconds <= 0) return q;
  const step = snapSeconds * 1000;
  const snapped = Math.floor(q.toMs / step) * step;
  return snapped > q.fromMs ? { ...q, toMs: snapped } : q;
}

function groupList(g: Dim[] | Dim | null | undefined): Dim[] {
  return g == null ? [] : Array.isArray(g) ? [...new Set(g)] : [g];
}

export function analyticsEndpoints(opts: AnalyticsRouteOptions): Endpoint[] {
  const limits = { maxRangeDays: opts.maxRangeDays };
  return [
    {
      method: "post",
      path: "/observability/analytics",
      tag: "analytics",
      summary: "Time-series analytics over inferences and metric samples (both request shapes)",
      description:
        "Bud stack shape (metrics, from_date, to_date, frequency_unit, frequency_interval, filters, group_by, return_delta, " +
        "fill_time_gaps, topk, data_source) or seed shape (metrics, time_range, interval, filters, group_by, aggregation, " +
        "comparison, limit). Periods newest first. Served from the coarsest exact rollup; raw rows for unaligned edges and concurrency.",
      body: analyticsBody,
      prepare(input, nowMs) {
        const q = parseAnalyticsRequest(input.body as RawAnalyticsBody, nowMs, limits);
        const query: AnalyticsQuery = { ...q, ...snapNow(q, opts.nowSnapSeconds) };
        return {
          cache: { normalised: query, toMs: query.toMs },
          async run(rc) {
            const [out, retention] = await Promise.all([
              createAnalyticsService(rc.sql, opts.limits).run(query),
              opts.retention?.() ?? null,
            ]);
            // Present only when the range reaches past a table's retention (docs/QUERY.md, "Retention").
            const notes = retention ? coverageNotes(query, retention, rc.nowMs) : [];
            return { body: notes.length > 0 ? { ...out.response, notes } : out.response, plan: out.plan };
          },
        };
      },
    },
    {
      method: "post",
      path: "/observability/metrics/aggregated",
      tag: "analytics",
      summary: "Whole-range aggregates of catalog metrics, optionally per group",
      body: aggregatedBody,
      prepare(input, nowMs) {
        const b = input.body as {
          metrics: string[];
          from_date: string;
          to_date?: string | null;
          timezone?: string;
          filters?: Record<string, string | string[]> | null;
          group_by?: Dim[] | Dim | null;
          data_source?: "inference" | "prompt";
        };
        const zone = zoneOf(b.timezone);
        const range = snapNow(resolveRange(b.from_date, b.to_date, zone, nowMs, limits), opts.nowSnapSeconds);
        const query: AnalyticsQuery = {
          shape: "bud",
          metrics: resolveMetrics(b.metrics),
          ...range,
          unit: "day",
          interval: 1,
          calendar: false,
          timezone: zone,
          filters: parseFilters(b.filters),
          groupBy: groupList(b.group_by),
          returnDelta: false,
          fillGaps: false,
          topk: null,
          promptOnly: b.data_source === "prompt",
          comparisonPeriods: 0,
          limit: null,
          wholeRange: true,
        };
        return {
          cache: { normalised: query, toMs: query.toMs },
          async run(rc) {
            const out = await createAnalyticsService(rc.sql, opts.limits).run(query);
            return {
              body: {
                object: "aggregated_metrics",
                from_date: new Date(query.fromMs).toISOString(),
                to_date: new Date(query.toMs).toISOString(),
                items: out.response.items[0]?.items ?? [],
              },
              plan: out.plan,
            };
          },
        };
      },
    },
    {
      method: "post",
      path: "/observability/metrics/time-series",
      tag: "analytics",
      summary: "Catalog metrics as one series of points per group (clock-aligned intervals)",
      body: timeSeriesBody,
      prepare(input, nowMs) {
        const b = input.body as {
          metrics: string[];
          from_date: string;
          to_date?: string | null;
          timezone?: string;
          interval?: string;
          filters?: Record<string, string | string[]> | null;
          group_by?: Dim[] | Dim | null;
          fill_gaps?: boolean;
          data_source?: "inference" | "prompt";
        };
        const zone = zoneOf(b.timezone);
        const range = snapNow(resolveRange(b.from_date, b.to_date, zone, nowMs, limits), opts.nowSnapSeconds);
        const iv = TS_INTERVALS[(b.interval ?? "1h") as (typeof TIME_SERIES_INTERVALS)[number]];
        const query: AnalyticsQuery = {
          shape: "bud",
          metrics: resolveMetrics(b.metrics),
          ...range,
          unit: iv.unit,
          interval: iv.n,
          calendar: true,
          timezone: zone,
          filters: parseFilters(b.filters),
          groupBy: groupList(b.group_by),
          returnDelta: false,
          fillGaps: b.fill_gaps ?? true,
          topk: null,
          promptOnly: b.data_source === "prompt",
          comparisonPeriods: 0,
          limit: null,
        };
        return {
          cache: { normalised: { ts: true, query }, toMs: query.toMs },
          async run(rc) {
            const out = await createAnalyticsService(rc.sql, opts.limits).run(query);
            const series = new Map<string, { ids: Record<string, unknown>; points: unknown[] }>();
            for (const period of [...out.response.items].reverse()) {
              for (const item of period.items) {
                const { data, ...ids } = item;
                const key = JSON.stringify(ids);
                let s = series.get(key);
                if (!s) series.set(key, (s = { ids, points: [] }));
                s.points.push({ timestamp: period.time_period, values: data });
              }
            }
            return {
              body: {
                object: "time_series",
                interval: b.interval ?? "1h",
                timezone: zone,
                groups: [...series.values()].map((s) => ({ ...s.ids, data_points: s.points })),
              },
              plan: out.plan,
            };
          },
        };
      },
    },
    {
      method: "post",
      path: "/observability/metrics/latency-distribution",
      tag: "analytics",
      summary: "Histogram of response times (ms) over a range, from raw rows",
      body: latencyDistributionBody,
      prepare(input, nowMs) {
        const b = input.body as {
          from_date: string;
          to_date?: string | null;
          timezone?: string;
          filters?: Record<string, string | string[]> | null;
          buckets?: number[];
        };
        const zone = zoneOf(b.timezone);
        const range = snapNow(resolveRange(b.from_date, b.to_date, zone, nowMs, limits), opts.nowSnapSeconds);
        const spec = {
          fromMs: range.fromMs,
          toMs: range.toMs,
          filters: parseFilters(b.filters),
          edges: b.buckets,
        };
        return {
          cache: { normalised: spec, toMs: spec.toMs },
          async run(rc) {
            return { body: await latencyDistribution(rc.sql, spec), plan: "raw" };
          },
        };
      },
    },
  ];
}
