import { createHash } from "node:crypto";
import { dateTimeMs, f32, f64, i32, ipv4, isoMs, str, u16, u32, u64, u8, uuid } from "./convert";
import { attr, type CompactSpan } from "./spans";

/**
 * Spans of one request → one inference record, with the column rules of the original service
 * (BudEcosystem/bud-runtime services/budmetrics/scripts/migrate_clickhouse.py):
 * - `mapInference`  — `mv_otel_to_inference_fact`: a `gateway_analytics` span of a `/v1/*`
 *   inference path and its handler span (handler first, gateway as fallback, per column);
 * - `mapBlocked`    — `mv_otel_blocking_to_inference_fact`: a request the blocking middleware
 *   refused (`endpoint_type` "blocked", `error_code` "BLOCKED", tokens 0);
 * - `mapResponse`   — `mv_otel_response_to_inference_fact`: a `/v1/responses` request from its
 *   `response_create_handler_observability` span and its gateway span.
 *
 * Field names are those of the inference event data (packages/schema InferenceData) where the
 * field exists there; the other fields are the original's InferenceFact column names. A value the
 * original would store as NULL is null here; nothing is defaulted (see `withDefaults`), so a
 * record can be merged with the CloudEvent of the same inference field by field.
 */

export type EndpointType =
  | "chat"
  | "completion"
  | "embedding"
  | "anthropic"
  | "audio_transcription"
  | "audio_translation"
  | "text_to_speech"
  | "image_generation"
  | "image_edit"
  | "image_variation"
  | "moderation"
  | "classify"
  | "document"
  | "response"
  | "realtime"
  | "realtime_transcription"
  | "blocked"
  | "unknown";

export type FinishReason = "stop" | "length" | "tool_call" | "content_filter" | "unknown";

/** Which view of the original the record corresponds to. */
export type RecordKind = "inference" | "blocked" | "response";

export interface SpanInference {
  kind: RecordKind;
  /**
   * Identity of the record: the inference id when the spans carry one, else an id derived from
   * the trace and span ids (UUID version 8, see `derivedRecordId`) so that a resent span gives the
   * same record.
   */
  record_id: string;
  trace_id: string;
  span_id: string;
  /** Record time: start of the gateway span (of the handler span without one), RFC 3339 UTC ms. */
  timestamp: string;

  // ---- fields of the inference event data (InferenceData) ----
  inference_id: string | null;
  project_id: string | null;
  endpoint_id: string | null;
  model_id: string | null;
  is_success: boolean | null;
  request_arrival_time: string | null;
  request_forward_time: string | null;
  request_ip: string | null;
  cost: number | null;
  response_analysis: Record<string, unknown> | null;
  api_key_id: string | null;
  user_id: string | null;
  api_key_project_id: string | null;
  error_code: string | null;
  error_message: string | null;
  error_type: string | null;
  status_code: number | null;
  model_name: string | null;
  model_provider: string | null;
  endpoint_type: EndpointType | string | null;
  input_tokens: number | null;
  output_tokens: number | null;
  response_time_ms: number | null;
  ttft_ms: number | null;
  cached: boolean | null;
  finish_reason: FinishReason | null;
  prompt_id: string | null;

  // ---- new: model inference detail (inference detail endpoint) ----
  inference_cost: number | null;
  model_inference_id: string | null;
  system_prompt: string | null;
  input_messages: string | null;
  output: string | null;
  raw_request: string | null;
  raw_response: string | null;
  gateway_request: string | null;
  gateway_response: string | null;
  guardrail_scan_summary: string | null;
  model_inference_timestamp: number | null;
  chat_inference_id: string | null;
  episode_id: string | null;
  function_name: string | null;
  variant_name: string | null;
  processing_time_ms: number | null;
  chat_input: string | null;
  chat_output: string | null;
  tags: string | null;
  inference_params: string | null;
  extra_body: string | null;
  tool_params: string | null;

  // ---- new: gateway analytics (geography and gateway endpoints) ----
  country_code: string | null;
  country_name: string | null;
  region: string | null;
  city: string | null;
  latitude: number | null;
  longitude: number | null;
  timezone: string | null;
  asn: number | null;
  isp: string | null;
  client_ip: string | null;
  user_agent: string | null;
  device_type: string | null;
  browser_name: string | null;
  browser_version: string | null;
  os_name: string | null;
  os_version: string | null;
  is_bot: boolean | null;
  method: string | null;
  path: string | null;
  query_params: string | null;
  body_size: number | null;
  response_size: number | null;
  protocol_version: string | null;
  gateway_processing_ms: number | null;
  total_duration_ms: number | null;
  model_version: string | null;
  routing_decision: string | null;
  is_blocked: boolean | null;
  block_reason: string | null;
  block_rule_id: string | null;
  proxy_chain: string | null;
  request_headers: string | null;
  response_headers: string | null;
  request_timestamp: string | null;
  response_timestamp: string | null;
  gateway_tags: string | null;

  // ---- new: blocking event ----
  blocking_event_id: string | null;
  rule_id: string | null;
  rule_type: string | null;
  rule_name: string | null;
  rule_priority: number | null;
  block_reason_detail: string | null;
  action_taken: string | null;
  blocked_at: string | null;

  // ---- new: prompts and responses (/v1/responses) ----
  client_prompt_id: string | null;
  prompt_version: string | null;
  prompt_version_id: string | null;
  prompt_variables: string | null;
  response_id: string | null;
  response_status: string | null;

  // ---- new: endpoint-specific ----
  audio_duration_seconds: number | null;
  audio_language: string | null;
  audio_detected_language: string | null;
  audio_voice: string | null;
  audio_response_format: string | null;
  tts_character_count: number | null;
  images_generated: number | null;
  image_size: string | null;
  image_quality: string | null;
  image_style: string | null;
  embedding_input_count: number | null;
  embedding_dimensions: number | null;
  embedding_encoding_format: string | null;
  document_page_count: number | null;
}

export interface MapResult {
  record: SpanInference;
  /** Attribute values that were present but could not be used (the field is null), for logs. */
  problems: string[];
}

/** First non-null. */
function coalesce<T>(...values: Array<T | null>): T | null {
  for (const v of values) if (v !== null) return v;
  return null;
}

function iso(ms: number | null): string | null {
  return ms === null ? null : isoMs(ms);
}

/**
 * A record id for a request whose spans carry no inference id (blocked, refused before the
 * handler): UUID version 8 whose first 48 bits are the span's start in milliseconds (so ids sort
 * by time like the gateway's UUIDv7 inference ids) and whose other bits are SHA-256 of
 * `traceId/spanId`. The same span always gives the same id; version 8 tells it from a gateway id.
 */
export function derivedRecordId(traceId: string, spanId: string, startMs: number): string {
  const h = createHash("sha256").update(`${traceId}/${spanId}`).digest("hex");
  const time = Math.max(0, Math.min(startMs, 2 ** 48 - 1))
    .toString(16)
    .padStart(12, "0");
  const variant = ((parseInt(h[3]!, 16) & 0x3) | 0x8).toString(16);
  const hex = time + "8" + h.slice(0, 3) + variant + h.slice(4, 19);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** The path rule of the main view, tested in this order (`LIKE '%…%'`). */
const PATH_TYPES: ReadonlyArray<[string, EndpointType]> = [
  ["/chat/completions", "chat"],
  ["/completions", "completion"],
  ["/embeddings", "embedding"],
  ["/messages", "anthropic"],
  ["/audio/transcriptions", "audio_transcription"],
  ["/audio/translations", "audio_translation"],
  ["/audio/speech", "text_to_speech"],
  ["/images/generations", "image_generation"],
  ["/images/edits", "image_edit"],
  ["/images/variations", "image_variation"],
  ["/moderations", "moderation"],
  ["/classify", "classify"],
  ["/documents", "document"],
  ["/responses", "response"],
  ["/realtime", "realtime"],
];

export function endpointTypeOfPath(path: string): EndpointType {
  for (const [part, type] of PATH_TYPES) if (path.includes(part)) return type;
  return "unknown";
}

/**
 * A handler span alone (its gateway span never came): the type its name stands for
 * (`embedding_handler_observability` → embedding; the chat handler is `inference_…`).
 */
export function endpointTypeOfHandler(name: string): EndpointType | string {
  const base = name.replace(/_handler_observability$/, "");
  return base === "inference" ? "chat" : base;
}

const FINISH: ReadonlySet<string> = new Set(["stop", "length", "tool_call", "content_filter"]);

function finishReason(s: string): FinishReason | null {
  if (s === "") return null;
  return FINISH.has(s) ? (s as FinishReason) : "unknown";
}

/** Collects "key: value is not a …" for attributes present but unusable. */
class Reader {
  readonly problems: string[] = [];
  constructor(private readonly span: CompactSpan | undefined) {}

  raw(key: string): string {
    return attr(this.span, key);
  }
  private check<T>(key: string, what: string, f: (s: string) => T | null): T | null {
    const s = this.raw(key);
    if (s === "") return null;
    const v = f(s);
    if (v === null) this.problems.push(`${key}: ${JSON.stringify(s.slice(0, 80))} is not ${what}`);
    return v;
  }
  str(key: string): string | null {
    return str(this.raw(key));
  }
  uuid(key: string): string | null {
    return this.check(key, "a UUID", uuid);
  }
  u8(key: string): number | null {
    return this.check(key, "a UInt8", u8);
  }
  u16(key: string): number | null {
    return this.check(key, "a UInt16", u16);
  }
  u32(key: string): number | null {
    return this.check(key, "a UInt32", u32);
  }
  u64(key: string): number | null {
    return this.check(key, "a UInt64", u64);
  }
  i32(key: string): number | null {
    return this.check(key, "an Int32", i32);
  }
  f64(key: string): number | null {
    return this.check(key, "a number", f64);
  }
  f32(key: string): number | null {
    return this.check(key, "a number", f32);
  }
  ipv4(key: string): string | null {
    return this.check(key, "an IPv4 address", ipv4);
  }
  time(key: string): string | null {
    return iso(this.check(key, "a date-time", dateTimeMs));
  }
  bool(key: string): boolean {
    return this.raw(key) === "true";
  }
}

/** JSON text of an object → the object (response_analysis is an object in the event data). */
function jsonObject(s: string | null, problems: string[], key: string): Record<string, unknown> | null {
  if (s === null) return null;
  try {
    const v: unknown = JSON.parse(s);
    if (typeof v === "object" && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // fall through
  }
  problems.push(`${key}: is not a JSON object`);
  return null;
}

/** Columns read from the gateway span, identical in the three views. */
function gatewayColumns(g: Reader) {
  return {
    country_code: g.str("gateway_analytics.country_code"),
    country_name: g.str("gateway_analytics.country_name"),
    region: g.str("gateway_analytics.region"),
    city: g.str("gateway_analytics.city"),
    latitude: g.f32("gateway_analytics.latitude"),
    longitude: g.f32("gateway_analytics.longitude"),
    timezone: g.str("gateway_analytics.timezone"),
    asn: g.u32("gateway_analytics.asn"),
    isp: g.str("gateway_analytics.isp"),
    // "unknown" (no forwarding header) and IPv6 are NULL in the original; not a problem.
    client_ip: ipv4(g.raw("gateway_analytics.client_ip")),
    user_agent: g.str("gateway_analytics.user_agent"),
    device_type: g.str("gateway_analytics.device_type"),
    browser_name: g.str("gateway_analytics.browser_name"),
    browser_version: g.str("gateway_analytics.browser_version"),
    os_name: g.str("gateway_analytics.os_name"),
    os_version: g.str("gateway_analytics.os_version"),
    method: g.str("gateway_analytics.method"),
    path: g.str("gateway_analytics.path"),
    query_params: g.str("gateway_analytics.query_params"),
    body_size: g.u32("gateway_analytics.body_size"),
    response_size: g.u32("gateway_analytics.response_size"),
    protocol_version: g.str("gateway_analytics.protocol_version"),
    gateway_processing_ms: g.u32("gateway_analytics.gateway_processing_ms"),
    total_duration_ms: g.u32("gateway_analytics.total_duration_ms"),
    model_version: g.str("gateway_analytics.model_version"),
    routing_decision: g.str("gateway_analytics.routing_decision"),
    block_reason: g.str("gateway_analytics.block_reason"),
    block_rule_id: g.str("gateway_analytics.block_rule_id"),
    proxy_chain: g.str("gateway_analytics.proxy_chain"),
    request_headers: g.str("gateway_analytics.request_headers"),
    response_headers: g.str("gateway_analytics.response_headers"),
    request_timestamp: g.time("gateway_analytics.request_timestamp"),
    response_timestamp: g.time("gateway_analytics.response_timestamp"),
    gateway_tags: g.str("gateway_analytics.tags"),
    blocking_event_id: g.uuid("gateway_blocking_events.id"),
    rule_id: g.uuid("gateway_blocking_events.rule_id"),
    rule_type: g.str("gateway_blocking_events.rule_type"),
    rule_name: g.str("gateway_blocking_events.rule_name"),
    rule_priority: g.i32("gateway_blocking_events.rule_priority"),
    block_reason_detail: g.str("gateway_blocking_events.block_reason"),
    action_taken: g.str("gateway_blocking_events.action_taken"),
    blocked_at: g.time("gateway_blocking_events.blocked_at"),
  };
}

const NO_ENDPOINT_COLUMNS = {
  audio_duration_seconds: null,
  audio_language: null,
  audio_detected_language: null,
  audio_voice: null,
  audio_response_format: null,
  tts_character_count: null,
  images_generated: null,
  image_size: null,
  image_quality: null,
  image_style: null,
  embedding_input_count: null,
  embedding_dimensions: null,
  embedding_encoding_format: null,
  document_page_count: null,
} as const;

const NO_PROMPT_COLUMNS = {
  prompt_id: null,
  client_prompt_id: null,
  prompt_version: null,
  prompt_version_id: null,
  prompt_variables: null,
  response_id: null,
  response_status: null,
} as const;

/**
 * `mv_otel_to_inference_fact`: the gateway span `g` of a `/v1/*` inference request and its handler
 * span `h`. Either may be missing (the original writes a row from `g` alone when the handler is not
 * joined; a record from `h` alone is written here when the gateway span never comes).
 */
export function mapInference(g: CompactSpan | undefined, h: CompactSpan | undefined): MapResult {
  const anchor = g ?? h;
  if (!anchor) throw new Error("mapInference needs a gateway or a handler span");
  const G = new Reader(g);
  const H = new Reader(h);

  const hStatus = H.u16("model_inference_details.status_code");
  const gStatus = G.u16("gateway_analytics.status_code");
  const successAttr = H.raw("model_inference_details.is_success");
  let is_success: boolean | null;
  if (successAttr === "true") is_success = true;
  else if (successAttr === "false") is_success = false;
  else if (hStatus !== null || gStatus !== null) is_success = (hStatus ?? gStatus)! < 400;
  else is_success = null; // the original's default status 500: false (applied in withDefaults)

  const classifyId = uuid(H.raw("classify_inference.id").replace("infinity-", ""));
  const inference_id = coalesce(
    H.uuid("model_inference_details.inference_id"),
    classifyId,
    G.uuid("gateway_analytics.inference_id"),
  );
  const handlerType = H.raw("model_inference.endpoint_type");
  const path = G.raw("gateway_analytics.path");

  const record: SpanInference = {
    kind: "inference",
    record_id: inference_id ?? derivedRecordId(anchor.traceId, anchor.spanId, anchor.startMs),
    trace_id: anchor.traceId,
    span_id: h?.spanId ?? g!.spanId,
    timestamp: isoMs(anchor.startMs),

    inference_id,
    project_id: coalesce(H.uuid("model_inference_details.project_id"), G.uuid("bud.project_id")),
    endpoint_id: coalesce(H.uuid("model_inference_details.endpoint_id"), G.uuid("bud.endpoint_id")),
    model_id: H.uuid("model_inference_details.model_id"),
    is_success,
    request_arrival_time: H.time("model_inference_details.request_arrival_time"),
    request_forward_time: H.time("model_inference_details.request_forward_time"),
    request_ip: H.ipv4("model_inference_details.request_ip"),
    cost: H.f64("model_inference_details.cost"),
    response_analysis: jsonObject(
      H.str("model_inference_details.response_analysis"),
      H.problems,
      "model_inference_details.response_analysis",
    ),
    api_key_id: coalesce(H.uuid("model_inference_details.api_key_id"), G.uuid("bud.api_key_id")),
    user_id: coalesce(H.str("model_inference_details.user_id"), G.str("bud.user_id")),
    // The original falls back to bud.project_id here (not bud.api_key_project_id).
    api_key_project_id: coalesce(
      H.uuid("model_inference_details.api_key_project_id"),
      G.uuid("bud.project_id"),
    ),
    error_code: H.str("model_inference_details.error_code"),
    error_message: coalesce(
      H.str("model_inference_details.error_message"),
      H.str("error.message"),
      G.str("gateway_analytics.error_message"),
    ),
    error_type: coalesce(
      H.str("model_inference_details.error_type"),
      H.str("error.type"),
      G.str("gateway_analytics.error_type"),
    ),
    status_code: coalesce(hStatus, gStatus),
    model_name: coalesce(H.str("model_inference.model_name"), G.str("gateway_analytics.model_name")),
    model_provider: coalesce(
      H.str("model_inference.model_provider_name"),
      G.str("gateway_analytics.model_provider"),
    ),
    endpoint_type:
      handlerType !== "" ? handlerType : g ? endpointTypeOfPath(path) : endpointTypeOfHandler(h!.name),
    input_tokens: H.u32("model_inference.input_tokens"),
    output_tokens: H.u32("model_inference.output_tokens"),
    response_time_ms: H.u32("model_inference.response_time_ms"),
    ttft_ms: H.u32("model_inference.ttft_ms"),
    cached: h ? H.bool("model_inference.cached") : null,
    finish_reason: finishReason(H.raw("model_inference.finish_reason")),

    inference_cost: H.f64("model_inference_details.inference_cost"),
    model_inference_id: H.uuid("model_inference.id"),
    system_prompt: H.str("model_inference.system"),
    input_messages: H.str("model_inference.input_messages"),
    output: H.str("model_inference.output"),
    raw_request: H.str("model_inference.raw_request"),
    raw_response: H.str("model_inference.raw_response"),
    gateway_request: H.str("model_inference.gateway_request"),
    gateway_response: H.str("model_inference.gateway_response"),
    guardrail_scan_summary: H.str("model_inference.guardrail_scan_summary"),
    model_inference_timestamp: H.u64("model_inference.timestamp"),
    chat_inference_id: H.uuid("chat_inference.id"),
    episode_id: H.uuid("chat_inference.episode_id"),
    function_name: H.str("chat_inference.function_name"),
    variant_name: H.str("chat_inference.variant_name"),
    processing_time_ms: H.u32("chat_inference.processing_time_ms"),
    chat_input: H.str("chat_inference.input"),
    chat_output: H.str("chat_inference.output"),
    tags: H.str("chat_inference.tags"),
    inference_params: H.str("chat_inference.inference_params"),
    extra_body: H.str("chat_inference.extra_body"),
    tool_params: H.str("chat_inference.tool_params"),

    ...gatewayColumns(G),
    is_bot: g ? G.bool("gateway_analytics.is_bot") : null,
    is_blocked: g ? G.bool("gateway_analytics.is_blocked") : null,

    ...NO_PROMPT_COLUMNS,

    audio_duration_seconds: H.f32("audio_inference.duration_seconds"),
    audio_language: H.str("audio_inference.language"),
    audio_detected_language: H.str("audio_inference.detected_language"),
    audio_voice: H.str("audio_inference.voice"),
    audio_response_format: H.str("audio_inference.response_format"),
    tts_character_count: H.u32("audio_inference.character_count"),
    images_generated: H.u8("image_inference.images_generated"),
    image_size: H.str("image_inference.size"),
    image_quality: H.str("image_inference.quality"),
    image_style: H.str("image_inference.style"),
    embedding_input_count: H.u32("embedding_inference.input_count"),
    embedding_dimensions: H.u32("embedding_inference.dimensions"),
    embedding_encoding_format: H.str("embedding_inference.encoding_format"),
    document_page_count: H.u16("document_inference.page_count"),
  };
  return { record, problems: [...H.problems, ...G.problems] };
}

/** `mv_otel_blocking_to_inference_fact`: a refused request, from its gateway span alone. */
export function mapBlocked(g: CompactSpan): MapResult {
  const G = new Reader(g);
  const requestTime = G.time("gateway_analytics.request_timestamp");
  const record: SpanInference = {
    kind: "blocked",
    record_id: derivedRecordId(g.traceId, g.spanId, g.startMs),
    trace_id: g.traceId,
    span_id: g.spanId,
    timestamp: isoMs(g.startMs),

    inference_id: null,
    project_id: G.uuid("bud.project_id"),
    endpoint_id: G.uuid("bud.endpoint_id"),
    model_id: G.uuid("gateway_analytics.model_id"),
    is_success: false,
    request_arrival_time: requestTime,
    request_forward_time: requestTime,
    request_ip: ipv4(G.raw("gateway_analytics.client_ip")),
    cost: null,
    response_analysis: null,
    api_key_id: G.uuid("bud.api_key_id"),
    user_id: G.str("bud.user_id"),
    api_key_project_id: null,
    error_code: "BLOCKED",
    error_message: G.str("gateway_analytics.error_message"),
    error_type: G.str("gateway_analytics.error_type"),
    status_code: G.u16("gateway_analytics.status_code"),
    // The blocking view reads these without nullIf: "" when absent.
    model_name: G.raw("gateway_analytics.model_name"),
    model_provider: G.raw("gateway_analytics.model_provider"),
    endpoint_type: "blocked",
    input_tokens: 0,
    output_tokens: 0,
    response_time_ms: null,
    ttft_ms: null,
    cached: false,
    finish_reason: null,

    inference_cost: null,
    model_inference_id: null,
    system_prompt: null,
    input_messages: null,
    output: null,
    raw_request: null,
    raw_response: null,
    gateway_request: null,
    gateway_response: null,
    guardrail_scan_summary: null,
    model_inference_timestamp: null,
    chat_inference_id: null,
    episode_id: null,
    function_name: null,
    variant_name: null,
    processing_time_ms: null,
    chat_input: null,
    chat_output: null,
    tags: null,
    inference_params: null,
    extra_body: null,
    tool_params: null,

    ...gatewayColumns(G),
    is_bot: G.bool("gateway_analytics.is_bot"),
    is_blocked: true,

    ...NO_PROMPT_COLUMNS,
    ...NO_ENDPOINT_COLUMNS,
  };
  return { record, problems: G.problems };
}

/**
 * `mv_otel_response_to_inference_fact`: a `/v1/responses` request from its response handler span
 * `r`, its gateway span `g` (path `/v1/responses`) when known, and `innerCost`, the sum of
 * `model_inference_details.inference_cost` over the inner handler spans of the trace (used for a
 * failed response that carries no cost of its own).
 */
export function mapResponse(r: CompactSpan, g: CompactSpan | undefined, innerCost: number | null): MapResult {
  const R = new Reader(r);
  const G = new Reader(g);
  const failed =
    R.raw("error.type") !== "" ||
    R.raw("error.message") !== "" ||
    R.raw("gen_ai.response.status") === "failed";
  const ownCost = R.f64("gen_ai.inference_cost");
  const temperature = R.raw("gen_ai.request.temperature");
  const maxTokens = R.raw("gen_ai.request.max_tokens");
  const params: string[] = [];
  if (temperature !== "") params.push(`"temperature":${temperature}`);
  if (maxTokens !== "") params.push(`"max_tokens":${maxTokens}`);
  const inference_id = R.uuid("gen_ai.inference_id");

  const record: SpanInference = {
    kind: "response",
    record_id: inference_id ?? derivedRecordId(r.traceId, r.spanId, r.startMs),
    trace_id: r.traceId,
    span_id: r.spanId,
    timestamp: isoMs(r.startMs),

    inference_id,
    project_id: R.uuid("bud.project_id"),
    endpoint_id: R.uuid("bud.endpoint_id"),
    model_id: R.uuid("bud.model_id"),
    is_success: !failed,
    request_arrival_time: R.time("gen_ai.request_arrival_time"),
    request_forward_time: R.time("gen_ai.request_forward_time"),
    request_ip: g ? ipv4(G.raw("gateway_analytics.client_ip")) : null,
    cost: null,
    response_analysis: null,
    api_key_id: R.uuid("bud.api_key_id"),
    user_id: R.str("bud.user_id"),
    api_key_project_id: R.uuid("bud.api_key_project_id"),
    error_code: R.str("error.type"),
    error_message: R.str("error.message"),
    error_type: R.str("error.type"),
    status_code: G.u16("gateway_analytics.status_code"),
    // The original stores the model *id* string as the name.
    model_name: R.raw("bud.model_id"),
    model_provider: "budprompt",
    endpoint_type: "response",
    input_tokens: R.u32("gen_ai.usage.input_tokens"),
    output_tokens: R.u32("gen_ai.usage.output_tokens"),
    response_time_ms: R.u32("gen_ai.response_time_ms"),
    ttft_ms: R.u32("gen_ai.ttft_ms"),
    cached: false,
    finish_reason: null,

    inference_cost: failed && ownCost === null ? innerCost : ownCost,
    model_inference_id: null,
    system_prompt: R.str("gen_ai.system.instructions"),
    input_messages: R.str("gen_ai.input.messages"),
    output: R.str("gen_ai.output.messages"),
    raw_request: R.str("gen_ai.raw_request"),
    raw_response: R.str("gen_ai.raw_response"),
    gateway_request: R.str("gen_ai.gateway_request"),
    gateway_response: R.str("gen_ai.gateway_response"),
    guardrail_scan_summary: null,
    model_inference_timestamp: null,
    chat_inference_id: null,
    episode_id: null,
    function_name: null,
    variant_name: null,
    processing_time_ms: R.u32("gen_ai.processing_time_ms"),
    chat_input: null,
    chat_output: null,
    tags: null,
    inference_params: params.length > 0 ? `{${params.join(",")}}` : null,
    extra_body: null,
    tool_params: R.str("gen_ai.request.tools"),

    ...gatewayColumns(G),
    is_bot: g ? G.bool("gateway_analytics.is_bot") : null,
    is_blocked: g ? G.bool("gateway_analytics.is_blocked") : null,

    prompt_id: R.str("bud.prompt_id"),
    client_prompt_id: R.str("gen_ai.prompt.id"),
    prompt_version: R.str("gen_ai.prompt.version"),
    prompt_version_id: R.uuid("bud.prompt_version_id"),
    prompt_variables: R.str("gen_ai.prompt.variables"),
    response_id: R.str("gen_ai.response.id"),
    response_status: R.str("gen_ai.response.status"),

    ...NO_ENDPOINT_COLUMNS,
  };
  return { record, problems: [...R.problems, ...G.problems] };
}

/**
 * The defaults the original's columns give a value it could not derive: `is_success` false (no
 * status at all counts as status 500), `model_name`/`model_provider` "", `cached`, `is_bot`,
 * `is_blocked` false. Applied after merging with a CloudEvent, so a CloudEvent's value is never
 * hidden behind a default.
 */
export function withDefaults(r: SpanInference): SpanInference {
  return applyDefaults(Object.assign({}, r));
}

/** `withDefaults` in place (for a copy the caller owns). */
export function applyDefaults<T extends SpanInference>(r: T): T {
  r.is_success = r.is_success ?? false;
  r.model_name = r.model_name ?? "";
  r.model_provider = r.model_provider ?? "";
  r.cached = r.cached ?? false;
  r.is_bot = r.is_bot ?? false;
  r.is_blocked = r.is_blocked ?? false;
  return r;
}
