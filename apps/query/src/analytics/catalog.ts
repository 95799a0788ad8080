/**
 * The metric catalog (BRIEF §6): which mergeable aggregates each metric needs and how its object is
 * built from them. Aggregates are computed by the engine from rollup or raw states (queries.ts).
 */

export type InferenceMetric =
  | "request_count"
  | "success_request"
  | "failure_request"
  | "queuing_time"
  | "input_token"
  | "output_token"
  | "total_token"
  | "concurrent_requests"
  | "ttft"
  | "latency"
  | "throughput"
  | "cache"
  | "cost";

export const INFERENCE_METRICS: readonly InferenceMetric[] = [
  "request_count",
  "success_request",
  "failure_request",
  "queuing_time",
  "input_token",
  "output_token",
  "total_token",
  "concurrent_requests",
  "ttft",
  "latency",
  "throughput",
  "cache",
  "cost",
];

/** Names other tools send for catalog metrics. */
export const METRIC_ALIASES: Readonly<Record<string, InferenceMetric>> = {
  success_rate: "success_request",
  error_rate: "failure_request",
  failure_rate: "failure_request",
  requests: "request_count",
  cache_hit_rate: "cache",
  time_to_first_token: "ttft",
  queue_time: "queuing_time",
};

/** Units shown by /observability/metrics/types. */
export const METRIC_UNITS: Readonly<Record<InferenceMetric, string>> = {
  request_count: "requests",
  success_request: "requests, %",
  failure_request: "requests, %",
  queuing_time: "ms",
  input_token: "tokens",
  output_token: "tokens",
  total_token: "tokens",
  concurrent_requests: "requests",
  ttft: "ms",
  latency: "ms",
  throughput: "tokens/s",
  cache: "%, requests",
  cost: "USD",
};

/** Aggregates of the inference states (rollup columns / raw expressions of the same name). */
export type InferenceAgg =
  | "requests"
  | "success"
  | "cached"
  | "queuing_sum"
  | "queuing_min"
  | "queuing_max"
  | "input_tokens"
  | "output_tokens"
  | "latency_count"
  | "latency_sum"
  | "latency_min"
  | "latency_max"
  | "latency_q"
  | "ttft_count"
  | "ttft_sum"
  | "ttft_min"
  | "ttft_max"
  | "ttft_q"
  | "throughput_count"
  | "throughput_sum"
  | "cost"
  | "users";

export type SampleAgg = "count" | "sum" | "min" | "max" | "q";

export const STANDARD_LEVELS = [0.5, 0.9, 0.95, 0.99] as const;

export const INFERENCE_AGGS_OF: Readonly<
  Record<Exclude<InferenceMetric, "concurrent_requests">, InferenceAgg[]>
> = {
  request_count: ["requests"],
  success_request: ["requests", "success"],
  failure_request: ["requests", "success"],
  queuing_time: ["requests", "queuing_sum", "queuing_min", "queuing_max"],
  input_token: ["input_tokens"],
  output_token: ["output_tokens"],
  total_token: ["input_tokens", "output_tokens"],
  ttft: ["ttft_count", "ttft_sum", "ttft_min", "ttft_max", "ttft_q"],
  latency: ["latency_count", "latency_sum", "latency_min", "latency_max", "latency_q"],
  throughput: ["throughput_count", "throughput_sum"],
  cache: ["requests", "cached"],
  cost: ["cost"],
};

/** Values of one (bucket, group) row: scalar aggregates, quantile arrays as `<name>` → number[]. */
export type AggValues = Record<string, number | number[] | null>;

export type SeedAggregation = {
  type: "sum" | "avg" | "min" | "max" | "count" | "percentile";
  percentile?: number;
};

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

export interface MetricObject {
  [field: string]: unknown;
}

/** The field of each metric object that carries delta / delta_percent and ranks top-k. */
export const PRIMARY_FIELD: Readonly<Record<InferenceMetric, string>> = {
  request_count: "count",
  success_request: "count",
  failure_request: "count",
  queuing_time: "avg_time_ms",
  input_token: "count",
  output_token: "count",
  total_token: "count",
  concurrent_requests: "peak",
  ttft: "avg",
  latency: "avg",
  throughput: "avg",
  cache: "hit_rate",
  cost: "sum",
};
export const SAMPLE_PRIMARY_FIELD = "avg";

/** Builds the object of an inference metric from its aggregates (Bud stack field names). */
export function inferenceMetricObject(metric: InferenceMetric, a: AggValues): MetricObject {
  const requests = num(a.requests);
  const success = num(a.success);
  switch (metric) {
    case "request_count":
      return { count: requests };
    case "success_request":
      return { count: success, rate: ratio(success, requests, 100) };
    case "failure_request":
      return { count: requests - success, rate: ratio(requests - success, requests, 100) };
    case "queuing_time":
      return { avg_time_ms: ratio(num(a.queuing_sum), requests) };
    case "input_token":
      return { count: num(a.input_tokens) };
    case "output_token":
      return { count: num(a.output_tokens) };
    case "total_token":
      return { count: num(a.input_tokens) + num(a.output_tokens) };
    case "concurrent_requests": {
      const peak = num(a.peak);
      return { avg: peak, peak };
    }
    case "ttft":
    case "latency": {
      const count = num(a[`${metric}_count`]);
      const [p50, p90, p95, p99] = quantiles(a[`${metric}_q`], count);
      return { avg: ratio(num(a[`${metric}_sum`]), count), p50, p90, p95, p99 };
    }
    case "throughput":
      return { avg: ratio(num(a.throughput_sum), num(a.throughput_count)) };
    case "cache":
      return { hit_rate: ratio(num(a.cached), requests, 100), hit_count: num(a.cached) };
    case "cost":
      return { sum: num(a.cost) };
  }
}

/** Seed-shape `value`: the requested aggregation where the metric has it, else its primary value. */
export function inferenceSeedValue(
  metric: InferenceMetric,
  obj: MetricObject,
  a: AggValues,
  agg: SeedAggregation | undefined,
): number | null {
  const primary = (obj[PRIMARY_FIELD[metric]] as number | null) ?? null;
  if (!agg) return primary;
  if (metric === "latency" || metric === "ttft") {
    const count = num(a[`${metric}_count`]);
    switch (agg.type) {
      case "count":
        return count;
      case "sum":
        return num(a[`${metric}_sum`]);
      case "avg":
        return obj.avg as number | null;
      case "min":
        return count === 0 ? null : maybe(a[`${metric}_min`]);
      case "max":
        return count === 0 ? null : maybe(a[`${metric}_max`]);
      case "percentile":
        return count === 0 ? null : maybe(a[`${metric}_qp`]);
    }
  }
  if (metric === "queuing_time") {
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
        return primary;
    }
  }
  return primary;
}

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
