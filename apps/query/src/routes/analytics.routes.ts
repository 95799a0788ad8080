import { parseAnalyticsRequest } from "../analytics/parse";
import { coverageNotes, type Retention } from "../analytics/coverage";
import { createAnalyticsService, type AnalyticsLimits } from "../analytics/service";
import { postEndpoint, type Endpoint } from "../http/endpoint";
import { analyticsBody, type AnalyticsBody } from "../http/schemas";

export interface AnalyticsRouteOptions {
  limits: AnalyticsLimits;
  maxRangeDays: number;
  /** to_date = now is snapped down to a multiple of this (s) so short-lived cache entries can be shared. */
  nowSnapSeconds: number;
  /** Retention of the raw table and the rollups, for the notes of ranges older than the raw horizon. */
  retention?: () => Promise<Retention | null>;
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
            const [out, retention] = await Promise.all([
              createAnalyticsService(rc.sql, opts.limits).run(query, rc.steps, { nowMs: rc.nowMs }),
              opts.retention?.() ?? null,
            ]);
            // Present only when the range reaches past a table's retention (docs/QUERY.md, "Retention").
            const notes = retention ? coverageNotes(query, retention, rc.nowMs) : [];
            const body = notes.length > 0 ? { ...out.response, notes } : out.response;
            return { body, plan: out.plan, parts: out.parts };
          },
        };
      },
    }),
  ];
}
