/**
 * Step 4 of an analytics request (parse → plan → run → shape): from merged values to the answer —
 * metric objects (catalog), gap filling over the whole range, delta against the previous bucket,
 * previous-period comparison, top-k / limit, periods newest first (docs/QUERY.md, "Semantics").
 */
import {
  inferenceMetricObject,
  metricEntry,
  sampleMetricObject,
  SAMPLE_PRIMARY_FIELD,
  type AggValues,
  type MetricObject,
  type RequestedMetric,
} from "./catalog";
import type { AnalyticsQuery } from "./parse";
import type { RunResult, WindowData } from "./run";
import { formatInZone, type Buckets } from "./time";
import { queryErrors } from "../errors";

export interface GroupItem {
  [id: string]: unknown;
  data: Record<string, MetricObject>;
}

export interface AnalyticsResponse {
  object: "observability_metrics";
  items: Array<{ time_period: string; items: GroupItem[] }>;
}

type Cell = Record<string, AggValues> | undefined;

function metricObject(q: AnalyticsQuery, m: RequestedMetric, c: Cell): MetricObject {
  const seed = q.shape === "seed";
  if (m.inference) {
    const a = metricEntry(m.inference).source === "concurrency" ? (c?.c ?? {}) : (c?.i ?? {});
    return inferenceMetricObject({ ...m, inference: m.inference }, a, seed, q.aggregation);
  }
  return sampleMetricObject(c?.[`s:${m.sample!}`] ?? {}, q.aggregation, seed);
}

/** The value of a metric's object: `value` in the seed shape, else its field (primary or alias). */
function valueOf(q: AnalyticsQuery, m: RequestedMetric, obj: MetricObject): number | null {
  if (q.shape === "seed") return (obj.value as number | null) ?? null;
  const field = m.field ?? (m.inference ? metricEntry(m.inference).primary : SAMPLE_PRIMARY_FIELD);
  return (obj[field] as number | null) ?? null;
}

/**
 * v − p for delta and comparison. Cost sums are Decimal(38, 9) in storage but doubles here: their
 * difference is rounded back to 9 decimals so 1.3 − 1.2 answers 0.1, not 0.09999999999999987.
 */
function difference(m: RequestedMetric, v: number, p: number): number {
  return m.inference === "cost" ? Math.round((v - p) * 1e9) / 1e9 : v - p;
}

function percentChange(change: number | null, before: number | null): number | null {
  return change === null || before === null || before === 0 ? null : (change / before) * 100;
}

/** Group keys ranked over the whole range by the first metric's value (desc, nulls last, ties by key). */
export function rankGroups(q: AnalyticsQuery, w: WindowData, k: number): Set<string> {
  const first = q.metrics[0]!;
  const ranked = [...w.groups.keys()].map((key) => ({
    key,
    v: valueOf(q, first, metricObject(q, first, w.cells.get(q.fromMs)?.get(key))),
  }));
  ranked.sort(
    (a, b) => (b.v ?? -Infinity) - (a.v ?? -Infinity) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0),
  );
  return new Set(ranked.slice(0, k).map((r) => r.key));
}

function comparisonOf(q: AnalyticsQuery, m: RequestedMetric, v: number | null, i: number, key: string) {
  return (w: WindowData, j: number) => {
    const edge = w.plan.buckets.edges[i];
    const label = w.plan.buckets.labels[i];
    if (edge === undefined || label === undefined) {
      return { period: j + 1, time_period: null, value: null, change: null, change_percent: null };
    }
    const before = valueOf(q, m, metricObject(q, m, w.cells.get(edge)?.get(key)));
    const change = v === null || before === null ? null : difference(m, v, before);
    return {
      period: j + 1,
      time_period: formatInZone(label, q.timezone),
      value: before,
      change,
      change_percent: percentChange(change, before),
    };
  };
}

export function shapeAnswer(
  q: AnalyticsQuery,
  buckets: Buckets,
  r: RunResult,
  maxResultRows: number,
): { response: AnalyticsResponse; groups: number } {
  const grouped = q.groupBy.length > 0;
  let groupKeys = [...r.main.groups.keys()].sort();
  if (r.kept) groupKeys = groupKeys.filter((k) => r.kept!.has(k));
  if (groupKeys.length === 0 && !grouped) groupKeys = ["i[]"];
  const nBuckets = buckets.labels.length;
  if (nBuckets * Math.max(1, groupKeys.length) > maxResultRows && q.fillGaps) {
    throw queryErrors.create(
      "QUERY_RESULT_TOO_LARGE",
      `The answer would hold ${nBuckets * groupKeys.length} rows (limit ${maxResultRows}): narrow your request`,
    );
  }
  // Objects on the full grid (oldest first), so delta always compares with the previous bucket.
  const periods: Array<{ time_period: string; items: GroupItem[] }> = [];
  const prevValues = new Map<string, Array<number | null>>();
  for (let i = 0; i < nBuckets; i++) {
    const edge = buckets.edges[i]!;
    const items: GroupItem[] = [];
    for (const key of groupKeys) {
      const c = r.main.cells.get(edge)?.get(key);
      const prev = i === 0 ? undefined : prevValues.get(key);
      const values: Array<number | null> = [];
      const data: Record<string, MetricObject> = {};
      q.metrics.forEach((m, mi) => {
        const obj = metricObject(q, m, c);
        const v = valueOf(q, m, obj);
        values.push(v);
        if (q.returnDelta) {
          const p = prev?.[mi] ?? null;
          const delta = v === null || p === null ? null : difference(m, v, p);
          obj.delta = delta;
          obj.delta_percent = percentChange(delta, p);
        }
        if (q.comparisonPeriods > 0) obj.comparison = r.earlier.map(comparisonOf(q, m, v, i, key));
        data[m.key] = obj;
      });
      prevValues.set(key, values);
      if (!q.fillGaps && !c) continue;
      items.push({ ...(r.main.groups.get(key) ?? {}), data });
    }
    if (!q.fillGaps && items.length === 0) continue;
    periods.push({ time_period: formatInZone(buckets.labels[i]!, q.timezone), items });
  }
  periods.reverse();
  const limited = !grouped && q.limit !== null ? periods.slice(0, q.limit) : periods;
  return { response: { object: "observability_metrics", items: limited }, groups: groupKeys.length };
}
