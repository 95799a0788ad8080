/**
 * Step 2 of an analytics request (parse → plan → run → shape): from an `AnalyticsQuery` to the
 * statements that answer it. Decides the buckets, which states each window merges (only those its
 * metrics need: a comparison window or a ranking needs the metric's value alone, no sketch for an
 * average), which tiers serve each part of the range (planner.ts), and the SQL (queries.ts).
 * Pure: no engine, no clock.
 */
import { statesOf, type InferenceAgg, type Need, type RequestedMetric, type SampleAgg } from "./catalog";
import type { AnalyticsQuery } from "./parse";
import { describePlan, planSegments, type Segment } from "./planner";
import {
  buildConcurrencyQuery,
  buildInferenceStatesQuery,
  buildSampleStatesQuery,
  levelFor,
  rollupLevel,
  rollupServes,
  type BuiltQuery,
  type Dim,
  type Filters,
} from "./queries";
import { computeBuckets, type Buckets } from "./time";
import { queryErrors } from "../errors";

export interface AnalyticsLimits {
  maxBuckets: number;
  maxResultRows: number;
  concurrencyLookbackMs: number;
  /** Diagnostics and the benchmark only: answer everything from raw rows (the planner's baseline). */
  forceRaw?: boolean;
}

export type StatementKind = "states" | "concurrency" | "samples";

/** One part of the range and the tier that reads it (`raw`, `dims_5m`, `model_1h`, `total_1d`, …). */
export interface TierPart {
  tier: string;
  fromMs: number;
  toMs: number;
}

export interface Statement {
  /** `<window>.<kind>`: names the statement in metrics, perf records and `meta`. */
  label: string;
  kind: StatementKind;
  query: BuiltQuery;
  parts: TierPart[];
}

export interface WindowPlan {
  label: string;
  buckets: Buckets;
  /** Inference states merged per (bucket, group). */
  aggs: InferenceAgg[];
  /** Dimensions of the sample rows (samples have no user_project / api_key). */
  sampleDims: Dim[];
  statements: Statement[];
  /** Short text of the plan (X-Query-Plan), e.g. `total_1d+dims_1h+raw`. */
  tiers: string;
}

export interface QuestionPlan {
  buckets: Buckets;
  /** Groups kept by topk / limit: ranked over the whole range by the first metric's value. */
  rank: { k: number; window: WindowPlan; before: boolean } | null;
  /**
   * The series windows (the range, then each earlier comparison window) over `extra` filters —
   * the kept groups' ids when ranking ran first.
   */
  windows(extra?: Filters): WindowPlan[];
}

const SAMPLE_AGGS: readonly SampleAgg[] = ["count", "sum", "min", "max", "q"];

/** A seed `aggregation: percentile` level in (0, 1): merged with the standard levels, in one pass. */
export function extraLevelOf(q: AnalyticsQuery): number | undefined {
  if (q.aggregation?.type !== "percentile") return undefined;
  const p = q.aggregation.percentile! / 100;
  if (p <= 0) return 1e-9;
  if (p >= 1) return 1 - 1e-9;
  return p;
}

export function bucketsFor(
  q: AnalyticsQuery,
  fromMs: number,
  toMs: number,
  limits: Pick<AnalyticsLimits, "maxBuckets">,
): Buckets {
  const b = computeBuckets(fromMs, toMs, q.unit, q.interval, q.timezone, q.calendar, limits.maxBuckets);
  if (!b) {
    throw queryErrors.create(
      "QUERY_TOO_MANY_BUCKETS",
      `The range and interval give more than ${limits.maxBuckets} time buckets: use a coarser interval or a shorter range`,
    );
  }
  return b;
}

function partsOf(segments: readonly Segment[], level: Parameters<typeof levelFor>[1]): TierPart[] {
  return segments.map((s) => ({
    tier: s.source === "raw" ? "raw" : `${levelFor(s.grain, level)}_${s.grain}`,
    fromMs: s.fromMs,
    toMs: s.toMs,
  }));
}

/** The statements of one window: the states of its metrics, the concurrency sweep, the samples. */
export function planWindow(
  q: AnalyticsQuery,
  db: string,
  buckets: Buckets,
  metrics: readonly RequestedMetric[],
  need: Need,
  label: string,
  limits: AnalyticsLimits,
  filters: Filters = q.filters,
): WindowPlan {
  const forceRaw = limits.forceRaw === true;
  const seed = q.shape === "seed";
  const aggs = [...new Set(metrics.flatMap((m) => statesOf(m, need, seed, q.aggregation)))];
  const wantsConcurrency = metrics.some((m) => m.inference === "concurrent_requests");
  const sampleNames = metrics.flatMap((m) => (m.sample ? [m.sample] : []));
  const sampleDims = q.groupBy.filter((d) => d !== "user_project" && d !== "api_key");
  const extraLevel = extraLevelOf(q);
  const withoutPrompts = q.withoutPrompts === true;
  const base = {
    db,
    edges: buckets.edges,
    dims: q.groupBy,
    filters,
    promptOnly: q.promptOnly,
    withoutPrompts,
  };
  const statements: Statement[] = [];
  const tiers: string[] = [];
  // Questions the rollups serve read their raw rows from the time-ordered copy that counts what the
  // rollups count (migrations/0019); the others, and forced-raw answers, the raw table FINAL.
  const served = !forceRaw && rollupServes(q.groupBy, filters, q.promptOnly || withoutPrompts);
  if (aggs.length > 0) {
    const endsAtTo = buckets.edges[buckets.edges.length - 1] === q.toMs;
    const segments = planSegments(buckets.edges, !served, endsAtTo ? q.emptyUntilMs : undefined);
    const level = rollupLevel(base);
    statements.push({
      label: `${label}.states`,
      kind: "states",
      query: buildInferenceStatesQuery({
        ...base,
        segments,
        aggs,
        rawByTime: served,
        ...(extraLevel ? { extraLevel } : {}),
      }),
      parts: partsOf(segments, level),
    });
    tiers.push(describePlan(segments, level));
  }
  if (wantsConcurrency) {
    const [fromMs, toMs] = [buckets.edges[0]!, buckets.edges[buckets.edges.length - 1]!];
    statements.push({
      label: `${label}.concurrency`,
      kind: "concurrency",
      query: buildConcurrencyQuery({ ...base, lookbackMs: limits.concurrencyLookbackMs, rawByTime: served }),
      parts: [{ tier: "raw", fromMs, toMs }],
    });
    tiers.push("raw(concurrency)");
  }
  if (sampleNames.length > 0) {
    const segments = planSegments(buckets.edges, q.promptOnly || forceRaw);
    statements.push({
      label: `${label}.samples`,
      kind: "samples",
      query: buildSampleStatesQuery({
        db,
        edges: buckets.edges,
        segments,
        dims: sampleDims,
        filters,
        metricTypes: sampleNames,
        aggs: SAMPLE_AGGS,
        ...(extraLevel ? { extraLevel } : {}),
      }),
      parts: partsOf(segments, "dims"),
    });
    tiers.push(`samples:${describePlan(segments)}`);
  }
  return { label, buckets, aggs, sampleDims, statements, tiers: tiers.join(",") };
}

export function planQuestion(q: AnalyticsQuery, db: string, limits: AnalyticsLimits): QuestionPlan {
  const buckets = bucketsFor(q, q.fromMs, q.toMs, limits);
  const lenMs = q.toMs - q.fromMs;
  const k = q.groupBy.length > 0 ? (q.topk ?? q.limit) : null;
  // Comparison windows report each metric's value alone: they merge only its states.
  const earlier = Array.from({ length: q.comparisonPeriods }, (_, i) =>
    bucketsFor(q, q.fromMs - (i + 1) * lenMs, q.toMs - (i + 1) * lenMs, limits),
  );
  const windows = (extra?: Filters) => {
    const filters = extra ? { ...q.filters, ...extra } : q.filters;
    return [
      planWindow(q, db, buckets, q.metrics, "object", "main", limits, filters),
      ...earlier.map((b, i) => planWindow(q, db, b, q.metrics, "value", `prev${i + 1}`, limits, filters)),
    ];
  };
  if (k === null) return { buckets, rank: null, windows };
  const whole: Buckets = { labels: [q.fromMs], edges: [q.fromMs, q.toMs] };
  return {
    buckets,
    rank: {
      k,
      window: planWindow(q, db, whole, [q.metrics[0]!], "value", "rank", limits),
      // Inference metrics only (their groups carry ids; sample groups are names): rank first, then
      // read the series of the kept groups alone — a top-10 of 500 endpoints reads 10 series.
      before: q.metrics.every((m) => m.inference !== undefined),
    },
    windows,
  };
}
