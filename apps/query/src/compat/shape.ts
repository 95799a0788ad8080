/** Small pure helpers that give answers the original service's number forms. */
import { toNumber } from "@budmetrics/schema";

/** null, NaN and ±∞ → 0 (the original's `_safe_float`); engine integers arrive as numbers or text. */
export function safeFloat(v: unknown): number {
  if (v === null || v === undefined) return 0;
  const n = toNumber(v);
  return Number.isFinite(n) ? n : 0;
}

/** A number, or null when absent or not finite. */
export function numberOrNull(v: unknown): number | null {
  if (v === null || v === undefined) return null;
  const n = toNumber(v);
  return Number.isFinite(n) ? n : null;
}

export function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

/** Integer fields of the callers' models refuse fractions: stored Float64 milliseconds are rounded. */
export function intOrNull(v: unknown): number | null {
  const n = numberOrNull(v);
  return n === null ? null : Math.round(n);
}

const RATE = new Set(["success_rate", "cache_hit_rate", "error_rate"]);
const TIME = new Set(["avg_latency", "p95_latency", "p99_latency", "ttft_avg", "ttft_p95", "ttft_p99"]);
const TOKENS = new Set(["total_tokens", "total_input_tokens", "total_output_tokens", "avg_tokens"]);
const COST = new Set(["total_cost", "avg_cost"]);
const UNIT_COST = new Set(["p95_inference_cost", "max_inference_cost", "min_inference_cost"]);

function compact(v: number, unit: string): { formatted_value: string; unit: string } {
  if (v >= 1_000_000) return { formatted_value: `${(v / 1_000_000).toFixed(1)}M`, unit };
  if (v >= 1_000) return { formatted_value: `${(v / 1_000).toFixed(1)}K`, unit };
  return { formatted_value: v.toFixed(0), unit };
}

/** `formatted_value` and `unit` of an aggregated metric, in the original's forms (`95.5%`, `1.23s`, `1.2K`, `$0.1234`). */
export function formatMetric(metric: string, value: number): { formatted_value: string; unit: string } {
  if (RATE.has(metric)) return { formatted_value: `${value.toFixed(1)}%`, unit: "%" };
  if (TIME.has(metric)) {
    return value >= 1000
      ? { formatted_value: `${(value / 1000).toFixed(2)}s`, unit: "ms" }
      : { formatted_value: `${value.toFixed(0)}ms`, unit: "ms" };
  }
  if (TOKENS.has(metric)) return compact(value, "tokens");
  if (COST.has(metric)) return { formatted_value: `$${value.toFixed(4)}`, unit: "$" };
  if (UNIT_COST.has(metric)) return { formatted_value: `$${value.toFixed(6)}`, unit: "$" };
  if (metric === "total_requests") return compact(value, "requests");
  if (metric === "unique_users") return compact(value, "users");
  if (metric === "throughput_avg") return { formatted_value: value.toFixed(1), unit: "tokens/sec" };
  return { formatted_value: value.toFixed(2), unit: "" };
}
