import { parseAnalyticsRequest } from "../analytics/parse";
import { createAnalyticsService, type AnalyticsLimits } from "../analytics/service";
import { postEndpoint, type Endpoint } from "../http/endpoint";
import { analyticsBody, type AnalyticsBody } from "../http/schemas";

export interface AnalyticsRouteOptions {
  limits: AnalyticsLimits;
  maxRangeDays: number;
  /** to_date = now is snapped down to a multiple of this (s) so short-lived cache entries can be shared. */
  nowSnapSeconds: number;
}

/** POST /observability/analytics: parse (here) → plan → run → shape (the analytics service). */
export function analyticsEndpoints(opts: AnalyticsRouteOptions): Endpoint[] {
  const rules = { maxRangeDays: opts.maxRangeDays, nowSnapSeconds: opts.nowSnapSeconds };
  return [
    postEndpoint<AnalyticsBody>(analyticsBody, {
      path: "/observability/analytics",
      tag: "analytics",
      summary: "Time-series analytics over inferences and metric samples (both request shapes)",
      description:
        "Bud stack shape (metrics, from_date, to_date, frequency_unit, frequency_interval, filters, group_by, return_delta, " +
        "fill_time_gaps, topk, data_source) or seed shape (metrics, time_range, interval, filters, group_by, aggregation, " +
        "comparison, limit). Periods newest first. Served from the coarsest exact rollup; raw rows for unaligned edges and concurrency. " +
        "`?explain=1` adds `meta`: tiers per statement, rows and bytes read, cache, step timings.",
      prepare(body, nowMs) {
        const query = parseAnalyticsRequest(body, nowMs, rules);
        return {
          cache: { normalised: query, toMs: query.toMs },
          async run(rc) {
            const out = await createAnalyticsService(rc.sql, opts.limits).run(query, rc.steps);
            return { body: out.response, plan: out.plan, parts: out.parts };
          },
        };
      },
    }),
  ];
}
