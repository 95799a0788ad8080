/** Browsing and usage use cases. Pure of HTTP and client libraries: they receive a SqlRunner. */
import { fromChDateTime, toNumber } from "@budmetrics/schema";
import { planSegments } from "../analytics/planner";
import { buildInferenceStatesQuery } from "../analytics/queries";
import { queryErrors } from "../errors";
import type { GeoLookup } from "../compat/geo";
import { intOrNull } from "../compat/shape";
import type { SqlRunner } from "../ports";
import {
  buildInferenceCountQuery,
  buildInferenceDetailQuery,
  buildInferenceListQuery,
  buildSampleTypesQuery,
  buildSummaryQueries,
  type ListSpec,
} from "./queries";

type Row = Record<string, unknown>;

const iso = (v: unknown) =>
  v === null || v === undefined ? null : new Date(fromChDateTime(String(v))).toISOString();

export function encodeCursor(v: number, id: string): string {
  return Buffer.from(JSON.stringify([v, id])).toString("base64url");
}

export function decodeCursor(text: string): { v: number; id: string } {
  try {
    const [v, id] = JSON.parse(Buffer.from(text, "base64url").toString("utf8")) as [unknown, unknown];
    if (
      typeof v === "number" &&
      Number.isFinite(v) &&
      typeof id === "string" &&
      /^[0-9a-f-]{36}$/i.test(id)
    ) {
      return { v, id };
    }
  } catch {
    // fall through
  }
  throw queryErrors.create(
    "QUERY_CURSOR_INVALID",
    "cursor is not a next_cursor value returned by this endpoint",
  );
}

/** Text or "" (the callers' models declare these as non-null strings). */
const text = (v: unknown) => (typeof v === "string" ? v : "");
const textOrNull = (v: unknown) => (typeof v === "string" && v !== "" ? v : null);

/** One list item: the callers' InferenceListItem fields (ints where they declare int), then ours. */
function listItem(r: Row) {
  return {
    inference_id: r.inference_id_t,
    timestamp: iso(r.timestamp),
    model_name: text(r.model_name),
    prompt_preview: text(r.prompt_preview_t),
    response_preview: text(r.response_preview_t),
    input_tokens: toNumber(r.input_tokens),
    output_tokens: toNumber(r.output_tokens),
    total_tokens: toNumber(r.total_tokens),
    response_time_ms: intOrNull(r.response_time_ms) ?? 0,
    cost: r.cost_f ?? null,
    is_success: Boolean(r.is_success),
    cached: Boolean(r.cached),
    project_id: textOrNull(r.project_id_t),
    api_key_project_id: textOrNull(r.api_key_project_id_t),
    endpoint_id: textOrNull(r.endpoint_id_t),
    model_id: textOrNull(r.model_id_t),
    endpoint_type: text(r.endpoint_type) || "chat",
    error_code: r.error_code ?? null,
    error_message: r.error_message ?? null,
    error_type: r.error_type ?? null,
    status_code: r.status_code ?? null,
    project_name: textOrNull(r.project_name),
    endpoint_name: textOrNull(r.endpoint_name),
    model_provider: textOrNull(r.model_provider),
    ttft_ms: intOrNull(r.ttft_ms),
    finish_reason: r.finish_reason ?? null,
  };
}

/**
 * A page of inferences. `next_cursor` (keyset pagination) is answered only to requests that carry
 * `cursor` (null for the first page): the Bud stack's list model forbids keys it does not declare.
 */
export async function listInferences(sql: SqlRunner, spec: Omit<ListSpec, "db">, withCursor: boolean) {
  const full = { ...spec, db: sql.db };
  const [rows, count] = await Promise.all([
    sql.run<Row>("list.page", buildInferenceListQuery(full)),
    sql.run<{ total: number }>("list.count", buildInferenceCountQuery(full)),
  ]);
  const hasMore = rows.length > spec.limit;
  const page = rows.slice(0, spec.limit);
  const last = page[page.length - 1];
  return {
    object: "inference_list",
    items: page.map(listItem),
    total_count: toNumber(count[0]?.total),
    offset: spec.offset,
    limit: spec.limit,
    has_more: hasMore,
    ...(withCursor
      ? {
          next_cursor:
            hasMore && last ? encodeCursor(Number(last.sort_value), String(last.inference_id_t)) : null,
        }
      : {}),
  };
}

/**
 * One inference in the callers' InferenceDetailResponse shape. Message bodies are not in the events:
 * `messages` and `output` are built from the stored previews (empty when the publisher sent none);
 * feedback is not stored (`feedback_count` 0). Extra keys (ours) are ignored by the callers.
 */
export async function getInference(sql: SqlRunner, id: string, geo: GeoLookup | null) {
  const rows = await sql.run<Row>("detail", buildInferenceDetailQuery(sql.db, id.toLowerCase()));
  const r = rows[0];
  if (!r) throw queryErrors.create("INFERENCE_NOT_FOUND", `inference ${id} not found`);
  let analysis: unknown = null;
  if (typeof r.response_analysis === "string") {
    try {
      analysis = JSON.parse(r.response_analysis);
    } catch {
      analysis = r.response_analysis;
    }
  }
  const item = listItem(r);
  const spanMessages = textOrNull(r.input_messages);
  const spanOutput = textOrNull(r.output_t);
  const systemPrompt = textOrNull(r.system_prompt);
  let messages: Array<Record<string, unknown>>;
  let output: string;
  if (spanMessages !== null || spanOutput !== null || systemPrompt !== null) {
    messages = detailMessages(spanMessages, systemPrompt, spanOutput);
    output = spanOutput ?? "";
  } else {
    // Events that carry previews only (the extended CloudEvent): the previews as one exchange.
    const prompt = text(r.prompt_preview);
    output = text(r.response_preview);
    messages = [
      ...(prompt ? [{ role: "user", content: prompt }] : []),
      ...(output ? [{ role: "assistant", content: output }] : []),
    ];
  }
  const ip = textOrNull(r.request_ip_t);
  // The gateway's own location of the client when its spans said it, else the bundled database's.
  const lookedUp = ip && geo ? geo(ip) : null;
  const storedCountry = textOrNull(r.country_code);
  const place = storedCountry
    ? {
        country_code: storedCountry,
        region: textOrNull(r.region),
        city: textOrNull(r.city),
        latitude: lookedUp?.country_code === storedCountry ? lookedUp.latitude : null,
        longitude: lookedUp?.country_code === storedCountry ? lookedUp.longitude : null,
      }
    : lookedUp;
  const blocked = r.is_blocked === true || r.is_blocked === 1 || r.record_kind === "blocked";
  const metadata = {
    client_ip: ip,
    country_code: place?.country_code ?? null,
    region: place?.region ?? null,
    city: place?.city ?? null,
    latitude: place?.latitude ?? null,
    longitude: place?.longitude ?? null,
    user_agent: textOrNull(r.user_agent),
    device_type: textOrNull(r.device_type),
    browser_name: textOrNull(r.browser_name),
    os_name: textOrNull(r.os_name),
    method: textOrNull(r.method),
    path: textOrNull(r.path),
    api_key_id: r.api_key_id_t ?? null,
    user_id: r.user_id_t ?? null,
    gateway_processing_ms: intOrNull(r.gateway_processing_ms),
    total_duration_ms: intOrNull(r.total_duration_ms),
    status_code: r.status_code ?? null,
    error_type: r.error_type ?? null,
    error_message: r.error_message ?? null,
    is_blocked: blocked,
    block_reason: textOrNull(r.block_reason),
    block_rule_id: textOrNull(r.rule_id_t),
  };
  return {
    object: "inference_detail",
    ...item,
    model_provider: text(r.model_provider) || "unknown",
    model_display_name: null,
    system_prompt: systemPrompt,
    messages,
    output,
    function_name: null,
    variant_name: null,
    episode_id: null,
    processing_time_ms: null,
    request_ip: ip,
    request_arrival_time: item.timestamp,
    request_forward_time: iso(r.request_forward_time),
    raw_request: null,
    raw_response: null,
    gateway_request: null,
    gateway_response: null,
    gateway_metadata: Object.values(metadata).some((v) => v !== null) ? metadata : null,
    feedback_count: 0,
    average_rating: null,
    embedding_details: null,
    audio_details: null,
    image_details: null,
    moderation_details: null,
    api_key_id: r.api_key_id_t ?? null,
    user_id: r.user_id_t ?? null,
    response_analysis: analysis,
    cluster_id: r.cluster_id || null,
    prompt_id: r.prompt_id ?? null,
    prompt_preview: r.prompt_preview ?? null,
    response_preview: r.response_preview ?? null,
    trace_id: textOrNull(r.trace_id),
    record_kind: text(r.record_kind) || "inference",
    response_id: textOrNull(r.response_id),
    event_id: r.event_id,
    event_source: r.event_source,
    received_at: iso(r.received_at),
  };
}

/**
 * The detail's `messages` as the original builds them from the gateway's recorded texts: the system
 * prompt first, then the input messages (a JSON list, or an object's `messages` list; text that is not
 * JSON is one user message), then the output as the assistant's message (parsed when it is JSON).
 */
export function detailMessages(
  input: string | null,
  systemPrompt: string | null,
  output: string | null,
): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  if (systemPrompt) out.push({ role: "system", content: systemPrompt });
  if (input) {
    try {
      const parsed: unknown = JSON.parse(input);
      const list = Array.isArray(parsed)
        ? parsed
        : parsed !== null &&
            typeof parsed === "object" &&
            Array.isArray((parsed as { messages?: unknown }).messages)
          ? (parsed as { messages: unknown[] }).messages
          : [];
      for (const m of list)
        if (m !== null && typeof m === "object" && !Array.isArray(m)) out.push(m as Record<string, unknown>);
    } catch {
      out.push({ role: "user", content: input });
    }
  }
  if (output) {
    let content: unknown = output;
    try {
      content = JSON.parse(output);
    } catch {
      // plain text
    }
    out.push({ role: "assistant", content });
  }
  return out;
}

/** Feedback of an inference: none is stored yet, so the callers' empty answer (as the original's for an id without feedback). */
export function inferenceFeedback(id: string) {
  return { object: "inference_feedback", inference_id: id.toLowerCase(), feedback_items: [], total_count: 0 };
}

const USAGE_AGGS = [
  "requests",
  "success",
  "input_tokens",
  "output_tokens",
  "cost",
  "latency_count",
  "latency_sum",
  "users",
] as const;

function usageNumbers(r: Row | undefined) {
  const requests = toNumber(r?.a_requests);
  const success = toNumber(r?.a_success);
  const input = toNumber(r?.a_input_tokens);
  const output = toNumber(r?.a_output_tokens);
  const latCount = toNumber(r?.a_latency_count);
  return {
    total_requests: requests,
    successful_requests: success,
    failed_requests: requests - success,
    success_rate: requests === 0 ? null : (success / requests) * 100,
    input_tokens: input,
    output_tokens: output,
    total_tokens: input + output,
    total_cost: Number(r?.a_cost ?? 0),
    avg_latency_ms: latCount === 0 ? null : toNumber(r?.a_latency_sum) / latCount,
    unique_users: toNumber(r?.a_users),
  };
}

export async function usageByProject(sql: SqlRunner, spec: { fromMs: number; toMs: number; limit: number }) {
  const edges = [spec.fromMs, spec.toMs];
  const rows = await sql.run<Row>(
    "usage_by_project",
    buildInferenceStatesQuery({
      db: sql.db,
      edges,
      segments: planSegments(edges, false),
      dims: ["project"],
      filters: {},
      aggs: [...USAGE_AGGS],
    }),
  );
  const items = rows
    .map((r) => ({ project_id: r.g_project_id, project_name: r.g_project_name, ...usageNumbers(r) }))
    .sort(
      (a, b) =>
        b.total_requests - a.total_requests || String(a.project_id).localeCompare(String(b.project_id)),
    );
  return {
    object: "usage_by_project",
    from_date: new Date(spec.fromMs).toISOString(),
    to_date: new Date(spec.toMs).toISOString(),
    total_projects: items.length,
    items: items.slice(0, spec.limit),
  };
}

export async function metricsSummary(sql: SqlRunner) {
  const q = buildSummaryQueries(sql.db);
  const [inf, smp] = await Promise.all([
    sql.run<Row>("summary", q.inferences),
    sql.run<Row>("summary", q.samples),
  ]);
  const n = toNumber(inf[0]?.n);
  const s = toNumber(smp[0]?.n);
  return {
    object: "metrics_summary",
    inference_count: n,
    first_inference_day: n > 0 ? iso(inf[0]?.first_day) : null,
    last_inference_day: n > 0 ? iso(inf[0]?.last_day) : null,
    metric_sample_count: s,
    metric_sample_types: toNumber(smp[0]?.types),
    last_sample_day: s > 0 ? iso(smp[0]?.last_day) : null,
  };
}

export async function sampleTypes(sql: SqlRunner) {
  const rows = await sql.run<{ metric_type: string; samples: number }>(
    "metric_types",
    buildSampleTypesQuery(sql.db),
  );
  return rows.map((r) => ({ name: r.metric_type, samples: toNumber(r.samples) }));
}
