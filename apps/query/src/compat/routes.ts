/**
 * The endpoints the Bud stack's services call (budapp's metric, billing, credential and prompt
 * services), in the shapes they send and parse: request fields, nulls and defaults as their request
 * models dump them, answers with exactly the top-level keys their response models allow.
 */
import { queryErrors, validation } from "../errors";
import type { Endpoint } from "../http/endpoint";
import { getEndpoint, postEndpoint } from "./endpoint";
import type { GeoLookup } from "./geo";
import {
  aggregatedBody,
  blockingStatsQuery,
  credentialUsageBody,
  distributionBody,
  geographyBody,
  geographyQuery,
  latencyDistributionBody,
  metricsSyncBody,
  telemetryBody,
  timeSeriesBody,
  traceIdParams,
  tracesQuery,
  usageBulkBody,
  usageHistoryQuery,
  usageSummaryQuery,
  type AggregatedBody,
  type BlockingStatsQuery,
  type CredentialUsageBody,
  type DistributionBody,
  type GeographyBody,
  type GeographyQuery,
  type LatencyDistributionBody,
  type MetricsSyncBody,
  type TelemetryBody,
  type TimeSeriesBody,
  type TracesQuery,
  type UsageBulkBody,
  type UsageHistoryQuery,
  type UsageSummaryQuery,
} from "./schemas";
import {
  aggregated,
  credentialUsage,
  DEFAULT_LATENCY_BUCKETS,
  geography,
  isUuid,
  latencyDistribution,
  metricsSync,
  normaliseFilters,
  parseBucketDefs,
  promptDistribution,
  timeSeries,
  usageBulk,
  usageHistory,
  usageSummary,
  type CompatLimits,
  type GeoGroup,
} from "./service";
import type { CompatFilters, DataSource, GroupKey, HistoryGranularity, MetricKey } from "./sql";
import { callerRange, parseCallerDate, requireDate } from "./time";

export interface CompatRouteOptions {
  limits: CompatLimits;
  maxRangeDays: number;
  geoLookup: GeoLookup;
}

const TS_METRIC: Readonly<Record<string, MetricKey>> = {
  requests: "total_requests",
  success_rate: "success_rate",
  avg_latency: "avg_latency",
  p95_latency: "p95_latency",
  p99_latency: "p99_latency",
  tokens: "total_tokens",
  cost: "total_cost",
  ttft_avg: "ttft_avg",
  cache_hit_rate: "cache_hit_rate",
  throughput: "throughput_avg",
  error_rate: "error_rate",
  unique_users: "unique_users",
  success_count: "success_count",
  error_count: "error_count",
};

const HISTORY_ALIASES: Readonly<Record<string, HistoryGranularity>> = {
  hourly: "hourly",
  daily: "daily",
  weekly: "weekly",
  monthly: "monthly",
  hour: "hourly",
  day: "daily",
  week: "weekly",
  month: "monthly",
};

function uniq<T>(xs: readonly T[] | null | undefined): T[] {
  return [...new Set(xs ?? [])];
}

function source(ds: "inference" | "prompt" | undefined): DataSource {
  return ds ?? "inference";
}

/** Answers over a range that ends now change with every call: only fixed ranges are cached. */
function cacheFor(normalised: unknown, toMs: number, toIsNow: boolean) {
  return toIsNow ? undefined : { normalised, toMs };
}

function setFilter(
  filters: CompatFilters,
  key: "user_id" | "api_key_project_id" | "model_id" | "endpoint_id",
  v: string | undefined,
) {
  if (v !== undefined) filters[key] = [v.toLowerCase()];
}

export function compatEndpoints(opts: CompatRouteOptions): Endpoint[] {
  const { limits } = opts;
  const rules = { maxRangeDays: opts.maxRangeDays, futureLimit: true };
  const defaultSpanMs = Math.min(90, opts.maxRangeDays) * 86_400_000;

  return [
    postEndpoint<AggregatedBody>(aggregatedBody, {
      path: "/observability/metrics/aggregated",
      tag: "bud-stack",
      summary:
        "Whole-range metrics (total_requests, avg_latency, p95_latency, ttft_avg, …), optionally per group",
      description:
        "Ungrouped: `summary` holds every metric and `groups` is empty. Grouped (model, project, endpoint, user, user_project): one entry per group, most requests first, and `summary` is empty. Raw rows; `data_source` inference (default) leaves out prompt traffic.",
      prepare(b, nowMs) {
        let fromMs: number;
        let toMs: number;
        const toIsNow = b.to_date == null;
        if (b.from_date == null) {
          toMs = b.to_date == null ? nowMs : requireDate(b.to_date, "to_date");
          fromMs = toMs - defaultSpanMs;
        } else {
          ({ fromMs, toMs } = callerRange(b.from_date, b.to_date, nowMs, rules));
        }
        const spec = {
          scope: {
            db: "",
            fromMs,
            toMs,
            filters: normaliseFilters(b.filters),
            dataSource: source(b.data_source),
          },
          metrics: uniq(b.metrics),
          groups: uniq<GroupKey>(b.group_by),
        };
        return {
          cache: cacheFor(spec, toMs, toIsNow),
          async run(rc) {
            return { body: await aggregated(rc.sql, spec, limits), plan: "raw" };
          },
        };
      },
    }),
    postEndpoint<TimeSeriesBody>(timeSeriesBody, {
      path: "/observability/metrics/time-series",
      tag: "bud-stack",
      summary: "Metrics per interval (1m … 1w, UTC; weeks start on Sunday), one series per group",
      description:
        "Ungrouped: one series with every bucket of the range (zeros where empty, unless fill_gaps is false). Grouped: one series per group with the buckets that have requests.",
      prepare(b, nowMs) {
        const { fromMs, toMs, toIsNow } = callerRange(b.from_date, b.to_date, nowMs, rules);
        const spec = {
          scope: {
            db: "",
            fromMs,
            toMs,
            filters: normaliseFilters(b.filters),
            dataSource: source(b.data_source),
          },
          metrics: uniq(b.metrics).map((key) => ({ key, metric: TS_METRIC[key]! })),
          groups: uniq<GroupKey>(b.group_by),
          interval: b.interval ?? "1h",
          fillGaps: b.fill_gaps ?? true,
        };
        return {
          cache: cacheFor(spec, toMs, toIsNow),
          async run(rc) {
            return { body: await timeSeries(rc.sql, spec, limits), plan: "raw" };
          },
        };
      },
    }),
    postEndpoint<LatencyDistributionBody>(latencyDistributionBody, {
      path: "/observability/metrics/latency-distribution",
      tag: "bud-stack",
      summary: "Histogram of response times (default buckets 0-100ms … >10s), overall and per group",
      prepare(b, nowMs) {
        const { fromMs, toMs, toIsNow } = callerRange(b.from_date, b.to_date, nowMs, rules);
        const spec = {
          scope: {
            db: "",
            fromMs,
            toMs,
            filters: normaliseFilters(b.filters),
            dataSource: source(b.data_source),
          },
          groups: uniq<GroupKey>(b.group_by),
          buckets: b.buckets ? parseBucketDefs(b.buckets) : DEFAULT_LATENCY_BUCKETS,
        };
        return {
          cache: cacheFor(spec, toMs, toIsNow),
          async run(rc) {
            return { body: await latencyDistribution(rc.sql, spec, limits), plan: "raw" };
          },
        };
      },
    }),
    postEndpoint<DistributionBody>(distributionBody, {
      path: "/observability/metrics/distribution",
      tag: "bud-stack",
      summary: "Prompt traffic: a metric's average per bucket of concurrency or token counts",
      description:
        "Only requests with a prompt_id. Filters project_id, api_key_project_id, endpoint_id, prompt_id (and the other id keys) all apply.",
      prepare(b, nowMs) {
        const { fromMs, toMs, toIsNow } = callerRange(b.from_date, b.to_date, nowMs, rules);
        const spec = {
          scope: {
            db: "",
            fromMs,
            toMs,
            filters: normaliseFilters(b.filters),
            dataSource: "prompt" as const,
          },
          bucketBy: b.bucket_by ?? "concurrency",
          metric: b.metric ?? "total_duration_ms",
          buckets: b.buckets ? parseBucketDefs(b.buckets) : null,
        };
        return {
          cache: cacheFor(spec, toMs, toIsNow),
          async run(rc) {
            return { body: await promptDistribution(rc.sql, spec), plan: "raw" };
          },
        };
      },
    }),
    postEndpoint<GeographyBody>(geographyBody, {
      path: "/observability/metrics/geography",
      tag: "bud-stack",
      summary: "Requests per country, region or city of the request IP (bundled offline IP database)",
      prepare(b, nowMs) {
        const { fromMs, toMs, toIsNow } = callerRange(b.from_date, b.to_date, nowMs, {
          maxRangeDays: opts.maxRangeDays,
        });
        const spec = geoSpec({
          fromMs,
          toMs,
          filters: b.filters ?? null,
          groupBy: b.group_by ?? "country",
          limit: b.limit ?? 50,
          dataSource: source(b.data_source),
        });
        return {
          cache: cacheFor(spec, toMs, toIsNow),
          async run(rc) {
            return { body: await geography(rc.sql, spec, opts.geoLookup, limits), plan: "raw" };
          },
        };
      },
    }),
    getEndpoint<GeographyQuery>(geographyQuery, {
      path: "/observability/metrics/geography",
      tag: "bud-stack",
      summary: "Geography with query parameters (project_id, api_key_project_id, country_codes)",
      prepare(q, nowMs) {
        const { fromMs, toMs, toIsNow } = callerRange(q.from_date, q.to_date, nowMs, {
          maxRangeDays: opts.maxRangeDays,
        });
        const filters: Record<string, unknown> = {};
        if (q.project_id) filters.project_id = q.project_id;
        if (q.api_key_project_id) filters.api_key_project_id = q.api_key_project_id;
        if (q.country_codes)
          filters.country_code = q.country_codes
            .split(",")
            .map((s) => s.trim())
            .filter(Boolean);
        const spec = geoSpec({
          fromMs,
          toMs,
          filters,
          groupBy: q.group_by ?? "country",
          limit: q.limit ?? 50,
          dataSource: source(q.data_source),
        });
        return {
          cache: cacheFor(spec, toMs, toIsNow),
          async run(rc) {
            return { body: await geography(rc.sql, spec, opts.geoLookup, limits), plan: "raw" };
          },
        };
      },
    }),
    getEndpoint<UsageSummaryQuery>(usageSummaryQuery, {
      path: "/observability/usage/summary",
      tag: "bud-stack",
      summary: "Usage totals (tokens, cost, requests, success rate) of a user, a project or everyone",
      description:
        "start_date and end_date (or from_date and to_date) bound request_arrival_time inclusively; project_id is the API key's project. Prompt traffic is not counted. Answer under `param`.",
      prepare(q, nowMs) {
        const scope = usageScope(q, nowMs);
        return {
          cache: cacheFor(scope, scope.toMs, scope.toIsNow),
          async run(rc) {
            return { body: await usageSummary(rc.sql, scope), plan: "raw" };
          },
        };
      },
    }),
    getEndpoint<UsageHistoryQuery>(usageHistoryQuery, {
      path: "/observability/usage/history",
      tag: "bud-stack",
      summary: "Usage per hour / day / week (Monday) / month (UTC), periods with requests only, oldest first",
      prepare(q, nowMs) {
        const scope = usageScope(q, nowMs);
        const echo = q.granularity ?? q.interval ?? "daily";
        const spec = { scope, granularity: HISTORY_ALIASES[echo] ?? "daily", echo };
        return {
          cache: cacheFor(spec, scope.toMs, scope.toIsNow),
          async run(rc) {
            return { body: await usageHistory(rc.sql, spec), plan: "raw" };
          },
        };
      },
    }),
    postEndpoint<UsageBulkBody>(usageBulkBody, {
      path: "/observability/usage/summary/bulk",
      tag: "bud-stack",
      summary: "Usage totals of many users at once (billing limits), every requested user in request order",
      prepare(b) {
        const ids = b.user_ids ?? [];
        if (ids.length === 0) throw validation("user_ids list cannot be empty");
        if (ids.length > 1000) throw validation("Maximum 1000 users per batch request");
        if (!b.start_date || !b.end_date) throw validation("start_date and end_date are required");
        const fromMs = parseCallerDate(b.start_date);
        const toMs = parseCallerDate(b.end_date);
        const bad =
          ids.find((id) => !isUuid(id)) ?? (b.project_id && !isUuid(b.project_id) ? b.project_id : undefined);
        if (fromMs === null || toMs === null || bad !== undefined) {
          throw validation(
            `Invalid date format or UUID: ${bad ?? (fromMs === null ? b.start_date : b.end_date)}`,
          );
        }
        const userIds = uniq(ids.map((s) => s.toLowerCase()));
        const filters: CompatFilters = { user_id: userIds };
        if (b.project_id) filters.api_key_project_id = [b.project_id.toLowerCase()];
        const spec = {
          scope: { db: "", fromMs, toMs, filters, dataSource: "inference" as const },
          userIds: ids.map((s) => s.toLowerCase()),
          startText: b.start_date,
          endText: b.end_date,
          projectId: b.project_id ?? null,
        };
        return {
          cache: cacheFor(spec, toMs, false),
          async run(rc) {
            return { body: await usageBulk(rc.sql, spec), plan: "raw" };
          },
        };
      },
    }),
    postEndpoint<MetricsSyncBody>(metricsSyncBody, {
      path: "/observability/metrics-sync",
      tag: "bud-stack",
      summary: "Credential last use and per-user usage for budapp's billing sync (incremental or full)",
      description:
        "incremental: activity in the last activity_threshold_minutes; full: all time, plus a zero entry for every requested user id without traffic. usage_data.success_rate is a fraction (0..1). Prompt traffic is not counted.",
      prepare(b, nowMs) {
        const mode = b.sync_mode ?? "incremental";
        const threshold = b.activity_threshold_minutes ?? 5;
        const spec = {
          mode,
          thresholdMinutes: threshold,
          credentials: b.credential_sync ?? true,
          users: b.user_usage_sync ?? true,
          userIds: uniq((b.user_ids ?? []).map((s) => s.toLowerCase())),
          scope: {
            db: "",
            fromMs: mode === "incremental" ? nowMs - threshold * 60_000 : null,
            toMs: null,
            filters: {},
            dataSource: source(b.data_source),
          },
        };
        return {
          async run(rc) {
            return { body: await metricsSync(rc.sql, spec, rc.nowMs), plan: "raw" };
          },
        };
      },
    }),
    postEndpoint<CredentialUsageBody>(credentialUsageBody, {
      path: "/observability/credential-usage",
      tag: "bud-stack",
      summary: "Last use and request count of API credentials (api_key_id) since a time",
      prepare(b, nowMs) {
        const sinceMs = requireDate(b.since, "since");
        const filters: CompatFilters = {};
        if (b.credential_ids) filters.api_key_id = uniq(b.credential_ids.map((s) => s.toLowerCase()));
        const scope = { db: "", fromMs: sinceMs, toMs: null, filters, dataSource: source(b.data_source) };
        return {
          async run(rc) {
            return { body: await credentialUsage(rc.sql, scope, nowMs), plan: "raw" };
          },
        };
      },
    }),
    getEndpoint<BlockingStatsQuery>(blockingStatsQuery, {
      path: "/observability/gateway/blocking-stats",
      tag: "bud-stack",
      summary: "Blocked-request statistics: always empty (the gateway's events carry no blocking data)",
      prepare(q, nowMs) {
        const fromMs = requireDate(q.from_date, "from_date");
        const toMs = q.to_date ? requireDate(q.to_date, "to_date") : nowMs;
        if (toMs < fromMs) throw queryErrors.create("QUERY_RANGE_INVALID", "to_date must be after from_date");
        return {
          async run() {
            return {
              body: {
                object: "gateway_blocking_stats",
                total_blocked: 0,
                block_rate: 0,
                blocked_by_rule: {},
                blocked_by_reason: {},
                top_blocked_ips: [],
                time_series: [],
              },
            };
          },
        };
      },
    }),
    getEndpoint<TracesQuery>(tracesQuery, {
      path: "/observability/traces",
      tag: "bud-stack",
      summary: "Traces of a prompt: always empty (no OpenTelemetry spans are stored)",
      prepare(q) {
        requireDate(q.from_date, "from_date");
        requireDate(q.to_date, "to_date");
        return {
          async run() {
            return {
              body: {
                object: "trace_list",
                items: [],
                total_count: 0,
                offset: q.offset ?? 0,
                limit: q.limit ?? 50,
              },
            };
          },
        };
      },
    }),
    {
      method: "get",
      path: "/observability/traces/:trace_id",
      tag: "bud-stack",
      summary: "Spans of a trace: always empty (no OpenTelemetry spans are stored)",
      params: traceIdParams,
      prepare(input) {
        const traceId = input.params.trace_id ?? "";
        return {
          async run() {
            return { body: { object: "trace_detail", trace_id: traceId, spans: [], total_spans: 0 } };
          },
        };
      },
    },
    postEndpoint<TelemetryBody>(telemetryBody, {
      path: "/observability/prompt-telemetry/query",
      tag: "bud-stack",
      summary: "Prompt span telemetry: always empty (no OpenTelemetry spans are stored)",
      prepare(b, nowMs) {
        callerRange(b.from_date, b.to_date, nowMs, { maxRangeDays: opts.maxRangeDays });
        return {
          async run() {
            return {
              body: {
                object: "telemetry_query",
                data: [],
                total_count: 0,
                limit: b.limit ?? 50,
                offset: b.offset ?? 0,
                has_more: false,
                query_time_ms: 0,
              },
            };
          },
        };
      },
    }),
  ];

  function geoSpec(a: {
    fromMs: number;
    toMs: number;
    filters: Record<string, unknown> | null;
    groupBy: GeoGroup;
    limit: number;
    dataSource: DataSource;
  }) {
    if (a.limit < 1 || a.limit > 1000)
      throw validation("limit must be between 1 and 1000", { field: "limit" });
    const cc = a.filters?.country_code;
    let countries: string[] | null = null;
    if (cc !== undefined && cc !== null) {
      const list = Array.isArray(cc) ? cc : [cc];
      if (!list.every((x): x is string => typeof x === "string")) {
        throw validation("filters.country_code must be a string or a list of strings");
      }
      countries = uniq(list.map((s) => s.toUpperCase())).sort();
    }
    return {
      scope: {
        db: "",
        fromMs: a.fromMs,
        toMs: a.toMs,
        filters: normaliseFilters(a.filters),
        dataSource: a.dataSource,
      },
      groupBy: a.groupBy,
      limit: a.limit,
      countries,
    };
  }

  function usageScope(
    q: {
      user_id?: string;
      project_id?: string;
      model_id?: string;
      endpoint_id?: string;
      start_date?: string;
      end_date?: string;
      from_date?: string;
      to_date?: string;
    },
    nowMs: number,
  ) {
    const startText = q.start_date ?? q.from_date;
    if (startText === undefined) throw validation("start_date is required", { field: "start_date" });
    const endText = q.end_date ?? q.to_date;
    if (q.start_date !== undefined && q.end_date === undefined) {
      throw validation("end_date is required", { field: "end_date" });
    }
    const fromMs = requireDate(startText, "start_date");
    const toMs = endText === undefined ? nowMs : requireDate(endText, "end_date");
    if (toMs < fromMs)
      throw queryErrors.create("QUERY_RANGE_INVALID", "end_date must not be before start_date");
    const filters: CompatFilters = {};
    setFilter(filters, "user_id", q.user_id);
    setFilter(filters, "api_key_project_id", q.project_id);
    setFilter(filters, "model_id", q.model_id);
    setFilter(filters, "endpoint_id", q.endpoint_id);
    return {
      db: "",
      fromMs,
      toMs,
      toIsNow: endText === undefined,
      filters,
      dataSource: "inference" as const,
    };
  }
}
