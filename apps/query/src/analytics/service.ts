/**
 * The analytics use case: plan, run the states queries, assemble the answer (BRIEF §6).
 * Pure of HTTP and of any client library: it receives a SqlRunner.
 */
import {
  INFERENCE_AGGS_OF,
  PRIMARY_FIELD,
  SAMPLE_PRIMARY_FIELD,
  inferenceMetricObject,
  inferenceSeedValue,
  sampleMetricObject,
  type AggValues,
  type InferenceAgg,
  type MetricObject,
  type SampleAgg,
} from "./catalog";
import { describePlan, planSegments, type Segment } from "./planner";
import {
  buildConcurrencyQuery,
  buildInferenceStatesQuery,
  rollupLevel,
  buildSampleStatesQuery,
  INFERENCE_DIMS,
  rollupServes,
  type Dim,
  type Filters,
} from "./queries";
import type { AnalyticsQuery } from "./request";
import { computeBuckets, formatInZone, type Buckets } from "./time";
import { queryErrors } from "../errors";
import type { SqlRunner } from "../ports";

export interface AnalyticsLimits {
  maxBuckets: number;
  maxResultRows: number;
  concurrencyLookbackMs: number;
  /** Diagnostics and the benchmark only: answer everything from raw rows (the planner's baseline). */
  forceRaw?: boolean;
}

export interface GroupItem {
  [id: string]: unknown;
  data: Record<string, MetricObject>;
}

export interface AnalyticsResponse {
  object: "observability_metrics";
  items: Array<{ time_period: string; items: GroupItem[] }>;
}

export interface AnalyticsOutcome {
  response: AnalyticsResponse;
  plan: string;
  buckets: number;
  groups: number;
}

interface Row {
  b: number;
  [k: string]: unknown;
}

/** One window's merged values: bucket edge → group key → aggregate values (per metric kind). */
interface WindowData {
  buckets: Buckets;
  /** groupKey → ids object */
  groups: Map<string, Record<string, unknown>>;
  /** bucket edge → groupKey → values: "i" inference aggs, "c" peak, "s:<metric>" sample aggs */
  cells: Map<number, Map<string, Record<string, AggValues>>>;
  plan: string;
}

const SAMPLE_AGGS: SampleAgg[] = ["count", "sum", "min", "max", "q"];

function groupIdsOf(row: Row, dims: readonly Dim[], sample: boolean): Record<string, unknown> {
  const ids: Record<string, unknown> = {};
  for (const d of dims) {
    if (sample) {
      ids[d] = row[`g_${d}_id`];
      continue;
    }
    const c = INFERENCE_DIMS[d];
    ids[c.id] = row[`g_${d}_id`];
    if (c.name) ids[c.name] = row[`g_${d}_name`];
  }
  return ids;
}

function keyOf(row: Row, dims: readonly Dim[], sample: boolean): string {
  return (sample ? "s" : "i") + JSON.stringify(dims.map((d) => row[`g_${d}_id`]));
}

function toAgg(v: unknown): number | number[] | null {
  if (v === null || v === undefined) return null;
  if (Array.isArray(v)) return v.map((x) => Number(x));
  return Number(v);
}

/**
 * v − p for delta and comparison. Cost sums are Decimal(38, 9) in storage but doubles here: their
 * difference is rounded back to 9 decimals so 1.3 − 1.2 answers 0.1, not 0.09999999999999987.
 */
function difference(metric: string, v: number, p: number): number {
  return metric === "cost" ? Math.round((v - p) * 1e9) / 1e9 : v - p;
}

export function createAnalyticsService(sql: SqlRunner, limits: AnalyticsLimits) {
  function bucketsFor(q: AnalyticsQuery, fromMs: number, toMs: number): Buckets {
    if (q.wholeRange) return { labels: [fromMs], edges: [fromMs, toMs] };
    const b = computeBuckets(fromMs, toMs, q.unit, q.interval, q.timezone, q.calendar, limits.maxBuckets);
    if (!b) {
      throw queryErrors.create(
        "QUERY_TOO_MANY_BUCKETS",
        `The range and interval give more than ${limits.maxBuckets} time buckets: use a coarser interval or a shorter range`,
      );
    }
    return b;
  }

  function inferenceAggs(q: AnalyticsQuery, metrics: AnalyticsQuery["metrics"]): InferenceAgg[] {
    const set = new Set<InferenceAgg>();
    for (const m of metrics) {
      if (m.inference && m.inference !== "concurrent_requests")
        INFERENCE_AGGS_OF[m.inference].forEach((a) => set.add(a));
    }
    void q;
    return [...set];
  }

  /** Runs every query of one window (edges) and indexes the rows. */
  async function fetchWindow(
    q: AnalyticsQuery,
    buckets: Buckets,
    metrics: AnalyticsQuery["metrics"],
    label: string,
  ): Promise<WindowData> {
    const rawOnly =
      limits.forceRaw === true ||
      !rollupServes(q.groupBy, q.filters, q.promptOnly || q.withoutPrompts === true);
    const segments: Segment[] = planSegments(buckets.edges, rawOnly);
    const aggs = inferenceAggs(q, metrics);
    const wantsConcurrency = metrics.some((m) => m.inference === "concurrent_requests");
    const sampleNames = metrics.filter((m) => m.sample).map((m) => m.sample!);
    const extraLevel = q.aggregation?.type === "percentile" ? q.aggregation.percentile! / 100 : undefined;
    const sampleDims = q.groupBy.filter((d) => d !== "user_project" && d !== "api_key");
    const maxResultRows = limits.maxResultRows + 1;
    const db = sql.db;
    const base = {
      db,
      edges: buckets.edges,
      dims: q.groupBy,
      filters: q.filters,
      promptOnly: q.promptOnly,
      withoutPrompts: q.withoutPrompts === true,
    };
    const [iRows, cRows, sRows] = await Promise.all([
      aggs.length > 0
        ? sql.run<Row>(
            `${label}.states`,
            buildInferenceStatesQuery({ ...base, segments, aggs, extraLevel: validLevel(extraLevel) }),
            {
              maxResultRows,
            },
          )
        : Promise.resolve([] as Row[]),
      wantsConcurrency
        ? sql.run<Row>(
            `${label}.concurrency`,
            buildConcurrencyQuery({ ...base, lookbackMs: limits.concurrencyLookbackMs }),
            {
              maxResultRows,
            },
          )
        : Promise.resolve([] as Row[]),
      sampleNames.length > 0
        ? sql.run<Row>(
            `${label}.samples`,
            buildSampleStatesQuery({
              db,
              edges: buckets.edges,
              segments: planSegments(buckets.edges, q.promptOnly || limits.forceRaw === true),
              dims: sampleDims,
              filters: q.filters,
              metricTypes: sampleNames,
              aggs: SAMPLE_AGGS,
              extraLevel: validLevel(extraLevel),
            }),
            { maxResultRows },
          )
        : Promise.resolve([] as Row[]),
    ]);
    const w: WindowData = { buckets, groups: new Map(), cells: new Map(), plan: "" };
    const cell = (b: number, key: string) => {
      let byGroup = w.cells.get(b);
      if (!byGroup) w.cells.set(b, (byGroup = new Map()));
      let c = byGroup.get(key);
      if (!c) byGroup.set(key, (c = {}));
      return c;
    };
    for (const row of iRows) {
      const b = Number(row.b);
      const key = keyOf(row, q.groupBy, false);
      if (!w.groups.has(key)) w.groups.set(key, groupIdsOf(row, q.groupBy, false));
      const v: AggValues = {};
      for (const a of aggs) v[a] = toAgg(row[`a_${a}`]);
      if (row.a_latency_qp !== undefined) v.latency_qp = toAgg(row.a_latency_qp);
      if (row.a_ttft_qp !== undefined) v.ttft_qp = toAgg(row.a_ttft_qp);
      cell(b, key).i = v;
    }
    for (const row of cRows) {
      // Probe-only rows (no arrival, nothing in flight) are not data: gaps stay gaps.
      if (Number(row.a_peak) === 0 && Number(row.a_arrivals) === 0) continue;
      const b = Number(row.b);
      const key = keyOf(row, q.groupBy, false);
      if (!w.groups.has(key)) w.groups.set(key, groupIdsOf(row, q.groupBy, false));
      cell(b, key).c = { peak: toAgg(row.a_peak) };
    }
    for (const row of sRows) {
      const b = Number(row.b);
      const key = keyOf(row, sampleDims, sampleDims.length > 0);
      if (!w.groups.has(key)) w.groups.set(key, groupIdsOf(row, sampleDims, true));
      const v: AggValues = {};
      for (const a of SAMPLE_AGGS) v[a] = toAgg(row[`a_${a}`]);
      if (row.a_qp !== undefined) v.qp = toAgg(row.a_qp);
      cell(b, key)[`s:${String(row.g_metric)}`] = v;
    }
    const plans = [
      ...(aggs.length > 0 ? [describePlan(segments, rollupLevel(base))] : []),
      ...(wantsConcurrency ? ["raw(concurrency)"] : []),
      ...(sampleNames.length > 0
        ? [`samples:${describePlan(planSegments(buckets.edges, q.promptOnly))}`]
        : []),
    ];
    w.plan = plans.join(",");
    return w;
  }

  function metricObjects(
    q: AnalyticsQuery,
    c: Record<string, AggValues> | undefined,
  ): Record<string, MetricObject> {
    const data: Record<string, MetricObject> = {};
    for (const m of q.metrics) {
      if (m.inference) {
        const a = m.inference === "concurrent_requests" ? (c?.c ?? {}) : (c?.i ?? {});
        const obj = inferenceMetricObject(m.inference, a);
        if (q.shape === "seed") {
          obj.value = m.field
            ? ((obj[m.field] as number | null) ?? null)
            : inferenceSeedValue(m.inference, obj, a, q.aggregation);
        }
        data[m.key] = obj;
      } else {
        data[m.key] = sampleMetricObject(c?.[`s:${m.sample!}`] ?? {}, q.aggregation, q.shape === "seed");
      }
    }
    return data;
  }

  function primaryOf(q: AnalyticsQuery, key: string, obj: MetricObject): number | null {
    const m = q.metrics.find((x) => x.key === key)!;
    if (q.shape === "seed") return (obj.value as number | null) ?? null;
    const field = m.field ?? (m.inference ? PRIMARY_FIELD[m.inference] : SAMPLE_PRIMARY_FIELD);
    return (obj[field] as number | null) ?? null;
  }

  /**
   * Groups kept by topk / limit: ranked over the whole range by the first metric. Also returns a
   * filter per grouped dimension holding the kept groups' ids, to fetch only their series.
   */
  async function rankGroups(q: AnalyticsQuery, k: number): Promise<{ kept: Set<string>; filters: Filters }> {
    const whole: Buckets = { labels: [q.fromMs], edges: [q.fromMs, q.toMs] };
    const first = q.metrics[0]!;
    const w = await fetchWindow(q, whole, [first], "rank");
    const ranked = [...w.groups.keys()].map((key) => {
      const obj = metricObjects({ ...q, metrics: [first] }, w.cells.get(q.fromMs)?.get(key));
      return { key, v: primaryOf({ ...q, metrics: [first] }, first.key, obj[first.key]!) };
    });
    ranked.sort(
      (a, b) => (b.v ?? -Infinity) - (a.v ?? -Infinity) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0),
    );
    const kept = new Set(ranked.slice(0, k).map((r) => r.key));
    const filters: Filters = {};
    for (const d of q.groupBy) {
      const col = INFERENCE_DIMS[d].id;
      const ids = new Set([...kept].map((key) => String(w.groups.get(key)![col])));
      filters[d] = { ids: [...ids], names: [] };
    }
    return { kept, filters };
  }

  async function run(q: AnalyticsQuery): Promise<AnalyticsOutcome> {
    const buckets = bucketsFor(q, q.fromMs, q.toMs);
    const lenMs = q.toMs - q.fromMs;
    const grouped = q.groupBy.length > 0;
    const keep = grouped ? (q.topk ?? q.limit) : null;
    // Inference metrics only (their groups carry ids; sample groups are names): rank first, then read
    // the series of the kept groups alone — a top-10 of 500 endpoints assembles 10 series, not 500.
    const narrow = keep !== null && q.metrics.every((m) => m.inference !== undefined);
    const ranking = narrow ? await rankGroups(q, keep) : null;
    const series: AnalyticsQuery = ranking ? { ...q, filters: { ...q.filters, ...ranking.filters } } : q;
    const [main, rankedLater, ...earlier] = await Promise.all([
      fetchWindow(series, buckets, q.metrics, "main"),
      keep !== null && !ranking ? rankGroups(q, keep) : Promise.resolve(ranking),
      ...Array.from({ length: q.comparisonPeriods }, (_, i) =>
        fetchWindow(
          series,
          bucketsFor(q, q.fromMs - (i + 1) * lenMs, q.toMs - (i + 1) * lenMs),
          q.metrics,
          `prev${i + 1}`,
        ),
      ),
    ]);
    const kept = rankedLater?.kept ?? null;
    let groupKeys = [...main.groups.keys()].sort();
    if (kept) groupKeys = groupKeys.filter((k) => kept.has(k));
    if (groupKeys.length === 0 && !grouped) groupKeys = ["i[]"];
    const nBuckets = buckets.labels.length;
    if (nBuckets * Math.max(1, groupKeys.length) > limits.maxResultRows && q.fillGaps) {
      throw queryErrors.create(
        "QUERY_RESULT_TOO_LARGE",
        `The answer would hold ${nBuckets * groupKeys.length} rows (limit ${limits.maxResultRows}): narrow your request`,
      );
    }
    // Objects on the full grid (oldest first), so delta always compares with the previous bucket.
    const periods: Array<{ time_period: string; items: GroupItem[] }> = [];
    const prevPrimary = new Map<string, Record<string, number | null>>();
    for (let i = 0; i < nBuckets; i++) {
      const edge = buckets.edges[i]!;
      const items: GroupItem[] = [];
      for (const key of groupKeys) {
        const c = main.cells.get(edge)?.get(key);
        const data = metricObjects(q, c);
        const prev = prevPrimary.get(key);
        const cur: Record<string, number | null> = {};
        for (const m of q.metrics) {
          const obj = data[m.key]!;
          const v = primaryOf(q, m.key, obj);
          cur[m.key] = v;
          if (q.returnDelta) {
            const p = i === 0 || !prev ? null : (prev[m.key] ?? null);
            const delta = v === null || p === null ? null : difference(m.key, v, p);
            obj.delta = delta;
            obj.delta_percent = delta === null || p === null || p === 0 ? null : (delta / p) * 100;
          }
          if (q.comparisonPeriods > 0) {
            obj.comparison = earlier.map((w, j) => {
              const wEdge = w.buckets.edges[i];
              const wLabel = w.buckets.labels[i];
              if (wEdge === undefined || wLabel === undefined) {
                return { period: j + 1, time_period: null, value: null, change: null, change_percent: null };
              }
              const before = primaryOf(q, m.key, metricObjects(q, w.cells.get(wEdge)?.get(key))[m.key]!);
              const change = v === null || before === null ? null : difference(m.key, v, before);
              return {
                period: j + 1,
                time_period: formatInZone(wLabel, q.timezone),
                value: before,
                change,
                change_percent:
                  change === null || before === null || before === 0 ? null : (change / before) * 100,
              };
            });
          }
        }
        prevPrimary.set(key, cur);
        if (!q.fillGaps && !c) continue;
        const ids = main.groups.get(key) ?? {};
        items.push({ ...ids, data });
      }
      if (!q.fillGaps && items.length === 0) continue;
      periods.push({ time_period: formatInZone(buckets.labels[i]!, q.timezone), items });
    }
    periods.reverse();
    const limited = !grouped && q.limit !== null ? periods.slice(0, q.limit) : periods;
    return {
      response: { object: "observability_metrics", items: limited },
      plan: main.plan,
      buckets: nBuckets,
      groups: groupKeys.length,
    };
  }

  return { run, fetchWindow };
}

function validLevel(p: number | undefined): number | undefined {
  if (p === undefined) return undefined;
  if (p <= 0) return 1e-9;
  if (p >= 1) return 1 - 1e-9;
  return p;
}

export type AnalyticsService = ReturnType<typeof createAnalyticsService>;
