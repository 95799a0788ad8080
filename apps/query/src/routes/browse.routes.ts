import { parseFilters, resolveRange, isUuid, type AnalyticsQuery } from "../analytics/request";
import { createAnalyticsService, type AnalyticsLimits } from "../analytics/service";
import { isValidZone, parseDate, type Unit } from "../analytics/time";
import type { Filters } from "../analytics/queries";
import { INFERENCE_METRICS, METRIC_UNITS } from "../analytics/catalog";
import {
  credentialUsage,
  decodeCursor,
  getInference,
  listInferences,
  metricsSummary,
  sampleTypes,
  usageByProject,
  usageSummary,
} from "../browse/service";
import type { SortField } from "../browse/queries";
import { queryErrors, validation } from "../errors";
import type { Endpoint } from "../http/endpoint";
import {
  credentialUsageBody,
  emptyQuery,
  inferenceIdParams,
  inferenceListBody,
  usageByProjectQuery,
  usageHistoryQuery,
  usageSummaryQuery,
} from "../http/schemas";

export interface BrowseRouteOptions {
  limits: AnalyticsLimits;
  maxRangeDays: number;
  previewChars: number;
}

function zoneOf(tz: unknown): string {
  const zone = typeof tz === "string" ? tz : "UTC";
  if (!isValidZone(zone)) throw validation(`timezone must be an IANA time zone name, got "${zone}"`);
  return zone;
}

function idFilters(q: Record<string, unknown>): Filters {
  const raw: Record<string, string> = {};
  if (typeof q.project_id === "string") raw.project = q.project_id;
  if (typeof q.model_id === "string") raw.model = q.model_id;
  if (typeof q.endpoint_id === "string") raw.endpoint = q.endpoint_id;
  return parseFilters(raw);
}

export function browseEndpoints(opts: BrowseRouteOptions): Endpoint[] {
  const limits = { maxRangeDays: opts.maxRangeDays };
  return [
    {
      method: "post",
      path: "/observability/inferences/list",
      tag: "inferences",
      summary: "Inferences with filters, sorting, offset or cursor pagination and text previews",
      body: inferenceListBody,
      prepare(input, nowMs) {
        const b = input.body as {
          from_date?: string;
          to_date?: string | null;
          timezone?: string;
          project_id?: string;
          endpoint_id?: string;
          model_id?: string;
          filters?: Record<string, string | string[]> | null;
          is_success?: boolean;
          min_tokens?: number;
          max_tokens?: number;
          max_latency_ms?: number;
          endpoint_type?: string;
          sort_by?: SortField;
          sort_order?: "asc" | "desc";
          offset?: number;
          limit?: number;
          cursor?: string;
        };
        const zone = zoneOf(b.timezone);
        let fromMs: number | null = null;
        let toMs: number | null = null;
        if (b.from_date !== undefined) {
          const r = resolveRange(b.from_date, b.to_date, zone, nowMs, limits);
          fromMs = r.fromMs;
          toMs = r.toMs;
        } else if (b.to_date) {
          toMs = parseDate(b.to_date, zone);
          if (toMs === null) throw validation("to_date must be an ISO-8601 date or date-time");
        }
        const filters = { ...parseFilters(b.filters), ...idFilters(b as Record<string, unknown>) };
        if (b.min_tokens !== undefined && b.max_tokens !== undefined && b.min_tokens > b.max_tokens) {
          throw validation("min_tokens must not exceed max_tokens");
        }
        const spec = {
          fromMs,
          toMs,
          filters,
          ...(b.is_success !== undefined ? { isSuccess: b.is_success } : {}),
          ...(b.min_tokens !== undefined ? { minTokens: b.min_tokens } : {}),
          ...(b.max_tokens !== undefined ? { maxTokens: b.max_tokens } : {}),
          ...(b.max_latency_ms !== undefined ? { maxLatencyMs: b.max_latency_ms } : {}),
          ...(b.endpoint_type !== undefined ? { endpointType: b.endpoint_type } : {}),
          sortBy: b.sort_by ?? "timestamp",
          order: b.sort_order ?? "desc",
          offset: b.offset ?? 0,
          limit: b.limit ?? 50,
          ...(b.cursor ? { cursor: decodeCursor(b.cursor) } : {}),
          previewChars: opts.previewChars,
        };
        if (spec.cursor && spec.offset > 0) throw validation("use either cursor or offset, not both");
        return {
          async run(rc) {
            return { body: await listInferences(rc.sql, spec), plan: "raw" };
          },
        };
      },
    },
    {
      method: "get",
      path: "/observability/inferences/:id",
      tag: "inferences",
      summary: "One inference with every stored field",
      params: inferenceIdParams,
      responses: { "404": "no inference has this id" },
      prepare(input) {
        const id = input.params.id!;
        if (!isUuid(id))
          throw queryErrors.create("INFERENCE_NOT_FOUND", `inference ${id} not found (ids are UUIDs)`);
        return {
          async run(rc) {
            return { body: await getInference(rc.sql, id), plan: "raw" };
          },
        };
      },
    },
    {
      method: "get",
      path: "/observability/usage/summary",
      tag: "usage",
      summary: "Requests, tokens, cost, success rate, latency and unique users over a range",
      query: usageSummaryQuery,
      prepare(input, nowMs) {
        const q = input.query;
        const range = resolveRange(
          String(q.from_date),
          (q.to_date as string | undefined) ?? null,
          zoneOf(q.timezone),
          nowMs,
          limits,
        );
        const spec = { fromMs: range.fromMs, toMs: range.toMs, filters: idFilters(q) };
        return {
          cache: { normalised: spec, toMs: spec.toMs },
          async run(rc) {
            return { body: await usageSummary(rc.sql, spec) };
          },
        };
      },
    },
    {
      method: "get",
      path: "/observability/usage/history",
      tag: "usage",
      summary: "Usage per hour / day / week / month (calendar buckets in `timezone`), oldest first",
      query: usageHistoryQuery,
      prepare(input, nowMs) {
        const q = input.query;
        const zone = zoneOf(q.timezone);
        const range = resolveRange(
          String(q.from_date),
          (q.to_date as string | undefined) ?? null,
          zone,
          nowMs,
          limits,
        );
        const query: AnalyticsQuery = {
          shape: "bud",
          metrics: ["request_count", "success_request", "input_token", "output_token", "cost"].map((key) => ({
            key,
            inference: key as (typeof INFERENCE_METRICS)[number],
          })),
          ...range,
          unit: ((q.interval as string | undefined) ?? "day") as Unit,
          interval: 1,
          calendar: true,
          timezone: zone,
          filters: idFilters(q),
          groupBy: [],
          returnDelta: false,
          fillGaps: true,
          topk: null,
          promptOnly: false,
          comparisonPeriods: 0,
          limit: null,
        };
        return {
          cache: { normalised: { usage: true, query }, toMs: query.toMs },
          async run(rc) {
            const out = await createAnalyticsService(rc.sql, opts.limits).run(query);
            const items = [...out.response.items].reverse().map((p) => {
              const d = (p.items[0]?.data ?? {}) as Record<string, Record<string, number | null>>;
              const input = d.input_token?.count ?? 0;
              const output = d.output_token?.count ?? 0;
              return {
                time_period: p.time_period,
                requests: d.request_count?.count ?? 0,
                success_rate: d.success_request?.rate ?? null,
                input_tokens: input,
                output_tokens: output,
                total_tokens: (input ?? 0) + (output ?? 0),
                cost: d.cost?.sum ?? 0,
              };
            });
            return {
              body: { object: "usage_history", interval: query.unit, timezone: zone, items },
              plan: out.plan,
            };
          },
        };
      },
    },
    {
      method: "get",
      path: "/observability/usage/by-project",
      tag: "usage",
      summary: "Usage per project over a range, most requests first",
      query: usageByProjectQuery,
      prepare(input, nowMs) {
        const q = input.query;
        const range = resolveRange(
          String(q.from_date),
          (q.to_date as string | undefined) ?? null,
          zoneOf(q.timezone),
          nowMs,
          limits,
        );
        const spec = {
          fromMs: range.fromMs,
          toMs: range.toMs,
          limit: (q.limit as number | undefined) ?? 100,
        };
        return {
          cache: { normalised: spec, toMs: spec.toMs },
          async run(rc) {
            return { body: await usageByProject(rc.sql, spec) };
          },
        };
      },
    },
    {
      method: "post",
      path: "/observability/credential-usage",
      tag: "usage",
      summary: "Last use and request count of API credentials since a time",
      body: credentialUsageBody,
      prepare(input) {
        const b = input.body as { since: string; credential_ids?: string[] };
        const sinceMs = parseDate(b.since, "UTC");
        if (sinceMs === null) throw validation("since must be an ISO-8601 date or date-time");
        const ids = [...new Set((b.credential_ids ?? []).map((s) => s.toLowerCase()))];
        return {
          async run(rc) {
            return { body: await credentialUsage(rc.sql, sinceMs, ids), plan: "raw" };
          },
        };
      },
    },
    {
      method: "get",
      path: "/observability/metrics/summary",
      tag: "metrics",
      summary: "Counts and time span of stored inferences and metric samples",
      query: emptyQuery,
      prepare() {
        return {
          async run(rc) {
            return { body: await metricsSummary(rc.sql) };
          },
        };
      },
    },
    {
      method: "get",
      path: "/observability/metrics/types",
      tag: "metrics",
      summary: "The metric catalog and every stored metric-sample name",
      query: emptyQuery,
      prepare() {
        return {
          async run(rc) {
            const samples = await sampleTypes(rc.sql);
            return {
              body: {
                object: "metric_types",
                items: [
                  ...INFERENCE_METRICS.map((name) => ({ name, kind: "inference", unit: METRIC_UNITS[name] })),
                  ...samples.map((s) => ({ name: s.name, kind: "sample", unit: null, samples: s.samples })),
                ],
              },
            };
          },
        };
      },
    },
  ];
}
