/**
 * The analytics use case as one pipeline: parse (parse.ts, at the route) → plan (plan.ts) → run
 * (run.ts) → shape (shape.ts). Pure of HTTP and of any client library: it receives a SqlRunner.
 */
import { GRAIN_MS } from "@budmetrics/schema";
import { metricEntry } from "./catalog";
import { planQuestion, type AnalyticsLimits, type TierPart } from "./plan";
import { buildPromptPresenceQuery, buildTailProbeQuery, rollupServes } from "./queries";
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
  /** The question as answered: with what the looks before planning found (prompt traffic, tail). */
  query: AnalyticsQuery;
}

/** A range whose end lies at most this far before now is one a dashboard ends at now. */
const ENDS_AT_NOW_MS = 5 * 60_000;
const HOUR_MS = GRAIN_MS["1h"];
const DAY_MS = GRAIN_MS["1d"];

export interface RunOptions {
  /** The app's clock: a range that ends at now may be read from the rollup to its end. */
  nowMs?: number;
  /**
   * Leave prompt (agent) traffic out (the Bud shape's `data_source: inference`). The rollups hold both
   * kinds of traffic, so the question is read from raw rows when prompt traffic arrived in its range.
   */
  leavePromptsOut?: boolean;
}

/**
 * Looks the pipeline takes before planning, in one statement when it needs both:
 * - prompt traffic in range (`leavePromptsOut`): from the hours that hold it (migrations/0018). A
 *   question answered from raw rows anyway leaves it out by a condition on them, without a look;
 * - the tail of a range that ends at now, between hour marks: its last stretch would be read from raw
 *   rows (the rollup bucket that holds its end also holds what comes after it). Nothing arrives after
 *   now unless a sender's clock runs ahead, so one look at the raw rows from the range's end to the
 *   next midnight (UTC) — in the time-ordered copy, migrations/0019: that stretch's granules alone —
 *   tells whether that bucket holds only rows before the end; the planner then reads it from the
 *   rollup instead.
 */
async function look(sql: SqlRunner, q: AnalyticsQuery, limits: AnalyticsLimits, opts: RunOptions) {
  const prompts = opts.leavePromptsOut
    ? { fromMs: q.fromMs - limits.concurrencyLookbackMs, toMs: q.toMs }
    : undefined;
  const served = !limits.forceRaw && rollupServes(q.groupBy, q.filters, q.promptOnly);
  if (prompts && !served) return { ...q, withoutPrompts: true };
  const tail =
    opts.nowMs !== undefined &&
    served &&
    q.metrics.some((m) => m.inference && metricEntry(m.inference).source === "states") &&
    q.toMs % HOUR_MS !== 0 &&
    q.toMs >= opts.nowMs - ENDS_AT_NOW_MS;
  if (!tail) {
    if (!prompts) return q;
    const found = await sql.run<{ x: number }>(
      "bud_analytics.prompt_presence",
      buildPromptPresenceQuery(sql.db, prompts.fromMs, prompts.toMs),
    );
    return { ...q, withoutPrompts: found.length > 0 };
  }
  const untilMs = Math.ceil(q.toMs / DAY_MS) * DAY_MS;
  const [row] = await sql.run<{ prompts?: number | string; n: number | string; first: number | string }>(
    prompts ? "bud_analytics.prompt_presence+tail.probe" : "tail.probe",
    buildTailProbeQuery(sql.db, q.toMs, untilMs, prompts),
  );
  const withoutPrompts = prompts ? Number(row?.prompts ?? 0) > 0 : q.withoutPrompts === true;
  const emptyUntilMs = row && Number(row.n) > 0 ? Number(row.first) : untilMs;
  return {
    ...q,
    withoutPrompts,
    // With prompt traffic left out the question is read from raw rows: no rollup to extend.
    ...(emptyUntilMs > q.toMs && !withoutPrompts ? { emptyUntilMs } : {}),
  };
}

export function createAnalyticsService(sql: SqlRunner, limits: AnalyticsLimits) {
  async function run(
    q: AnalyticsQuery,
    steps: StepTimings = {},
    opts: RunOptions = {},
  ): Promise<AnalyticsOutcome> {
    let t = performance.now();
    const lap = (step: string) => {
      const now = performance.now();
      steps[step] = (steps[step] ?? 0) + (now - t);
      t = now;
    };
    q = await look(sql, q, limits, opts);
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
    return {
      response,
      plan: result.main.plan.tiers,
      buckets: plan.buckets.labels.length,
      groups,
      parts,
      query: q,
    };
  }
  return { run };
}

export type AnalyticsService = ReturnType<typeof createAnalyticsService>;
