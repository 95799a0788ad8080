/**
 * The metric catalog (docs/QUERY.md, "Metric catalog"): one entry per metric — its unit, where its
 * values come from, the merged states each field of its object needs, the field that carries delta
 * and ranks top-k, and how the object is built. The planner asks the catalog which states a question
 * needs (only those are merged); the shaper asks it for objects and primary values. A metric that
 * needs a new state adds it to packages/schema rollups.ts (and a migration) and names it here.
 */
import type { InferenceState, SampleState } from "@budmetrics/schema";

/** Aggregates of the inference states: the rollup's states, by their declared names. */
export type InferenceAgg = InferenceState;

/** Aggregates of the metric-sample states, by their declared names. */
export type SampleAgg = SampleState;

export const STANDARD_LEVELS = [0.5, 0.9, 0.95, 0.99] as const;

/** Values of one (bucket, group) row: scalar aggregates, quantile arrays as `<name>` → number[]. */
export type AggValues = Record<string, number | number[] | null>;

export type SeedAggregation = {
  type: "sum" | "avg" | "min" | "max" | "count" | "percentile";
  percentile?: number;
};

export interface MetricObject {
  [field: string]: unknown;
}

export interface MetricEntry {
  /** Shown by /observability/metrics/types. */
  unit: string;
  /** Merged rollup (or raw) states, or the raw concurrency sweep. */
  source: "states" | "concurrency";
  /** The field that carries delta / delta_percent and ranks top-k. */
  primary: string;
  /** The states each field of the object is computed from (exact: averages from sums and counts). */
  fields: Readonly<Record<string, readonly InferenceAgg[]>>;
  /** Seed `aggregation` types the metric answers itself, with the states each needs (others: primary). */
  seed?: Readonly<Partial<Record<SeedAggregation["type"], readonly InferenceAgg[]>>>;
  toObject(a: AggValues): MetricObject;
  /** Seed `value` for an aggregation listed in `seed`. */
  seedValue?(a: AggValues, obj: MetricObject, agg: SeedAggregation): number | null;
}

function num(v: AggValues[string] | undefined): number {
  return typeof v === "number" ? v : 0;
}
function maybe(v: AggValues[string] | undefined): number | null {
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}
function ratio(a: number, b: number, scale = 1): number | null {
  return b === 0 ? null : (a / b) * scale;
}
function quantiles(v: AggValues[string] | undefined, count: number): (number | null)[] {
  if (count === 0 || !Array.isArray(v)) return STANDARD_LEVELS.map(() => null);
  return v.map((x) => (Number.isFinite(x) ? x : null));
}

/** latency and ttft: count, sum, min, max and a DDSketch of one measurement. */
function timing(m: "latency" | "ttft"): MetricEntry {
  const [count, sum, min, max, q] = [`${m}_count`, `${m}_sum`, `${m}_min`, `${m}_max`, `${m}_q`] as const;
  return {
    unit: "ms",
    source: "states",
    primary: "avg",
    fields: { avg: [count, sum], p50: [count, q], p90: [count, q], p95: [count, q], p99: [count, q] },
    seed: {
      count: [count],
      sum: [sum],
      avg: [count, sum],
      min: [count, min],
      max: [count, max],
      percentile: [count, q],
    },
    toObject(a) {
      const n = num(a[count]);
      const [p50, p90, p95, p99] = quantiles(a[q], n);
      return { avg: ratio(num(a[sum]), n), p50, p90, p95, p99 };
    },
    seedValue(a, obj, agg) {
      const n = num(a[count]);
      switch (agg.type) {
        case "count":
          return n;
        case "sum":
          return num(a[sum]);
        case "avg":
          return obj.avg as number | null;
        case "min":
          return n === 0 ? null : maybe(a[min]);
        case "max":
          return n === 0 ? null : maybe(a[max]);
        case "percentile":
          return n === 0 ? null : maybe(a[`${m}_qp`]);
      }
    },
  };
}

function tokens(unit: string, states: readonly InferenceAgg[]): MetricEntry {
  return {
    unit,
    source: "states",
    primary: "count",
    fields: { count: states },
    toObject: (a) => ({ count: states.reduce((s, st) => s + num(a[st]), 0) }),
  };
}

export const INFERENCE_CATALOG = {
  request_count: tokens("requests", ["requests"]),
  success_request: {
    unit: "requests, %",
    source: "states",
    primary: "count",
    fields: { count: ["success"], rate: ["requests", "success"] },
    toObject(a) {
      const success = num(a.success);
      return { count: success, rate: ratio(success, num(a.requests), 100) };
    },
  },
  failure_request: {
    unit: "requests, %",
    source: "states",
    primary: "count",
    fields: { count: ["requests", "success"], rate: ["requests", "success"] },
    toObject(a) {
      const failed = num(a.requests) - num(a.success);
      return { count: failed, rate: ratio(failed, num(a.requests), 100) };
    },
  },
  queuing_time: {
    unit: "ms",
    source: "states",
    primary: "avg_time_ms",
    fields: { avg_time_ms: ["requests", "queuing_sum"] },
    seed: {
      count: ["requests"],
      sum: ["queuing_sum"],
      min: ["requests", "queuing_min"],
      max: ["requests", "queuing_max"],
    },
    toObject: (a) => ({ avg_time_ms: ratio(num(a.queuing_sum), num(a.requests)) }),
    seedValue(a, obj, agg) {
      const requests = num(a.requests);
      switch (agg.type) {
        case "count":
          return requests;
        case "sum":
          return num(a.queuing_sum);
        case "min":
          return requests === 0 ? null : maybe(a.queuing_min);
        case "max":
          return requests === 0 ? null : maybe(a.queuing_max);
        default:
          return (obj.avg_time_ms as number | null) ?? null;
      }
    },
  },
  input_token: tokens("tokens", ["input_tokens"]),
  output_token: tokens("tokens", ["output_tokens"]),
  total_token: tokens("tokens", ["input_tokens", "output_tokens"]),
  concurrent_requests: {
    unit: "requests",
    source: "concurrency",
    primary: "peak",
    fields: { avg: [], peak: [] },
    toObject(a) {
      const peak = num(a.peak);
      return { avg: peak, peak };
    },
  },
  ttft: timing("ttft"),
  latency: timing("latency"),
  throughput: {
    unit: "tokens/s",
    source: "states",
    primary: "avg",
    fields: { avg: ["throughput_count", "throughput_sum"] },
    toObject: (a) => ({ avg: ratio(num(a.throughput_sum), num(a.throughput_count)) }),
  },
  cache: {
    unit: "%, requests",
    source: "states",
    primary: "hit_rate",
    fields: { hit_rate: ["requests", "cached"], hit_count: ["cached"] },
    toObject: (a) => ({ hit_rate: ratio(num(a.cached), num(a.requests), 100), hit_count: num(a.cached) }),
  },
  cost: {
    unit: "USD",
    source: "states",
    primary: "sum",
    fields: { sum: ["cost"] },
    toObject: (a) => ({ sum: num(a.cost) }),
  },
} as const satisfies Record<string, MetricEntry>;

export type InferenceMetric = keyof typeof INFERENCE_CATALOG;
export const INFERENCE_METRICS = Object.keys(INFERENCE_CATALOG) as InferenceMetric[];

export function metricEntry(m: InferenceMetric): MetricEntry {
  return INFERENCE_CATALOG[m];
}

/** Names other tools send for catalog metrics; a rate alias reports and ranks by its rate field. */
export const METRIC_ALIASES: Readonly<Record<string, { metric: InferenceMetric; field?: string }>> = {
  success_rate: { metric: "success_request", field: "rate" },
  error_rate: { metric: "failure_request", field: "rate" },
  failure_rate: { metric: "failure_request", field: "rate" },
  requests: { metric: "request_count" },
  cache_hit_rate: { metric: "cache", field: "hit_rate" },
  time_to_first_token: { metric: "ttft" },
  queue_time: { metric: "queuing_time" },
};

/** One requested metric: output key (as requested) and what it resolves to. */
export interface RequestedMetric {
  key: string;
  inference?: InferenceMetric;
  sample?: string;
  /** The field that is the metric's value (rate aliases). */
  field?: string;
}

/** What a question needs of a metric: its whole object, or its value alone (ranking, comparison). */
export type Need = "object" | "value";

/**
 * The states one metric needs: the whole object's (plus those of a seed aggregation it answers),
 * or only those of its value — the field it reports by, or in the seed shape the aggregation.
 */
export function statesOf(
  m: RequestedMetric,
  need: Need,
  seed: boolean,
  agg: SeedAggregation | undefined,
): InferenceAgg[] {
  if (!m.inference) return [];
  const e = metricEntry(m.inference);
  const seedStates = seed && agg && !m.field ? e.seed?.[agg.type] : undefined;
  if (need === "object") return [...Object.values(e.fields).flat(), ...(seedStates ?? [])];
  return [...(seedStates ?? e.fields[m.field ?? e.primary] ?? [])];
}

/** The object of a catalog metric; in the seed shape with `value` (the aggregation where it has one). */
export function inferenceMetricObject(
  m: RequestedMetric & { inference: InferenceMetric },
  a: AggValues,
  seed: boolean,
  agg: SeedAggregation | undefined,
): MetricObject {
  const e = metricEntry(m.inference);
  const obj = e.toObject(a);
  if (seed) {
    const primary = (obj[m.field ?? e.primary] as number | null) ?? null;
    obj.value = !m.field && agg && e.seed?.[agg.type] && e.seedValue ? e.seedValue(a, obj, agg) : primary;
  }
  return obj;
}

export const SAMPLE_PRIMARY_FIELD = "avg";

/** Object of a metric-sample name: count, sum, avg, min, max and the standard percentiles. */
export function sampleMetricObject(
  a: AggValues,
  agg: SeedAggregation | undefined,
  seed: boolean,
): MetricObject {
  const count = num(a.count);
  const [p50, p90, p95, p99] = quantiles(a.q, count);
  const obj: MetricObject = {
    count,
    sum: num(a.sum),
    avg: ratio(num(a.sum), count),
    min: count === 0 ? null : maybe(a.min),
    max: count === 0 ? null : maybe(a.max),
    p50,
    p90,
    p95,
    p99,
  };
  if (seed) {
    let value: number | null = obj.avg as number | null;
    if (agg) {
      if (agg.type === "percentile") value = count === 0 ? null : maybe(a.qp);
      else value = (obj[agg.type] as number | null) ?? null;
    }
    obj.value = value;
  }
  return obj;
}
