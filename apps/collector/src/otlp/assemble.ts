import type { InferenceData } from "@budmetrics/schema";
import { f64 } from "./convert";
import { applyDefaults, mapBlocked, mapInference, mapResponse, type SpanInference } from "./map";
import {
  attr,
  isBlocked,
  isCountedResponse,
  isInferencePath,
  isResponsesGateway,
  type CompactSpan,
} from "./spans";

/**
 * Assembly of the spans of one trace into inference records, whatever the order and the requests
 * they arrive in, and the merge with the CloudEvent of the same inference. Pure: every function
 * here maps a state and an input to the next state and what to emit; `otlp-ingest.ts` runs them
 * against a `PendingStore` and a record sink. docs/OTLP.md explains the design.
 *
 * A trace's state holds its pending spans (not yet part of an emitted record), the parent link of
 * every span seen (to tell which handler belongs to which gateway span), and what was already
 * emitted (span ids, inference ids) so that a late or resent span never produces a second record.
 *
 * Units — what becomes one record:
 * - blocked request: a gateway span with a blocking event whose action is "block" — complete;
 * - inference: a gateway span of a `/v1/*` inference path with its handler span — complete when
 *   both are there; a handler is paired with a gateway span when their inference ids are equal,
 *   else when the handler descends from it (parent links), else — only once the time bound has
 *   passed — when the trace holds exactly one unpaired gateway span and one unpaired handler (the
 *   original's join on TraceId, which its tests expect). Other handlers below the same gateway span
 *   (the `/v1/messages` wrapper around the chat handler) are absorbed, not counted again;
 * - response: a `response_create_handler_observability` span (with `bud.project_id`) and its
 *   `/v1/responses` gateway span — complete when both are there.
 * An incomplete unit is emitted as it is when the trace's time bound passes (`final`): a gateway
 * span alone gives the record the original writes in that case; a handler alone gives a record the
 * original never writes (it needs the gateway span); a `/v1/responses` gateway span alone gives none.
 */

export interface TraceState {
  traceId: string;
  /** Spans not yet part of an emitted record. */
  pending: CompactSpan[];
  /** spanId → parentSpanId of every span seen in the trace (bounded by MAX_LINKS). */
  links: Record<string, string>;
  /** Span ids already part of an emitted record (or absorbed by one). */
  doneSpans: string[];
  /** Inference ids of emitted records, and of the gateway and handler spans in them. */
  doneIds: string[];
  /** The gateway spans among `doneSpans`. */
  doneGateways: string[];
  /** `model_inference_details.inference_cost` of every handler seen (for failed /v1/responses). */
  handlerCosts: Record<string, number>;
  /** When the oldest pending span arrived (epoch ms); 0 when nothing is pending. */
  firstPendingMs: number;
  /**
   * When the store must hand this trace to `finalizeTrace`: first pending arrival + bound while
   * spans are pending, else the end of the retention of the done markers (then it is deleted).
   */
  dueMs: number;
}

export interface AssemblyConfig {
  /** How long an incomplete unit waits for its other spans (and a held CloudEvent for its spans). */
  boundMs: number;
  /** How long emitted span and inference ids are remembered to recognise late spans. */
  retainMs: number;
}

/** Parent links kept per trace: enough for every gateway request of a large agent trace. */
export const MAX_LINKS = 4096;

export interface SpanIntake {
  /** Relevant spans of this trace, compact (see spans.ts). */
  spans: CompactSpan[];
  /** Parent links of every span of this trace in the request, relevant or not. */
  links: Array<[spanId: string, parentSpanId: string]>;
}

export interface AddOutcome {
  state: TraceState;
  /** Spans kept pending for the first time. */
  added: number;
  /** Spans already pending or already emitted (a resent request). */
  duplicates: number;
  /** Spans that belong to an already emitted record (arrived after the time bound): dropped. */
  late: number;
}

export function emptyTrace(traceId: string): TraceState {
  return {
    traceId,
    pending: [],
    links: {},
    doneSpans: [],
    doneIds: [],
    doneGateways: [],
    handlerCosts: {},
    firstPendingMs: 0,
    dueMs: 0,
  };
}

function inferenceIdOf(s: CompactSpan): string {
  if (s.role === "gateway") return attr(s, "gateway_analytics.inference_id").toLowerCase();
  if (s.role === "response") return attr(s, "gen_ai.inference_id").toLowerCase();
  return attr(s, "model_inference_details.inference_id").toLowerCase();
}

/** Is `spanId` below `ancestorId` according to the links (walks at most 32 levels)? */
function descends(links: Record<string, string>, spanId: string, ancestorId: string): boolean {
  let cur = links[spanId];
  for (let i = 0; i < 32 && cur; i++) {
    if (cur === ancestorId) return true;
    cur = links[cur];
  }
  return false;
}

/**
 * Walking up from `spanId`, is the first gateway span met one already emitted? (A handler below it
 * belongs to a record already written. A response handler in between is passed: a `/v1/responses`
 * request's nested gateway request sits below it.)
 */
function nearestGatewayIsDone(s: TraceState, spanId: string): boolean {
  const done = new Set(s.doneGateways);
  const pending = new Set(s.pending.filter((x) => x.role === "gateway").map((x) => x.spanId));
  let cur = s.links[spanId];
  for (let i = 0; i < 32 && cur; i++) {
    if (pending.has(cur)) return false;
    if (done.has(cur)) return true;
    cur = s.links[cur];
  }
  return false;
}

/** Adds the spans and links of one request to a trace's state. */
export function addSpans(
  current: TraceState | undefined,
  traceId: string,
  intake: SpanIntake,
  nowMs: number,
  cfg: AssemblyConfig,
): AddOutcome {
  const s: TraceState = current
    ? {
        ...current,
        pending: [...current.pending],
        links: { ...current.links },
        handlerCosts: { ...current.handlerCosts },
      }
    : emptyTrace(traceId);
  let linkCount = Object.keys(s.links).length;
  for (const [spanId, parent] of intake.links) {
    if (!parent || s.links[spanId] !== undefined) continue;
    if (linkCount >= MAX_LINKS) break;
    s.links[spanId] = parent;
    linkCount++;
  }
  const doneSpans = new Set(s.doneSpans);
  const doneIds = new Set(s.doneIds);
  const pendingIds = new Set(s.pending.map((p) => p.spanId));
  let added = 0;
  let duplicates = 0;
  let late = 0;
  for (const span of intake.spans) {
    if (doneSpans.has(span.spanId) || pendingIds.has(span.spanId)) {
      duplicates++;
      continue;
    }
    const id = inferenceIdOf(span);
    const belowDone = span.role === "handler" && nearestGatewayIsDone(s, span.spanId);
    if ((id !== "" && doneIds.has(id)) || belowDone) {
      late++;
      continue;
    }
    if (span.role === "handler") {
      const cost = f64(attr(span, "model_inference_details.inference_cost"));
      if (cost !== null) s.handlerCosts[span.spanId] = cost;
    }
    s.pending.push(span);
    pendingIds.add(span.spanId);
    added++;
  }
  if (s.pending.length > 0 && s.firstPendingMs === 0) s.firstPendingMs = nowMs;
  s.dueMs = s.pending.length > 0 ? s.firstPendingMs + cfg.boundMs : Math.max(s.dueMs, nowMs + cfg.retainMs);
  return { state: s, added, duplicates, late };
}

export interface Unit {
  kind: "inference" | "blocked" | "response";
  gateway?: CompactSpan;
  handler?: CompactSpan;
  response?: CompactSpan;
  /** Every span id the unit consumes (absorbed handlers included). */
  spanIds: string[];
  /** Inference ids of the unit's spans: a held CloudEvent with one of them is merged into it. */
  inferenceIds: string[];
  complete: boolean;
}

function unitOf(
  kind: Unit["kind"],
  spans: Array<CompactSpan | undefined>,
  absorbed: CompactSpan[] = [],
): Unit {
  const present = spans.filter((x): x is CompactSpan => x !== undefined);
  const ids = [...new Set([...present, ...absorbed].map(inferenceIdOf).filter((id) => id !== ""))];
  return {
    kind,
    spanIds: [...present, ...absorbed].map((x) => x.spanId),
    inferenceIds: ids,
    complete: false,
  };
}

/**
 * Splits a trace's pending spans into units. With `final` false only complete units are returned
 * (the rest stays pending); with `final` true every pending span ends up in some unit, and a unit
 * that gives no record (a `/v1/responses` gateway span alone, a gateway span of no counted path) is
 * returned with kind "response"/"inference" and no handler so that its spans are marked done.
 */
export function planTrace(state: TraceState, final: boolean): Unit[] {
  const units: Unit[] = [];
  const gateways = state.pending.filter((x) => x.role === "gateway");
  const handlers = state.pending.filter((x) => x.role === "handler");
  const responses = state.pending.filter((x) => x.role === "response");
  const used = new Set<string>();

  // Blocked requests: complete on their own.
  for (const g of gateways) {
    if (!isBlocked(g)) continue;
    used.add(g.spanId);
    units.push({ ...unitOf("blocked", [g]), gateway: g, complete: true });
  }

  // /v1/responses: the response handler and its gateway span.
  const respGateways = gateways.filter((g) => !used.has(g.spanId) && isResponsesGateway(g));
  for (const r of responses) {
    if (!isCountedResponse(r)) {
      used.add(r.spanId);
      if (final) units.push({ ...unitOf("response", [r]), complete: false });
      continue;
    }
    let g = respGateways.find((x) => !used.has(x.spanId) && descends(state.links, r.spanId, x.spanId));
    if (!g && final) {
      const free = respGateways.filter((x) => !used.has(x.spanId));
      const freeR = responses.filter((x) => !used.has(x.spanId) && isCountedResponse(x));
      if (free.length === 1 && freeR.length === 1) g = free[0];
    }
    if (!g && !final) continue;
    used.add(r.spanId);
    if (g) used.add(g.spanId);
    units.push({ ...unitOf("response", [r, g]), response: r, ...(g ? { gateway: g } : {}), complete: !!g });
  }
  if (final) {
    for (const g of respGateways) {
      if (used.has(g.spanId)) continue;
      used.add(g.spanId);
      units.push({ ...unitOf("response", [g]), complete: false }); // no record: the original writes none
    }
  }

  // Inference requests: gateway span of a /v1/* path + handler.
  const mainGateways = gateways.filter(
    (g) => !used.has(g.spanId) && isInferencePath(attr(g, "gateway_analytics.path")),
  );
  const free = (h: CompactSpan) => !used.has(h.spanId);
  const pairs = new Map<string, { g: CompactSpan; h: CompactSpan | undefined; absorbed: CompactSpan[] }>();
  for (const g of mainGateways) {
    const gid = inferenceIdOf(g);
    const below = handlers.filter((h) => free(h) && descends(state.links, h.spanId, g.spanId));
    const byId = gid !== "" ? handlers.filter((h) => free(h) && inferenceIdOf(h) === gid) : [];
    const candidates = [...new Set([...byId, ...below])];
    if (candidates.length === 0) continue;
    // Prefer the handler whose id matches, then one that has an id (the inner chat handler of
    // /v1/messages rather than its wrapper), then the first.
    const h = byId[0] ?? candidates.find((x) => inferenceIdOf(x) !== "") ?? candidates[0]!;
    const absorbed = candidates.filter((x) => x !== h);
    for (const x of candidates) used.add(x.spanId);
    used.add(g.spanId);
    pairs.set(g.spanId, { g, h, absorbed });
  }
  if (final) {
    const restG = mainGateways.filter((g) => !used.has(g.spanId));
    const restH = handlers.filter(free);
    if (restG.length === 1 && restH.length === 1) {
      used.add(restG[0]!.spanId);
      used.add(restH[0]!.spanId);
      pairs.set(restG[0]!.spanId, { g: restG[0]!, h: restH[0]!, absorbed: [] });
    }
  }
  for (const { g, h, absorbed } of pairs.values()) {
    units.push({
      ...unitOf("inference", [g, h], absorbed),
      gateway: g,
      ...(h ? { handler: h } : {}),
      complete: true,
    });
  }
  if (final) {
    for (const g of mainGateways) {
      if (used.has(g.spanId)) continue;
      used.add(g.spanId);
      units.push({ ...unitOf("inference", [g]), gateway: g, complete: false });
    }
    for (const h of handlers) {
      if (used.has(h.spanId)) continue;
      used.add(h.spanId);
      units.push({ ...unitOf("inference", [h]), handler: h, complete: false });
    }
    // Gateway spans of no counted path (kept only if a store had them): consumed without a record.
    for (const g of gateways) {
      if (used.has(g.spanId)) continue;
      used.add(g.spanId);
      units.push({ ...unitOf("inference", [g]), complete: false });
    }
  }
  return units;
}

/** Does the unit give a record? (Spans of a unit that does not are only marked done.) */
export function givesRecord(u: Unit): boolean {
  if (u.kind === "blocked") return !!u.gateway;
  if (u.kind === "response") return !!u.response;
  return !!u.gateway || !!u.handler;
}

/** The record of a unit (no defaults applied; see `finishRecord`). */
export function recordOfUnit(
  state: TraceState,
  u: Unit,
): { record: SpanInference; problems: string[] } | undefined {
  if (!givesRecord(u)) return undefined;
  if (u.kind === "blocked") return mapBlocked(u.gateway!);
  if (u.kind === "response") {
    // The original sums the cost of every handler span of the trace (a per-TraceId subquery).
    const costs = Object.values(state.handlerCosts);
    const inner = costs.length > 0 ? costs.reduce((a, c) => a + c, 0) : null;
    return mapResponse(u.response!, u.gateway, inner);
  }
  return mapInference(u.gateway, u.handler);
}

/** After the units' records are committed: their spans leave `pending` and are remembered as done. */
export function markEmitted(
  state: TraceState,
  units: readonly Unit[],
  nowMs: number,
  cfg: AssemblyConfig,
): TraceState {
  const consumed = new Set(units.flatMap((u) => u.spanIds));
  const pending = state.pending.filter((x) => !consumed.has(x.spanId));
  const doneSpans = [...new Set([...state.doneSpans, ...consumed])];
  const doneIds = [...new Set([...state.doneIds, ...units.flatMap((u) => u.inferenceIds)])];
  const gateways = state.pending.filter((x) => x.role === "gateway" && consumed.has(x.spanId));
  const doneGateways = [...new Set([...state.doneGateways, ...gateways.map((x) => x.spanId)])];
  const firstPendingMs = pending.length > 0 ? state.firstPendingMs : 0;
  return {
    ...state,
    pending,
    doneSpans,
    doneIds,
    doneGateways,
    firstPendingMs,
    dueMs: pending.length > 0 ? firstPendingMs + cfg.boundMs : nowMs + cfg.retainMs,
  };
}

// ---------------------------------------------------------------------------------------------
// CloudEvents of the same inferences

/** An inference CloudEvent held until its spans arrive (or the bound passes). */
export interface HeldEvent {
  inferenceId: string;
  data: InferenceData;
  /** CloudEvent id and source, as the CloudEvent path stores them. */
  eventId: string;
  eventSource: string;
  receivedMs: number;
  dueMs: number;
}

/** The fields only the CloudEvent path knows (BudMetrics' own extensions of the gateway event). */
export interface EventOnlyFields {
  project_name: string | null;
  endpoint_name: string | null;
  cluster_id: string | null;
  prompt_preview: string | null;
  response_preview: string | null;
}

export type InferenceRecord = SpanInference &
  EventOnlyFields & {
    /** Which paths contributed: ["spans"], ["spans", "cloudevent"]. */
    sources: Array<"spans" | "cloudevent">;
    event_id: string | null;
    event_source: string | null;
  };

/** CloudEvent fields that the span record also has, under the same name. */
const SHARED_FIELDS = [
  "project_id",
  "endpoint_id",
  "model_id",
  "is_success",
  "request_ip",
  "cost",
  "response_analysis",
  "api_key_id",
  "user_id",
  "api_key_project_id",
  "error_code",
  "error_message",
  "error_type",
  "status_code",
  "model_name",
  "model_provider",
  "endpoint_type",
  "input_tokens",
  "output_tokens",
  "response_time_ms",
  "ttft_ms",
  "cached",
  "finish_reason",
  "prompt_id",
] as const satisfies ReadonlyArray<keyof SpanInference & keyof InferenceData>;

/**
 * One inference from both paths (fills `span` in place and returns it). Rule, per field: the span
 * value when the spans have one (they are what the original's analytics read, and they carry every
 * measurement), else the CloudEvent's.
 * Times: `request_arrival_time`/`request_forward_time` from the handler span when present (the
 * CloudEvent's are taken at slightly different instants in the gateway), else the CloudEvent's.
 * The CloudEvent alone gives project/endpoint names, cluster and previews. Ids are lower-cased.
 */
export function mergeRecord(span: SpanInference, event: HeldEvent | undefined): InferenceRecord {
  // Filled in place (the caller hands over a record it owns): records are wide, about 130 fields,
  // and copying an object that wide is the most expensive step per record.
  const out = span as InferenceRecord;
  out.project_name = null;
  out.endpoint_name = null;
  out.cluster_id = null;
  out.prompt_preview = null;
  out.response_preview = null;
  out.sources = event ? ["spans", "cloudevent"] : ["spans"];
  out.event_id = event?.eventId ?? null;
  out.event_source = event?.eventSource ?? null;
  if (!event) return out;
  const d = event.data;
  const o = out as unknown as Record<string, unknown>;
  for (const f of SHARED_FIELDS) {
    const v = (d as unknown as Record<string, unknown>)[f];
    if (o[f] === null && v !== undefined && v !== null) {
      o[f] = typeof v === "string" && f.endsWith("_id") ? v.toLowerCase() : v;
    }
  }
  if (out.inference_id === null) out.inference_id = d.inference_id.toLowerCase();
  if (out.request_arrival_time === null)
    out.request_arrival_time = new Date(d.request_arrival_time).toISOString();
  if (out.request_forward_time === null)
    out.request_forward_time = new Date(d.request_forward_time).toISOString();
  out.project_name = d.project_name ?? null;
  out.endpoint_name = d.endpoint_name ?? null;
  out.cluster_id = d.cluster_id ?? null;
  out.prompt_preview = d.prompt_preview ?? null;
  out.response_preview = d.response_preview ?? null;
  return out;
}

/**
 * The record as stored (in place): the original's defaults (see `withDefaults`), and the raw table's
 * non-null event times: a record with no handler times takes the gateway's `request_timestamp`
 * for both (the original's blocking view does the same), else the record time.
 */
export function finishRecord(r: InferenceRecord): InferenceRecord {
  const d = applyDefaults(r);
  const arrival = d.request_arrival_time ?? d.request_timestamp ?? d.timestamp;
  d.request_arrival_time = arrival;
  d.request_forward_time = d.request_forward_time ?? arrival;
  return d;
}
