/**
 * POST /observability/analytics as the Bud stack calls it (budapp proxies budadmin's charts). The
 * numbers come from the analytics pipeline; this module adds the original's request rules and answer
 * forms around it:
 *   parse   frequency_unit defaults to `day`; to_date == from_date is one instant; to_date more than a
 *           day ahead → 422; an empty filter value → 422; a metric name outside the catalogue that names
 *           no stored metric sample → 422;
 *           data_source `inference` (the default) leaves out prompt traffic;
 *   shape   every item carries model_id, project_id, endpoint_id, api_key_id (null where not grouped or
 *           absent); without group_by a filter on exactly one project / model / endpoint names it in
 *           each item; an empty bucket's averages and rates are 0; deltas against the previous bucket
 *           of the group with the original's rules (first bucket 0, from zero ±100 %, rounded to 0.01).
 * The seed README's shape (`time_range`, `interval`, …) goes to the native endpoint unchanged.
 */
import { coverageNotes, type Retention } from "../analytics/coverage";
import { INFERENCE_METRICS, METRIC_ALIASES, metricEntry, type InferenceMetric } from "../analytics/catalog";
import { parseAnalyticsRequest, type AnalyticsQuery } from "../analytics/parse";
import {
  createAnalyticsService,
  type AnalyticsLimits,
  type AnalyticsResponse,
  type GroupItem,
} from "../analytics/service";
import { computeBuckets, isValidZone, parseDate } from "../analytics/time";
import { sampleTypes } from "../browse/service";
import { queryErrors, validation } from "../errors";
import type { Endpoint } from "../http/endpoint";
import { analyticsBody, type AnalyticsBody } from "../http/schemas";
import type { SqlRunner } from "../ports";
import { postEndpoint } from "./endpoint";
import { isUuid } from "./service";
import { round2 } from "./shape";

/** The original's metric names (its `MetricType`); deltas of these are rounded as it rounded them. */
export const BUD_METRICS = [
  "request_count",
  "success_request",
  "failure_request",
  "queuing_time",
  "input_token",
  "output_token",
  "concurrent_requests",
  "ttft",
  "latency",
  "throughput",
  "cache",
] as const;
const BUD_METRIC_SET = new Set<string>(BUD_METRICS);

/** The ids every item carries (the original's `MetricsData`), null where unknown. */
const ITEM_IDS = ["model_id", "project_id", "endpoint_id", "api_key_id"] as const;
const ZERO_UUID = "00000000-0000-0000-0000-000000000000";

/** Filter keys whose single id the original copies into ungrouped items. */
const SINGLE_ID_FILTERS: ReadonlyArray<[string, (typeof ITEM_IDS)[number]]> = [
  ["project", "project_id"],
  ["project_id", "project_id"],
  ["model", "model_id"],
  ["model_id", "model_id"],
  ["endpoint", "endpoint_id"],
  ["endpoint_id", "endpoint_id"],
];

/** Fields that are 0 rather than null in an empty bucket (the original's `value or 0`). */
const ZERO_WHEN_EMPTY = new Set([
  "count",
  "rate",
  "avg_time_ms",
  "avg",
  "peak",
  "hit_rate",
  "hit_count",
  "sum",
]);

/** The native schema with unknown keys ignored, as pydantic ignores them. */
const budAnalyticsBody = { ...analyticsBody, additionalProperties: true } as const;

export interface BudAnalyticsOptions {
  limits: AnalyticsLimits;
  maxRangeDays: number;
  /** The native endpoint on the same path: it answers the seed README's shape. */
  native: Endpoint;
  /** Retention of the raw table and the rollups, for the notes of ranges older than the raw horizon. */
  retention?: () => Promise<Retention | null>;
}

interface BudRequest {
  query: AnalyticsQuery;
  dataSource: "inference" | "prompt";
  /** ids named by a filter on exactly one project / model / endpoint (ungrouped requests only). */
  singleIds: Partial<Record<(typeof ITEM_IDS)[number], string>>;
}

function isSeedShape(b: AnalyticsBody): boolean {
  return b.time_range !== undefined || b.interval !== undefined;
}

/** The original's rules on from/to, then the pipeline's own parse of the rest. */
export function parseBudAnalytics(b: AnalyticsBody, nowMs: number, maxRangeDays: number): BudRequest {
  const zone = b.timezone ?? "UTC";
  if (!isValidZone(zone)) throw validation(`timezone must be an IANA time zone name, got "${zone}"`);
  if (b.from_date === undefined) throw validation("from_date is required", { field: "from_date" });
  const fromMs = parseDate(b.from_date, zone);
  if (fromMs === null) {
    throw validation("from_date must be an ISO-8601 date or date-time", { field: "from_date" });
  }
  // An empty filter would silently widen the question to everyone's traffic: refused, as the original does.
  for (const [key, v] of Object.entries(b.filters ?? {})) {
    if (v === "" || (Array.isArray(v) && v.length === 0)) {
      throw validation(`${key} filter must not be empty`, { field: "filters" });
    }
  }
  const toIsNow = b.to_date === null || b.to_date === undefined;
  let toMs = nowMs;
  if (!toIsNow) {
    const parsed = parseDate(b.to_date!, zone);
    if (parsed === null)
      throw validation("to_date must be an ISO-8601 date or date-time", { field: "to_date" });
    if (parsed < fromMs) throw queryErrors.create("QUERY_RANGE_INVALID", "to_date must be after from_date");
    if (parsed > nowMs + 86_400_000) {
      throw validation("to_date cannot be more than 1 day in the future", { field: "to_date" });
    }
    toMs = parsed;
  }
  // Equal dates (or a from_date after now with no to_date) ask for one instant: [from, from + 1 ms).
  const endMs = Math.max(toMs, fromMs + 1);
  const query = parseAnalyticsRequest(
    {
      ...b,
      from_date: new Date(fromMs).toISOString(),
      to_date: toIsNow && endMs === nowMs ? null : new Date(endMs).toISOString(),
      frequency_unit: b.frequency_unit ?? "day",
      timezone: zone,
    },
    nowMs,
    { maxRangeDays },
  );
  const singleIds: BudRequest["singleIds"] = {};
  if (query.groupBy.length === 0) {
    // Looked up by the callers' keys (project_id, model_id, … are not the native filter names).
    const filters: Readonly<Record<string, unknown>> = b.filters ?? {};
    for (const [key, idKey] of SINGLE_ID_FILTERS) {
      const v = filters[key];
      const list = Array.isArray(v) ? v : v === undefined || v === null ? [] : [v];
      if (list.length === 1 && typeof list[0] === "string" && isUuid(list[0]))
        singleIds[idKey] = list[0].toLowerCase();
    }
  }
  return { query, dataSource: b.data_source ?? "inference", singleIds };
}

/** A name outside the catalogue must be a stored metric sample: a typo is a 422 naming it, not zeros. */
async function checkMetricNames(sql: SqlRunner, b: AnalyticsBody, q: AnalyticsQuery): Promise<void> {
  const samples = q.metrics.filter((m) => m.sample !== undefined);
  if (samples.length === 0) return;
  const stored = new Set((await sampleTypes(sql)).map((s) => s.name));
  const unknown = samples.find((m) => !stored.has(m.sample!));
  if (unknown) {
    const index = b.metrics.indexOf(unknown.key);
    throw validation(
      `unknown metric "${unknown.key}": use one of ${[...INFERENCE_METRICS, ...Object.keys(METRIC_ALIASES)].join(", ")}, or the name of a stored metric sample`,
      { field: `metrics.${index}` },
    );
  }
}

function idOrNull(v: unknown): string | null {
  return typeof v === "string" && v !== "" && v !== ZERO_UUID ? v : null;
}

/**
 * delta and delta_percent as the original computed them (lag over the group's buckets, oldest first):
 * the first bucket compares with itself (0, 0), a change from 0 is ±100 %, both rounded to 0.01 for
 * its metrics. BudMetrics' own metrics keep full precision (cost to the nanodollar, as stored).
 */
function deltaOf(
  metric: string,
  v: number,
  prev: number | undefined,
): { delta: number; delta_percent: number } {
  const p = prev ?? v;
  const delta = metric === "cost" ? Math.round((v - p) * 1e9) / 1e9 : v - p;
  let pct: number;
  if (p !== 0) pct = (delta / p) * 100;
  else pct = delta === 0 ? 0 : delta > 0 ? 100 : -100;
  return BUD_METRIC_SET.has(metric)
    ? { delta: round2(delta), delta_percent: round2(pct) }
    : { delta, delta_percent: pct };
}

/** The pipeline's answer in the original's forms (see the header). */
export function toBudShape(res: AnalyticsResponse, req: BudRequest): AnalyticsResponse {
  const q = req.query;
  // Items are rewritten in place: the pipeline made them for this answer alone. Per metric, what
  // does not change from item to item is looked up once; a 13-month daily answer holds ~200,000
  // items (every group in every bucket), so per-item work is what this costs.
  const metrics = q.metrics
    .filter((m) => m.inference)
    .map((m) => ({
      key: m.key,
      field: m.field ?? metricEntry(m.inference as InferenceMetric).primary,
    }));
  const singleIds = Object.entries(req.singleIds);
  // The group is every id the pipeline gave the items (user_project and cluster groups too); every
  // item of one answer has the same fields, so they are listed once. Only deltas need it.
  let idKeys: string[] | null = null;
  const prev = new Map<string, Record<string, number>>();
  const periods = [...res.items].reverse();
  for (const period of periods) {
    for (const item of period.items as GroupItem[]) {
      for (const k of ITEM_IDS) item[k] = idOrNull(item[k]);
      if ("api_key_project_id" in item) item.api_key_project_id = idOrNull(item.api_key_project_id);
      for (const [k, v] of singleIds) item[k] = v;
      let groupKey = "";
      let before: Record<string, number> | undefined;
      if (q.returnDelta) {
        idKeys ??= Object.keys(item)
          .filter((k) => k.endsWith("_id"))
          .sort();
        for (const k of idKeys) groupKey += `${String(item[k])}\u0000`;
        before = prev.get(groupKey);
      }
      const now: Record<string, number> = {};
      for (const m of metrics) {
        const obj = item.data[m.key];
        if (!obj) continue;
        for (const f in obj) if (obj[f] === null && ZERO_WHEN_EMPTY.has(f)) obj[f] = 0;
        const v = typeof obj[m.field] === "number" ? (obj[m.field] as number) : 0;
        if (q.returnDelta) {
          now[m.key] = v;
          Object.assign(obj, deltaOf(m.key, v, before?.[m.key]));
        }
      }
      if (q.returnDelta) prev.set(groupKey, now);
    }
  }
  return { object: res.object, items: periods.reverse() };
}

export function budAnalyticsEndpoint(opts: BudAnalyticsOptions): Endpoint {
  return postEndpoint<AnalyticsBody>(budAnalyticsBody, {
    path: "/observability/analytics",
    tag: "bud-stack",
    summary: opts.native.summary,
    description:
      "The Bud stack's shape (metrics, from_date, to_date, frequency_unit = day, frequency_interval, filters, group_by, return_delta, fill_time_gaps, topk, data_source = inference) with the original's rules and answer forms; " +
      "the seed shape (time_range, interval, aggregation, comparison, limit) as BudMetrics defines it. Periods newest first.",
    prepare(b, nowMs, input) {
      if (isSeedShape(b)) return opts.native.prepare(input, nowMs);
      const req = parseBudAnalytics(b, nowMs, opts.maxRangeDays);
      const q = req.query;
      return {
        ...(q.toIsNow ? {} : { cache: { normalised: { bud: true, ...req }, toMs: q.toMs } }),
        async run(rc) {
          // An oversized question is refused before any statement runs (the pipeline checks after its looks at prompt traffic and at the tail).
          if (
            !computeBuckets(
              q.fromMs,
              q.toMs,
              q.unit,
              q.interval,
              q.timezone,
              q.calendar,
              opts.limits.maxBuckets,
            )
          ) {
            throw queryErrors.create(
              "QUERY_TOO_MANY_BUCKETS",
              `The range and interval give more than ${opts.limits.maxBuckets} time buckets: use a coarser interval or a shorter range`,
            );
          }
          await checkMetricNames(rc.sql, b, q);
          const [out, retention] = await Promise.all([
            // The rollups hold both kinds of traffic: leave them only when prompt traffic is in range.
            createAnalyticsService(rc.sql, opts.limits).run(q, rc.steps, {
              nowMs: rc.nowMs,
              leavePromptsOut: req.dataSource === "inference",
            }),
            opts.retention?.() ?? null,
          ]);
          // Present only when the range reaches past a table's retention (docs/QUERY.md, "Retention").
          const notes = retention ? coverageNotes(out.query, retention, rc.nowMs) : [];
          const t1 = performance.now();
          const body = toBudShape(out.response, req);
          rc.steps.shape = (rc.steps.shape ?? 0) + (performance.now() - t1);
          return { body: notes.length > 0 ? { ...body, notes } : body, plan: out.plan, parts: out.parts };
        },
      };
    },
  });
}
