/**
 * Request schemas of the Bud-stack endpoints, written from the callers' request models: unknown keys
 * are ignored (the callers' models are dumped whole, and the original ignores extras), every optional
 * field accepts an explicit `null` (callers send `model_dump(mode="json")`, where an unset field is
 * null), and fields the original refuses as null (`limit`, `sort_by`, `fill_gaps`, …) refuse it here too.
 * The same objects validate requests, type the handlers (FromSchema) and make /openapi.json.
 */
import type { FromSchema } from "json-schema-to-ts";

const nul = { type: "null" } as const;
const dateText = {
  type: "string",
  minLength: 10,
  maxLength: 40,
  description: "ISO-8601 date or date-time; without an offset it is UTC",
} as const;
const optDate = { anyOf: [dateText, nul] } as const;
const uuid = { type: "string", format: "uuid" } as const;
const optUuid = { anyOf: [uuid, nul] } as const;
/** Filters keyed by column: a scalar or a list (an empty list matches nothing); unknown keys are ignored. */
const filters = {
  anyOf: [{ type: "object", maxProperties: 50 }, nul],
  description:
    "project_id, api_key_project_id, model_id, endpoint_id, user_id, api_key_id, prompt_id, error_type, error_code: a value or a list; other keys are ignored",
} as const;
const dataSource = {
  enum: ["inference", "prompt"],
  description: "inference (default) leaves out prompt traffic",
} as const;

export const AGGREGATED_METRICS = [
  "total_requests",
  "success_rate",
  "avg_latency",
  "p95_latency",
  "p99_latency",
  "total_tokens",
  "total_input_tokens",
  "total_output_tokens",
  "avg_tokens",
  "total_cost",
  "avg_cost",
  "ttft_avg",
  "ttft_p95",
  "ttft_p99",
  "cache_hit_rate",
  "throughput_avg",
  "error_rate",
  "unique_users",
  "p95_inference_cost",
  "max_inference_cost",
  "min_inference_cost",
] as const;

export const aggregatedBody = {
  type: "object",
  required: ["metrics"],
  properties: {
    from_date: { ...optDate, description: "null: to_date (or now) minus 90 days" },
    to_date: optDate,
    group_by: {
      anyOf: [
        {
          type: "array",
          items: {
            enum: [
              "model",
              "project",
              "endpoint",
              "user",
              "user_project",
              "api_key",
              "error_type",
              "status_code",
            ],
          },
          maxItems: 5,
        },
        nul,
      ],
      description: "model, project, endpoint, user, user_project; also api_key, error_type, status_code",
    },
    filters,
    metrics: { type: "array", items: { enum: AGGREGATED_METRICS }, maxItems: 30 },
    data_source: dataSource,
  },
} as const;
export type AggregatedBody = FromSchema<typeof aggregatedBody>;

export const TIME_SERIES_METRICS = [
  "requests",
  "success_rate",
  "avg_latency",
  "p95_latency",
  "p99_latency",
  "tokens",
  "cost",
  "ttft_avg",
  "cache_hit_rate",
  "throughput",
  "error_rate",
  "unique_users",
  "success_count",
  "error_count",
] as const;
export const TIME_SERIES_INTERVALS = ["1m", "5m", "15m", "30m", "1h", "6h", "12h", "1d", "1w"] as const;

export const timeSeriesBody = {
  type: "object",
  required: ["from_date", "metrics"],
  properties: {
    from_date: dateText,
    to_date: optDate,
    interval: { enum: TIME_SERIES_INTERVALS },
    metrics: { type: "array", items: { enum: TIME_SERIES_METRICS }, maxItems: 30 },
    filters,
    group_by: {
      anyOf: [
        { type: "array", items: { enum: ["model", "project", "endpoint", "user_project"] }, maxItems: 4 },
        nul,
      ],
    },
    fill_gaps: { type: "boolean" },
    data_source: dataSource,
  },
} as const;
export type TimeSeriesBody = FromSchema<typeof timeSeriesBody>;

const bucketDef = {
  type: "object",
  description: "min, max (integer ms or text) and label",
} as const;

export const latencyDistributionBody = {
  type: "object",
  required: ["from_date"],
  properties: {
    from_date: dateText,
    to_date: optDate,
    filters,
    group_by: {
      anyOf: [
        {
          type: "array",
          items: { enum: ["model", "project", "endpoint", "user", "user_project"] },
          maxItems: 5,
        },
        nul,
      ],
    },
    buckets: { anyOf: [{ type: "array", items: bucketDef, maxItems: 100 }, nul] },
    data_source: dataSource,
  },
} as const;
export type LatencyDistributionBody = FromSchema<typeof latencyDistributionBody>;

export const distributionBody = {
  type: "object",
  required: ["from_date"],
  properties: {
    from_date: dateText,
    to_date: optDate,
    filters,
    bucket_by: { enum: ["concurrency", "input_tokens", "output_tokens"] },
    metric: { enum: ["total_duration_ms", "ttft_ms", "response_time_ms", "throughput_per_user"] },
    buckets: { anyOf: [{ type: "array", items: bucketDef, maxItems: 100 }, nul] },
  },
} as const;
export type DistributionBody = FromSchema<typeof distributionBody>;

export const geographyBody = {
  type: "object",
  required: ["from_date"],
  properties: {
    from_date: dateText,
    to_date: optDate,
    filters: {
      ...filters,
      description: `${filters.description}; country_code: a code or a list`,
    },
    group_by: { enum: ["country", "region", "city"] },
    limit: { type: "integer" },
    data_source: dataSource,
  },
} as const;
export type GeographyBody = FromSchema<typeof geographyBody>;

export const geographyQuery = {
  type: "object",
  required: ["from_date"],
  properties: {
    from_date: dateText,
    to_date: dateText,
    group_by: { enum: ["country", "region", "city"] },
    limit: { type: "integer" },
    project_id: uuid,
    api_key_project_id: uuid,
    country_codes: {
      type: "string",
      maxLength: 2000,
      description: "comma-separated ISO 3166-1 alpha-2 codes",
    },
    data_source: dataSource,
  },
} as const;
export type GeographyQuery = FromSchema<typeof geographyQuery>;

export const usageSummaryQuery = {
  type: "object",
  properties: {
    user_id: uuid,
    project_id: { ...uuid, description: "the API key's project (api_key_project_id)" },
    start_date: dateText,
    end_date: dateText,
    from_date: { ...dateText, description: "same as start_date" },
    to_date: { ...dateText, description: "same as end_date (default now)" },
    model_id: uuid,
    endpoint_id: uuid,
  },
} as const;
export type UsageSummaryQuery = FromSchema<typeof usageSummaryQuery>;

export const usageHistoryQuery = {
  type: "object",
  properties: {
    ...usageSummaryQuery.properties,
    granularity: {
      type: "string",
      maxLength: 20,
      description: "hourly, daily (default), weekly or monthly; another value is bucketed daily and echoed",
    },
    interval: { enum: ["hour", "day", "week", "month"], description: "same as granularity" },
  },
} as const;
export type UsageHistoryQuery = FromSchema<typeof usageHistoryQuery>;

export const usageBulkBody = {
  type: "object",
  properties: {
    user_ids: { anyOf: [{ type: "array", items: { type: "string", maxLength: 64 } }, nul] },
    start_date: { anyOf: [{ type: "string", maxLength: 40 }, nul] },
    end_date: { anyOf: [{ type: "string", maxLength: 40 }, nul] },
    project_id: { anyOf: [{ type: "string", maxLength: 64 }, nul] },
  },
} as const;
export type UsageBulkBody = FromSchema<typeof usageBulkBody>;

export const metricsSyncBody = {
  type: "object",
  properties: {
    sync_mode: { enum: ["incremental", "full"] },
    activity_threshold_minutes: { type: "integer", minimum: 0, maximum: 100_000_000 },
    credential_sync: { type: "boolean" },
    user_usage_sync: { type: "boolean" },
    user_ids: { anyOf: [{ type: "array", items: uuid, maxItems: 100_000 }, nul] },
    data_source: dataSource,
  },
} as const;
export type MetricsSyncBody = FromSchema<typeof metricsSyncBody>;

export const credentialUsageBody = {
  type: "object",
  required: ["since"],
  properties: {
    since: dateText,
    credential_ids: { anyOf: [{ type: "array", items: uuid, maxItems: 10_000 }, nul] },
    data_source: dataSource,
  },
} as const;
export type CredentialUsageBody = FromSchema<typeof credentialUsageBody>;

export const blockingStatsQuery = {
  type: "object",
  required: ["from_date"],
  properties: {
    from_date: dateText,
    to_date: dateText,
    project_id: uuid,
    data_source: { type: "string", maxLength: 20 },
  },
} as const;
export type BlockingStatsQuery = FromSchema<typeof blockingStatsQuery>;

/** The original's gateway breakdowns: query parameters as it declares them (from_date required). */
const gatewayRange = {
  from_date: dateText,
  to_date: dateText,
  project_id: uuid,
  data_source: {
    type: "string",
    maxLength: 20,
    description: "prompt keeps only prompt traffic; else it is left out",
  },
} as const;

export const topRoutesQuery = {
  type: "object",
  required: ["from_date"],
  properties: { ...gatewayRange, limit: { type: "integer", minimum: 1, maximum: 1000 } },
} as const;
export type TopRoutesQuery = FromSchema<typeof topRoutesQuery>;

export const clientAnalyticsQuery = {
  type: "object",
  required: ["from_date"],
  properties: {
    ...gatewayRange,
    group_by: { type: "string", maxLength: 20, description: "device_type (default), browser or os" },
  },
} as const;
export type ClientAnalyticsQuery = FromSchema<typeof clientAnalyticsQuery>;

export const geographicalStatsQuery = {
  type: "object",
  required: ["from_date"],
  properties: gatewayRange,
} as const;
export type GeographicalStatsQuery = FromSchema<typeof geographicalStatsQuery>;

export const tracesQuery = {
  type: "object",
  required: ["resource_type", "resource_id", "project_id", "from_date", "to_date"],
  properties: {
    resource_type: { enum: ["prompt"] },
    resource_id: { type: "string", minLength: 1, maxLength: 500 },
    project_id: uuid,
    from_date: dateText,
    to_date: dateText,
    offset: { type: "integer", minimum: 0 },
    limit: { type: "integer", minimum: 1, maximum: 1000 },
    flatten: { type: "boolean" },
  },
} as const;
export type TracesQuery = FromSchema<typeof tracesQuery>;

export const telemetryBody = {
  type: "object",
  required: ["prompt_id", "from_date"],
  properties: {
    prompt_id: { type: "string", minLength: 1, maxLength: 500 },
    from_date: dateText,
    to_date: optDate,
    limit: { type: "integer", minimum: 1, maximum: 10_000 },
    offset: { type: "integer", minimum: 0, maximum: 10_000 },
  },
} as const;
export type TelemetryBody = FromSchema<typeof telemetryBody>;

export const traceIdParams = {
  type: "object",
  required: ["trace_id"],
  properties: { trace_id: { type: "string", maxLength: 64 } },
} as const;

export const SORT_FIELDS = ["timestamp", "tokens", "latency", "cost"] as const;
const optCount = { anyOf: [{ type: "integer", minimum: 0 }, nul] } as const;

export const inferenceListBody = {
  type: "object",
  properties: {
    offset: { type: "integer", minimum: 0, maximum: 100_000 },
    limit: { type: "integer", minimum: 1, maximum: 1000 },
    project_id: optUuid,
    endpoint_id: optUuid,
    model_id: optUuid,
    from_date: {
      ...dateText,
      description: "required by the Bud stack's model; absent here = no lower bound",
    },
    to_date: optDate,
    is_success: { anyOf: [{ type: "boolean" }, nul] },
    min_tokens: optCount,
    max_tokens: optCount,
    max_latency_ms: optCount,
    endpoint_type: { anyOf: [{ type: "string", maxLength: 64 }, nul] },
    filters,
    sort_by: { enum: SORT_FIELDS },
    sort_order: { enum: ["asc", "desc"] },
    cursor: {
      anyOf: [{ type: "string", maxLength: 512 }, nul],
      description: "null for the first page, then next_cursor of the previous page (keyset pagination)",
    },
  },
} as const;
export type InferenceListBody = FromSchema<typeof inferenceListBody>;

export const inferenceIdParams = {
  type: "object",
  required: ["id"],
  properties: { id: { type: "string", maxLength: 64 } },
} as const;

export const emptyQuery = { type: "object", properties: {} } as const;
