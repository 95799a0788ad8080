import { createAnalyticsService, type AnalyticsLimits } from "../analytics/service";
import { parseAnalyticsRequest, type AnalyticsQuery, type RawAnalyticsBody } from "../analytics/request";
import type { Endpoint } from "../http/endpoint";
import { analyticsBody } from "../http/schemas";

export interface AnalyticsRouteOptions {
  limits: AnalyticsLimits;
  maxRangeDays: number;
  /** to_date = now is snapped down to a multiple of this (s) so short-lived cache entries can be shared. */
  nowSnapSeconds: number;
}

function snapNow(q: { fromMs: number; toMs: number; toIsNow: boolean }, snapSeconds: number) {
  if (!q.toIsNow || snapSeconds <= 0) return q;
  const step = snapSeconds * 1000;
  const snapped = Math.floor(q.toMs / step) * step;
  return snapped > q.fromMs ? { ...q, toMs: snapped } : q;
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
            const out = await createAnalyticsService(rc.sql, opts.limits).run(query);
            return { body: out.response, plan: out.plan };
          },
        };
      },
    },
  ];
}
