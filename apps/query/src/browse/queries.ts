/** Pure builders of the browsing statements (inference list, detail, distribution, credentials, admin). */
import { Tables } from "@budmetrics/schema";
import type { BuiltQuery } from "../analytics/queries";
import { IP_TEXT, scopeWhere, type CompatFilters } from "../compat/sql";

export type SortField = "timestamp" | "tokens" | "latency" | "cost";

/** Allow-list: sort keys (all numeric, so a cursor value is one Float64). */
export const SORT_EXPR: Readonly<Record<SortField, string>> = {
  timestamp: "toFloat64(toUnixTimestamp64Milli(request_arrival_time))",
  tokens: "toFloat64(input_tokens + output_tokens)",
  latency: "ifNull(response_time_ms, -1)",
  cost: "toFloat64(ifNull(cost, toDecimal64(0, 9)))",
};

export interface ListSpec {
  db: string;
  /** Inclusive bounds on request_arrival_time (null = unbounded). */
  fromMs: number | null;
  toMs: number | null;
  filters: CompatFilters;
  isSuccess?: boolean;
  minTokens?: number;
  maxTokens?: number;
  maxLatencyMs?: number;
  endpointType?: string;
  sortBy: SortField;
  order: "asc" | "desc";
  offset: number;
  limit: number;
  cursor?: { v: number; id: string };
  previewChars: number;
}

type ListScope = Omit<ListSpec, "sortBy" | "order" | "offset" | "limit" | "cursor" | "previewChars">;

/** WHERE of the inference list: range, id filters (prompt traffic included, as in the original), conditions. */
function listWhere(spec: ListScope) {
  const { where, params } = scopeWhere({ ...spec, dataSource: "any" });
  if (spec.isSuccess !== undefined) {
    params.is_success = spec.isSuccess;
    where.push("is_success = {is_success:Bool}");
  }
  if (spec.minTokens !== undefined) {
    params.min_tokens = spec.minTokens;
    where.push("input_tokens + output_tokens >= {min_tokens:UInt64}");
  }
  if (spec.maxTokens !== undefined) {
    params.max_tokens = spec.maxTokens;
    where.push("input_tokens + output_tokens <= {max_tokens:UInt64}");
  }
  if (spec.maxLatencyMs !== undefined) {
    params.max_latency_ms = spec.maxLatencyMs;
    where.push("response_time_ms <= {max_latency_ms:Float64}");
  }
  if (spec.endpointType !== undefined) {
    params.endpoint_type = spec.endpointType;
    where.push("endpoint_type = {endpoint_type:String}");
  }
  return { params, where };
}

const LIST_COLUMNS = [
  "toString(inference_id) AS inference_id_t",
  "request_arrival_time AS timestamp",
  "toString(project_id) AS project_id_t",
  "project_name",
  "toString(endpoint_id) AS endpoint_id_t",
  "endpoint_name",
  "toString(model_id) AS model_id_t",
  "model_name",
  "model_provider",
  "endpoint_type",
  "is_success",
  "status_code",
  "input_tokens",
  "output_tokens",
  "toUInt64(input_tokens + output_tokens) AS total_tokens",
  "response_time_ms",
  "ttft_ms",
  "toFloat64OrNull(toString(cost)) AS cost_f",
  "cached",
  "finish_reason",
  "error_type",
  "error_code",
  "error_message",
  "toString(api_key_project_id) AS api_key_project_id_t",
];

/**
 * Selected expressions get aliases that differ from column names (`_t`, `_f`): ClickHouse resolves
 * an alias before a column of the same name, which would turn WHERE/ORDER BY on the id into text.
 */
/** One page of inferences (limit + 1 rows, to know whether there is more), newest first by default. */
export function buildInferenceListQuery(spec: ListSpec): BuiltQuery {
  const { params, where } = listWhere(spec);
  const sort = SORT_EXPR[spec.sortBy];
  const dir = spec.order === "asc" ? "ASC" : "DESC";
  if (spec.cursor) {
    params.c_v = spec.cursor.v;
    params.c_id = spec.cursor.id;
    where.push(`(${sort}, inference_id) ${spec.order === "asc" ? ">" : "<"} ({c_v:Float64}, {c_id:UUID})`);
  }
  params.limit = spec.limit + 1;
  params.offset = spec.offset;
  params.preview = spec.previewChars;
  const query =
    `SELECT ${[...LIST_COLUMNS, "leftUTF8(coalesce(prompt_preview, input_messages, ''), {preview:UInt32}) AS prompt_preview_t", "leftUTF8(coalesce(response_preview, output, ''), {preview:UInt32}) AS response_preview_t", `${sort} AS sort_value`].join(", ")}\n` +
    `FROM ${spec.db}.${Tables.inferenceEvents} FINAL\n` +
    (where.length ? `WHERE ${where.join("\n  AND ")}\n` : "") +
    `ORDER BY sort_value ${dir}, inference_id ${dir}\n` +
    `LIMIT {limit:UInt32} OFFSET {offset:UInt32}`;
  return { query, query_params: params };
}

export function buildInferenceCountQuery(spec: ListScope): BuiltQuery {
  const { params, where } = listWhere(spec);
  return {
    query:
      `SELECT count() AS total FROM ${spec.db}.${Tables.inferenceEvents} FINAL` +
      (where.length ? `\nWHERE ${where.join("\n  AND ")}` : ""),
    query_params: params,
  };
}

/** The columns the gateway's spans fill (migrations/0013) that the inference detail answers. */
const SPAN_DETAIL_COLUMNS = [
  "record_kind",
  "trace_id",
  "input_messages",
  "output AS output_t",
  "system_prompt",
  "country_code",
  "region",
  "city",
  "user_agent",
  "device_type",
  "browser_name",
  "os_name",
  "method",
  "path",
  "gateway_processing_ms",
  "total_duration_ms",
  "is_blocked",
  "block_reason",
  "toString(rule_id) AS rule_id_t",
  "response_id",
];

export function buildInferenceDetailQuery(db: string, id: string): BuiltQuery {
  return {
    query:
      `SELECT ${[...LIST_COLUMNS, "request_forward_time", `${IP_TEXT} AS request_ip_t`, "response_analysis", "toString(api_key_id) AS api_key_id_t", "toString(user_id) AS user_id_t", "cluster_id", "prompt_id", "prompt_preview", "response_preview", "event_id", "event_source", "received_at", ...SPAN_DETAIL_COLUMNS].join(", ")}\n` +
      `FROM ${db}.${Tables.inferenceEvents} FINAL\nWHERE inference_id = {id:UUID}\nLIMIT 1`,
    query_params: { id },
  };
}

export function buildTableStatsQuery(db: string): BuiltQuery {
  return {
    query:
      "SELECT table, sum(rows) AS rows, count() AS parts, sum(bytes_on_disk) AS bytes_on_disk, " +
      "sum(data_compressed_bytes) AS compressed_bytes, sum(data_uncompressed_bytes) AS uncompressed_bytes, " +
      "min(min_time) AS min_time, max(max_time) AS max_time\n" +
      "FROM system.parts WHERE database = {db:String} AND active GROUP BY table ORDER BY table",
    query_params: { db },
  };
}

export function buildSummaryQueries(db: string): { inferences: BuiltQuery; samples: BuiltQuery } {
  return {
    inferences: {
      query: `SELECT sum(request_count) AS n, min(bucket_start) AS first_day, max(bucket_start) AS last_day FROM ${db}.${Tables.inferenceRollup} WHERE grain = '1d' AND level = 'total'`,
      query_params: {},
    },
    samples: {
      query: `SELECT sum(sample_count) AS n, uniqExact(metric_type) AS types, max(bucket_start) AS last_day FROM ${db}.${Tables.sampleRollup["1d"]}`,
      query_params: {},
    },
  };
}

export function buildSampleTypesQuery(db: string): BuiltQuery {
  return {
    query: `SELECT metric_type, sum(sample_count) AS samples FROM ${db}.${Tables.sampleRollup["1d"]} GROUP BY metric_type ORDER BY metric_type LIMIT 10000`,
    query_params: {},
  };
}
