/**
 * First-use costs, paid at start instead of by the first requests. Measured on the benchmark's
 * folder (docs/QUERY.md, "Where the time goes"): the first analytics request after start took
 * ~470 ms against ~60 ms later — 200 ms compiling its request schema (now compiled when the routes
 * are mounted), ~50 ms planning (first use of the time-zone and SQL-building code) and an engine
 * that reads the rollup's marks and sketch columns for the first time. This runs a few questions
 * through the whole pipeline, one per rollup level (total, model, dims) plus a raw edge, so that
 * code is compiled and the engine has the parts' marks and columns at hand. Bounded in time;
 * failures only logged: an engine that is down at start is the health check's business.
 */
import type { AnalyticsBody } from "../http/schemas";
import { parseAnalyticsRequest } from "./parse";
import { createAnalyticsService, type AnalyticsLimits } from "./service";
import type { SqlRunner } from "../ports";

const DAY_MS = 86_400_000;

export async function warmUp(
  sql: SqlRunner,
  limits: AnalyticsLimits,
  nowMs: number,
  budgetMs: number,
): Promise<{ questions: number; ms: number }> {
  const started = performance.now();
  const iso = (ms: number) => new Date(ms).toISOString();
  const from = iso(Math.floor(nowMs / DAY_MS) * DAY_MS - 7 * DAY_MS);
  const bodies: AnalyticsBody[] = [
    // total_1h (+ raw end): counts, sums, a sketch.
    {
      metrics: ["request_count", "success_request", "latency", "cost"],
      from_date: from,
      frequency_unit: "hour",
    },
    // model_1d: a percentile by model.
    {
      metrics: ["ttft", "input_token"],
      time_range: { from_date: from, to_date: iso(Math.floor(nowMs / DAY_MS) * DAY_MS) },
      interval: "daily",
      group_by: ["model"],
      aggregation: { type: "percentile", percentile: 95 },
    },
    // dims_1d (+ raw end): a ranking over endpoints.
    {
      metrics: ["cost", "throughput"],
      from_date: from,
      frequency_unit: "day",
      group_by: ["endpoint"],
      topk: 5,
    },
  ];
  const service = createAnalyticsService(sql, limits);
  let questions = 0;
  for (const body of bodies) {
    if (performance.now() - started > budgetMs) break;
    await service.run(parseAnalyticsRequest(body, nowMs, { maxRangeDays: 366 }));
    questions += 1;
  }
  return { questions, ms: performance.now() - started };
}
