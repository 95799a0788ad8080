import { attributeAsString, type OtlpSpan } from "./decode";
import { nanosToMs } from "./convert";

/**
 * Which spans of the Bud gateway matter, and the compact form they are kept in while their trace
 * is assembled.
 *
 * The gateway (BudEcosystem/bud-runtime services/budgateway) makes per request:
 * - `gateway_analytics` (tensorzero-internal/src/analytics_middleware.rs): client, geography, HTTP
 *   request and response, blocking, and `bud.*` ids; the outermost span of the gateway's part of
 *   the trace (its parent is the caller's span when the caller sent `traceparent`);
 * - a handler span `<kind>_handler_observability` (tensorzero-internal/src/endpoints/
 *   openai_compatible.rs) two levels below it (`gateway_analytics` → the HTTP server span →
 *   handler): `model_inference.*`, `model_inference_details.*`, `chat_inference.*` and the
 *   endpoint-specific attributes;
 * - for `/v1/responses`, `response_create_handler_observability` with `gen_ai.*` attributes.
 * Every other span (function/variant/model/provider inference, the HTTP server span) is not read
 * by the mapping; only its parent link is kept, to tell which handler belongs to which request.
 */

export type SpanRole = "gateway" | "handler" | "response";

/** A span kept for assembly: JSON-serialisable (a pending store may keep it anywhere). */
export interface CompactSpan {
  role: SpanRole;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  /** Span start, epoch milliseconds (truncated, as `toDateTime64(Timestamp, 3)`). */
  startMs: number;
  /** The attributes the mapping reads, in their Collector string form (`AsString`). */
  attrs: Record<string, string>;
}

export const GATEWAY_SPAN = "gateway_analytics";
export const RESPONSE_HANDLER_SPAN = "response_create_handler_observability";
export const HANDLER_SUFFIX = "_handler_observability";

/** Attribute namespaces the mapping reads (the part of the key up to and including the first dot). */
const KEPT_PREFIXES: ReadonlySet<string> = new Set([
  "gateway_analytics.",
  "gateway_blocking_events.",
  "bud.",
  "model_inference.",
  "model_inference_details.",
  "chat_inference.",
  "audio_inference.",
  "image_inference.",
  "embedding_inference.",
  "document_inference.",
  "gen_ai.",
]);
const KEPT_KEYS = new Set(["classify_inference.id", "error.type", "error.message"]);

export function roleOf(name: string): SpanRole | undefined {
  if (name === GATEWAY_SPAN) return "gateway";
  if (name === RESPONSE_HANDLER_SPAN) return "response";
  if (name.endsWith(HANDLER_SUFFIX)) return "handler";
  return undefined;
}

function kept(key: string): boolean {
  const dot = key.indexOf(".");
  return dot > 0 && (KEPT_PREFIXES.has(key.slice(0, dot + 1)) || KEPT_KEYS.has(key));
}

/** The compact form of a span the mapping reads; undefined for every other span. */
export function compactSpan(span: OtlpSpan): CompactSpan | undefined {
  const role = roleOf(span.name);
  if (!role) return undefined;
  const attrs: Record<string, string> = {};
  for (const [key, value] of span.attributes) {
    if (!kept(key)) continue;
    const s = attributeAsString(value);
    if (s !== "") attrs[key] = s;
  }
  return {
    role,
    traceId: span.traceId,
    spanId: span.spanId,
    parentSpanId: span.parentSpanId,
    name: span.name,
    startMs: nanosToMs(span.startTimeUnixNano),
    attrs,
  };
}

/** Missing attribute ≡ "" (as a ClickHouse Map lookup). */
export function attr(span: CompactSpan | undefined, key: string): string {
  return span?.attrs[key] ?? "";
}

/** `path LIKE '/v1/%'` minus the administrative endpoints and `/v1/responses` (its own view). */
export function isInferencePath(path: string): boolean {
  return (
    path.startsWith("/v1/") &&
    !path.startsWith("/v1/files") &&
    !path.startsWith("/v1/batches") &&
    !path.startsWith("/v1/models") &&
    path !== "/v1/responses"
  );
}

/** A gateway span of a request the blocking middleware refused (its own record, no handler). */
export function isBlocked(g: CompactSpan): boolean {
  return (
    attr(g, "gateway_blocking_events.id") !== "" &&
    attr(g, "gateway_blocking_events.action_taken") === "block"
  );
}

/** A `/v1/responses` request's gateway span. */
export function isResponsesGateway(g: CompactSpan): boolean {
  return attr(g, "gateway_analytics.path") === "/v1/responses";
}

/** A response handler span the original counts (it requires the `bud.project_id` baggage). */
export function isCountedResponse(r: CompactSpan): boolean {
  return attr(r, "bud.project_id") !== "";
}

/**
 * Does this span produce or join an inference record? Gateway spans of other paths (health,
 * `/v1/models`, files, batches) and response handlers without a project are dropped at once.
 */
export function isRelevant(s: CompactSpan): boolean {
  if (s.role === "handler") return true;
  if (s.role === "response") return isCountedResponse(s);
  return isBlocked(s) || isInferencePath(attr(s, "gateway_analytics.path")) || isResponsesGateway(s);
}
