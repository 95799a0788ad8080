/**
 * The endpoints the Bud stack's services call (budapp's metric, billing, credential and prompt
 * services), in the shapes they send and parse: request fields, nulls and defaults as their request
 * models dump them, answers with exactly the top-level keys their response models allow.
 */
import { queryErrors, validation } from "../errors";
import type { Endpoint, Prepared, RequestContext } from "../http/endpoint";
import { budAnalyticsEndpoint, type BudAnalyticsOptions } from "./analytics";
import { getEndpoint, postEndpoint } from "./endpoint";
import type { GeoLookup } from "./geo";
import {
  aggregatedBody,
  blockingStatsQuery,
  clientAnalyticsQuery,
  geographicalStatsQuery,
  topRoutesQuery,
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
  type ClientAnalyticsQuery,
  type GeographicalStatsQuery,
  type TopRoutesQuery,
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
  blockingStats,
  clientDistribution,
  gatewayPlaces,
  topRoutes,
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
  /** POST /observability/analytics: the pipeline's limits and the native endpoint (seed shape). */
  analytics: Omit<BudAnalyticsOptions, "maxRangeDays">;
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

interface Range {
  fromMs: number;
  toMs: number;
  /** The range ends now: its answer changes with every call. */
  toIsNow: boolean;
}

/** The rows an endpoint reads: a range, the callers' filters (normalised) and the data source. */
function scopeOf(
  range: { fromMs: number; toMs: number },
  filters: Record<string, unknown> | null | undefined,
  dataSource: DataSource,
) {
  return { db: "", fromMs: range.fromMs, toMs: range.toMs, filters: normaliseFilters(filters), dataSource };
}

/**
 * An answer computed from raw rows. With `cache`, it is cached under the normalised spec unless the
 * range ends now (each call then has another end, so an entry would never be read again).
 */
function rawAnswer(
  run: (rc: RequestContext) => Promise<unknown>,
  cache?: { spec: unknown; range: Pick<Range, "toMs" | "toIsNow"> },
): Prepared {
  return {
    ...(cache && !cache.range.toIsNow ? { cache: { normalised: cache.spec, toMs: cache.range.toMs } } : {}),
    async run(rc) {
      return { body: await run(rc), plan: "raw" };
    },
  };
}

/** A fixed answer: the callers' empty value where BudMetrics has no source. */
function fixedAnswer(body: unknown): Prepared {
  return {
    async run() {
      return { body };
    },
  };
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
  const plainRules = { maxRangeDays: opts.maxRangeDays };
  const defaultSpanMs = Math.min(90, opts.maxRangeDays) * 86_400_000;

  return [
    budAnalyticsEndpoint({ ...opts.analytics, maxRangeDays: opts.maxRangeDays }),
    postEndpoint<AggregatedBody>(aggregatedBody, {
      path: "/observability/metrics/aggregated",
      tag: "bud-stack",
      summary:
        "Whole-range metrics (total_requests, avg_latency, p95_latency, ttft_avg, …), optionally per group",
      description:
        "Ungrouped: `summary` holds every metric and `groups` is empty. Grouped (model, project, endpoint, user, user_project): one entry per group, most requests first, and `summary` is empty. Raw rows; `data_source` inference (default) leaves out prompt traffic.",
      prepare(b, nowMs) {
        let range: Range;
        if (b.from_date == null) {
          const toMs = b.to_date == null ? nowMs : requireDate(b.to_date, "to_date");
          range = { fromMs: toMs - defaultSpanMs, toMs, toIsNow: b.to_date == null };
        } else {
          range = callerRange(b.from_date, b.to_date, nowMs, rules);
        }
        const spec = {
          scope: scopeOf(range, b.filters, source(b.data_source)),
          metrics: uniq(b.metrics),
          groups: uniq<GroupKey>(b.group_by),
        };
        return rawAnswer((rc) => aggregated(rc.sql, spec, limits), { spec, range });
      },
    }),
    postEndpoint<TimeSeriesBody>(timeSeriesBody, {
      path: "/observability/metrics/time-series",
      tag: "bud-stack",
      summary: "Metrics per interval (1m … 1w, UTC; weeks start on Sunday), one series per group",
      description:
        "Ungrouped: one series with every bucket of the range (zeros where empty, unless fill_gaps is false). Grouped: one series per group with the buckets that have requests.",
      prepare(b, nowMs) {
        const range = callerRange(b.from_date, b.to_date, nowMs, rules);
        const spec = {
          scope: scopeOf(range, b.filters, source(b.data_source)),
          metrics: uniq(b.metrics).map((key) => ({ key, metric: TS_METRIC[key]! })),
          groups: uniq<GroupKey>(b.group_by),
          interval: b.interval ?? "1h",
          fillGaps: b.fill_gaps ?? true,
        };
        return rawAnswer((rc) => timeSeries(rc.sql, spec, limits), { spec, range });
      },
    }),
    postEndpoint<LatencyDistributionBody>(latencyDistributionBody, {
      path: "/observability/metrics/latency-distribution",
      tag: "bud-stack",
      summary: "Histogram of response times (default buckets 0-100ms … >10s), overall and per group",
      prepare(b, nowMs) {
        const range = callerRange(b.from_date, b.to_date, nowMs, rules);
        const spec = {
          scope: scopeOf(range, b.filters, source(b.data_source)),
          groups: uniq<GroupKey>(b.group_by),
          buckets: b.buckets ? parseBucketDefs(b.buckets) : DEFAULT_LATENCY_BUCKETS,
        };
        return rawAnswer((rc) => latencyDistribution(rc.sql, spec, limits), { spec, range });
      },
    }),
    postEndpoint<DistributionBody>(distributionBody, {
      path: "/observability/metrics/distribution",
      tag: "bud-stack",
      summary: "Prompt traffic: a metric's average per bucket of concurrency or token counts",
      description:
        "Only requests with a prompt_id. Filters project_id, api_key_project_id, endpoint_id, prompt_id (and the other id keys) all apply.",
      prepare(b, nowMs) {
        const range = callerRange(b.from_date, b.to_date, nowMs, rules);
        const spec = {
          scope: scopeOf(range, b.filters, "prompt"),
          bucketBy: b.bucket_by ?? "concurrency",
          metric: b.metric ?? "total_duration_ms",
          buckets: b.buckets ? parseBucketDefs(b.buckets) : null,
        };
        return rawAnswer((rc) => promptDistribution(rc.sql, spec), { spec, range });
      },
    }),
    postEndpoint<GeographyBody>(geographyBody, {
      path: "/observability/metrics/geography",
      tag: "bud-stack",
      summary: "Requests per country, region or city of the request IP (bundled offline IP database)",
      prepare(b, nowMs) {
        const range = callerRange(b.from_date, b.to_date, nowMs, plainRules);
        const spec = geoSpec(range, {
          filters: b.filters ?? null,
          groupBy: b.group_by ?? "country",
          limit: b.limit ?? 50,
          dataSource: source(b.data_source),
        });
        return rawAnswer((rc) => geography(rc.sql, spec, opts.geoLookup, limits), { spec, range });
      },
    }),
    getEndpoint<GeographyQuery>(geographyQuery, {
      path: "/observability/metrics/geography",
      tag: "bud-stack",
      summary: "Geography with query parameters (project_id, api_key_project_id, country_codes)",
      prepare(q, nowMs) {
        const range = callerRange(q.from_date, q.to_date, nowMs, plainRules);
        const filters: Record<string, unknown> = {};
        if (q.project_id) filters.project_id = q.project_id;
        if (q.api_key_project_id) filters.api_key_project_id = q.api_key_project_id;
        if (q.country_codes)
          filters.country_code = q.country_codes
            .split(",")
            .map((s) => s.trim())
            .filter(Boolean);
        const spec = geoSpec(range, {
          filters,
          groupBy: q.group_by ?? "country",
          limit: q.limit ?? 50,
          dataSource: source(q.data_source),
        });
        return rawAnswer((rc) => geography(rc.sql, spec, opts.geoLookup, limits), { spec, range });
      },
    }),
    getEndpoint<UsageSummaryQuery>(usageSummaryQuery, {
      path: "/observability/usage/summary",
      tag: "bud-stack",
      summary: "Usage totals (tokens, cost, requests, success rate) of a user, a project or everyone",
      description:
        "start_date and end_date (or from_date and to_date) bound request_arrival_time inclusively; project_id is the API key's project. Prompt traffic is not counted. Answer under `param`.",
      prepare(q, nowMs) {
        const { scope, range } = usageScope(q, nowMs);
        return rawAnswer((rc) => usageSummary(rc.sql, scope), { spec: scope, range });
      },
    }),
    getEndpoint<UsageHistoryQuery>(usageHistoryQuery, {
      path: "/observability/usage/history",
      tag: "bud-stack",
      summary: "Usage per hour / day / week (Monday) / month (UTC), periods with requests only, oldest first",
      prepare(q, nowMs) {
        const { scope, range } = usageScope(q, nowMs);
        const echo = q.granularity ?? q.interval ?? "daily";
        const spec = { scope, granularity: HISTORY_ALIASES[echo] ?? "daily", echo };
        return rawAnswer((rc) => usageHistory(rc.sql, spec), { spec, range });
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
        return rawAnswer((rc) => usageBulk(rc.sql, spec), { spec, range: { toMs, toIsNow: false } });
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
        return rawAnswer((rc) => metricsSync(rc.sql, spec, rc.nowMs));
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
        return rawAnswer((rc) => credentialUsage(rc.sql, scope, nowMs));
      },
    }),
    getEndpoint<BlockingStatsQuery>(blockingStatsQuery, {
      path: "/observability/gateway/blocking-stats",
      tag: "bud-stack",
      summary:
        "Blocked requests (from the gateway's spans): totals, block rate, per rule id, per reason, top client addresses, per hour",
      description:
        "from_date (required), to_date (default now), project_id, data_source (inference, the default, leaves out prompt traffic; prompt keeps only it). Rules are keyed by their id: the rule's name is not stored.",
      prepare(q, nowMs) {
        const { range, scope } = gatewayScope(q, nowMs);
        return rawAnswer((rc) => blockingStats(rc.sql, scope), { spec: scope, range });
      },
    }),
    getEndpoint<TopRoutesQuery>(topRoutesQuery, {
      path: "/observability/gateway/top-routes",
      tag: "bud-stack",
      summary: "Requests per gateway route (path, method): count, average response time, error rate",
      description:
        "The original's parameters (from_date required, to_date, limit = 10, project_id, data_source) and answer `{routes: [...]}`; records from the gateway's spans only (they carry the route).",
      prepare(q, nowMs) {
        const { range, scope } = gatewayScope(q, nowMs);
        const limit = q.limit ?? 10;
        return rawAnswer((rc) => topRoutes(rc.sql, scope, limit), { spec: { scope, limit }, range });
      },
    }),
    getEndpoint<ClientAnalyticsQuery>(clientAnalyticsQuery, {
      path: "/observability/gateway/client-analytics",
      tag: "bud-stack",
      summary:
        "Requests per client device type, browser or operating system (the gateway's user-agent parsing)",
      description:
        "The original's parameters (from_date required, to_date, group_by = device_type | browser | os, project_id, data_source) and answer `{distribution, total, group_by}`.",
      prepare(q, nowMs) {
        const { range, scope } = gatewayScope(q, nowMs);
        const groupBy = q.group_by ?? "device_type";
        return rawAnswer((rc) => clientDistribution(rc.sql, scope, groupBy), {
          spec: { scope, groupBy },
          range,
        });
      },
    }),
    getEndpoint<GeographicalStatsQuery>(geographicalStatsQuery, {
      path: "/observability/gateway/geographical-stats",
      tag: "bud-stack",
      summary: "Requests per country and city as the gateway located the client, with heat-map points",
      description:
        "The original's parameters (from_date required, to_date, project_id, data_source) and answer (`countries` 50, `cities` 100, `heatmap_data`).",
      prepare(q, nowMs) {
        const { range, scope } = gatewayScope(q, nowMs);
        return rawAnswer((rc) => gatewayPlaces(rc.sql, scope, opts.geoLookup), { spec: scope, range });
      },
    }),
    getEndpoint<TracesQuery>(tracesQuery, {
      path: "/observability/traces",
      tag: "bud-stack",
      summary: "Traces of a prompt: always empty (no OpenTelemetry spans are stored)",
      prepare(q) {
        requireDate(q.from_date, "from_date");
        requireDate(q.to_date, "to_date");
        return fixedAnswer({
          object: "trace_list",
          items: [],
          total_count: 0,
          offset: q.offset ?? 0,
          limit: q.limit ?? 50,
        });
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
        return fixedAnswer({ object: "trace_detail", trace_id: traceId, spans: [], total_spans: 0 });
      },
    },
    postEndpoint<TelemetryBody>(telemetryBody, {
      path: "/observability/prompt-telemetry/query",
      tag: "bud-stack",
      summary: "Prompt span telemetry: always empty (no OpenTelemetry spans are stored)",
      prepare(b, nowMs) {
        callerRange(b.from_date, b.to_date, nowMs, plainRules);
        return fixedAnswer({
          object: "telemetry_query",
          data: [],
          total_count: 0,
          limit: b.limit ?? 50,
          offset: b.offset ?? 0,
          has_more: false,
          query_time_ms: 0,
        });
      },
    }),
  ];

  /** The gateway endpoints' range (to_date = now when absent; no length limit, as the original) and scope. */
  function gatewayScope(
    q: { from_date: string; to_date?: string; project_id?: string; data_source?: string },
    nowMs: number,
  ) {
    const fromMs = requireDate(q.from_date, "from_date");
    const toMs = q.to_date ? requireDate(q.to_date, "to_date") : nowMs;
    if (toMs < fromMs) throw queryErrors.create("QUERY_RANGE_INVALID", "to_date must be after from_date");
    const range: Range = { fromMs, toMs, toIsNow: !q.to_date };
    const scope = scopeOf(
      range,
      q.project_id ? { project_id: q.project_id } : null,
      q.data_source === "prompt" ? "prompt" : "inference",
    );
    return { range, scope };
  }

  function geoSpec(
    range: { fromMs: number; toMs: number },
    a: { filters: Record<string, unknown> | null; groupBy: GeoGroup; limit: number; dataSource: DataSource },
  ) {
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
    return { scope: scopeOf(range, a.filters, a.dataSource), groupBy: a.groupBy, limit: a.limit, countries };
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
    const range: Range = { fromMs, toMs, toIsNow: endText === undefined };
    return { scope: { db: "", fromMs, toMs, filters, dataSource: "inference" as const }, range };
  }
}
