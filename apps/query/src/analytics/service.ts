/**
 * The analytics use case as one pipeline: parse (parse.ts, at the route) → plan (plan.ts) → run
 * (run.ts) → shape (shape.ts). Pure of HTTP and of any client library: it receives a SqlRunner.
 */
import { planQuestion, type AnalyticsLimits, type TierPart } from "./plan";
import type { AnalyticsQuery } from "./parse";
import { runQuestion } from "./run";
import { shapeAnswer, type AnalyticsResponse } from "./shape";
import type { SqlRunner } from "../ports";

export type { AnalyticsLimits } from "./plan";
export type { AnalyticsResponse, GroupItem } from "./shape";

/** Milliseconds per step, filled as the pipeline goes (the edge adds parse, cache, serialise). */
export type StepTimings = Record<string, number>;

export interface AnalyticsOutcome {
  response: AnalyticsResponse;
  /** Tiers of the main window's statements, e.g. `total_1d+dims_1h+raw` (X-Query-Plan). */
  plan: string;
  buckets: number;
  groups: number;
  /** The tiers that served each part of the range, per statement label. */
  parts: Record<string, TierPart[]>;
}

export function createAnalyticsService(sql: SqlRunner, limits: AnalyticsLimits) {
  async function run(q: AnalyticsQuery, steps: StepTimings = {}): Promise<AnalyticsOutcome> {
    let t = performance.now();
    const lap = (step: string) => {
      const now = performance.now();
      steps[step] = (steps[step] ?? 0) + (now - t);
      t = now;
    };
    const plan = planQuestion(q, sql.db, limits);
    lap("plan");
    const result = await runQuestion(sql, q, plan, limits.maxResultRows);
    lap("run");
    const { response, groups } = shapeAnswer(q, plan.buckets, result, limits.maxResultRows);
    lap("shape");
    const parts: Record<string, TierPart[]> = {};
    for (const w of [
      ...(plan.rank ? [plan.rank.window] : []),
      result.main.plan,
      ...result.earlier.map((e) => e.plan),
    ])
      for (const s of w.statements) parts[s.label] = s.parts;
    return { response, plan: result.main.plan.tiers, buckets: plan.buckets.labels.length, groups, parts };
  }
  return { run };
}

export type AnalyticsService = ReturnType<typeof createAnalyticsService>;
