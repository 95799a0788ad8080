/**
 * Realistic Bud gateway traces as OTLP requests, for tests and benchmarks; deterministic per seed.
 *
 * What a request produces mirrors the gateway (BudEcosystem/bud-runtime services/budgateway):
 * `gateway_analytics` (analytics middleware, outermost) → the HTTP server span (`POST /v1/…`,
 * tower-http) → the handler span `<kind>_handler_observability` → the inference chain
 * (function/variant/model chain/model/provider inference) for chat; attributes typed as
 * tracing-opentelemetry records them (i64 → int, f64 → double, bool → bool, text → string). A
 * blocked request has only its `gateway_analytics` span (the blocking middleware answers 403 before
 * the HTTP layer). A `/v1/responses` request carries a nested gateway request (budprompt calls the
 * gateway's chat endpoint with the same trace).
 *
 * The export path is modelled too: the gateway's BatchSpanProcessor hands spans over in the order
 * they end (children before parents), in batches; an OpenTelemetry Collector re-batches them and
 * its otlphttp exporter sends one ExportTraceServiceRequest per batch — so the spans of one request
 * can be split over requests, and retried requests arrive again.
 */
import { ExportTraceServiceRequest } from "../../apps/collector/src/otlp/decode";
import { createRng, uuidFrom, uuidV7From } from "./generate";

export interface JsonAnyValue {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number | string;
  boolValue?: boolean;
}
export interface JsonKeyValue {
  key: string;
  value: JsonAnyValue;
}
export interface JsonSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: JsonKeyValue[];
  status?: { code?: number; message?: string };
}
export interface OtlpJsonRequest {
  resourceSpans: Array<{
    resource?: { attributes: JsonKeyValue[] };
    scopeSpans: Array<{ scope?: { name: string; version?: string }; spans: JsonSpan[] }>;
  }>;
}

export function encodeOtlpJson(req: OtlpJsonRequest): string {
  return JSON.stringify(req);
}

/** OTLP/JSON object → protobuf bytes (hex ids become bytes). */
export function encodeOtlpProtobuf(req: OtlpJsonRequest): Uint8Array {
  const copy = structuredClone(req) as unknown as {
    resourceSpans: Array<{ scopeSpans: Array<{ spans: Array<Record<string, unknown>> }> }>;
  };
  for (const rs of copy.resourceSpans)
    for (const ss of rs.scopeSpans)
      for (const sp of ss.spans)
        for (const k of ["traceId", "spanId", "parentSpanId"]) {
          sp[k] = sp[k] ? Buffer.from(sp[k] as string, "hex") : undefined;
        }
  return ExportTraceServiceRequest.encode(ExportTraceServiceRequest.fromObject(copy)).finish();
}

export type GatewayKind =
  | "chat"
  | "chat_stream"
  | "chat_failed"
  | "embedding"
  | "audio_transcription"
  | "image_generation"
  | "blocked"
  | "response";

/** The truth about one generated request (what a correct pipeline must report). */
export interface GatewayRequest {
  kind: GatewayKind;
  traceId: string;
  /** The record's inference id (null for a blocked request). */
  inferenceId: string | null;
  projectId: string;
  endpointId: string;
  modelId: string;
  modelName: string;
  provider: string;
  apiKeyId: string;
  userId: string;
  apiKeyProjectId: string;
  startMs: number;
  isSuccess: boolean;
  statusCode: number;
  inputTokens: number | null;
  outputTokens: number | null;
  responseTimeMs: number | null;
  ttftMs: number | null;
  cached: boolean;
  cost: number | null;
  countryCode: string | null;
  clientIp: string | null;
  userAgent: string;
  inputMessages: string | null;
  output: string | null;
  /** Spans in the order the gateway's BatchSpanProcessor exports them (end order). */
  spans: JsonSpan[];
  /** The gateway's CloudEvent for this inference (none for blocked requests and /v1/responses). */
  cloudEvent: Record<string, unknown> | null;
  /** A /v1/responses request's nested chat request (its own record). */
  nested?: GatewayRequest;
}

const COUNTRIES = [
  {
    code: "US",
    name: "United States",
    city: "Mountain View",
    lat: 37.4056,
    lon: -122.0775,
    tz: "America/Los_Angeles",
  },
  { code: "IN", name: "India", city: "Bengaluru", lat: 12.9716, lon: 77.5946, tz: "Asia/Kolkata" },
  { code: "DE", name: "Germany", city: "Berlin", lat: 52.52, lon: 13.405, tz: "Europe/Berlin" },
  { code: "CN", name: "China", city: "Beijing", lat: 39.9042, lon: 116.4074, tz: "Asia/Shanghai" },
];
const AGENTS = [
  { ua: "PostmanRuntime/7.51.0", browser: "PostmanRuntime", version: "7.51", os: "Other", device: "desktop" },
  { ua: "python-requests/2.32.3", browser: "Python Requests", version: "2.32", os: "Other", device: "other" },
  { ua: "OpenAI/Python 1.54.0", browser: "Other", version: "", os: "Linux", device: "other" },
];

const s = (key: string, v: string): JsonKeyValue => ({ key, value: { stringValue: v } });
const i = (key: string, v: number): JsonKeyValue => ({ key, value: { intValue: String(Math.trunc(v)) } });
const d = (key: string, v: number): JsonKeyValue => ({ key, value: { doubleValue: v } });
const b = (key: string, v: boolean): JsonKeyValue => ({ key, value: { boolValue: v } });

function hexId(rng: () => number, bytes: number): string {
  let out = "";
  while (out.length < bytes * 2) out += Math.floor(rng() * 16).toString(16);
  return /^0+$/.test(out) ? "1" + out.slice(1) : out;
}

function ns(ms: number, extraNs = 0): string {
  return (BigInt(Math.round(ms)) * 1_000_000n + BigInt(extraNs)).toString();
}

function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace("Z", "+00:00");
}

export interface GenerateOptions {
  seed: number;
  count: number;
  /** Time of the first request (epoch ms); requests follow every `spacingMs`. */
  startMs: number;
  spacingMs?: number;
  /** Relative weights of the kinds (default: mostly chat, some of everything). */
  mix?: Partial<Record<GatewayKind, number>>;
  projects?: number;
}

const DEFAULT_MIX: Record<GatewayKind, number> = {
  chat: 50,
  chat_stream: 20,
  chat_failed: 8,
  embedding: 10,
  audio_transcription: 3,
  image_generation: 3,
  blocked: 3,
  response: 3,
};

export function generateGatewayRequests(opts: GenerateOptions): GatewayRequest[] {
  const rng = createRng(opts.seed);
  const nProjects = opts.projects ?? 5;
  const projects = Array.from({ length: nProjects }, () => ({
    id: uuidFrom(rng),
    endpoint: uuidFrom(rng),
    model: uuidFrom(rng),
    modelName: `model-${Math.floor(rng() * 1000)}`,
    provider: ["vllm", "openai", "azure"][Math.floor(rng() * 3)]!,
    apiKey: uuidFrom(rng),
    user: uuidFrom(rng),
  }));
  const mix = { ...DEFAULT_MIX, ...opts.mix };
  const kinds = Object.entries(mix).filter(([, w]) => w > 0) as Array<[GatewayKind, number]>;
  const total = kinds.reduce((a, [, w]) => a + w, 0);
  const pickKind = (): GatewayKind => {
    let r = rng() * total;
    for (const [k, w] of kinds) if ((r -= w) < 0) return k;
    return kinds[0]![0];
  };
  const out: GatewayRequest[] = [];
  for (let n = 0; n < opts.count; n++) {
    const startMs = opts.startMs + n * (opts.spacingMs ?? 250) + Math.floor(rng() * 50);
    const p = projects[Math.floor(rng() * projects.length)]!;
    out.push(makeRequest(rng, pickKind(), p, startMs, hexId(rng, 16), undefined));
  }
  return out;
}

type Project = {
  id: string;
  endpoint: string;
  model: string;
  modelName: string;
  provider: string;
  apiKey: string;
  user: string;
};

function makeRequest(
  rng: () => number,
  kind: GatewayKind,
  p: Project,
  startMs: number,
  traceId: string,
  remoteParent: string | undefined,
): GatewayRequest {
  const country = rng() < 0.2 ? undefined : COUNTRIES[Math.floor(rng() * COUNTRIES.length)]!;
  const agent = AGENTS[Math.floor(rng() * AGENTS.length)]!;
  const clientIp = country ? `203.0.${Math.floor(rng() * 255)}.${1 + Math.floor(rng() * 250)}` : null;
  const gId = hexId(rng, 8);
  const serverId = hexId(rng, 8);
  const hId = hexId(rng, 8);
  const inferenceId = kind === "blocked" ? null : uuidV7From(rng, startMs);
  const blocked = kind === "blocked";
  const failed = kind === "chat_failed";
  const stream = kind === "chat_stream";
  const isSuccess = !blocked && !failed;
  const statusCode = blocked ? 403 : failed ? 502 : 200;
  const gatewayMs = 2 + Math.floor(rng() * 20);
  const responseTimeMs = blocked || failed ? null : 80 + Math.floor(rng() * 3000);
  const ttftMs =
    stream && responseTimeMs !== null
      ? Math.max(10, Math.floor(responseTimeMs * (0.05 + rng() * 0.3)))
      : null;
  const tokensIn =
    kind === "chat" || kind === "chat_stream" || kind === "embedding" ? 5 + Math.floor(rng() * 2000) : null;
  const tokensOut = kind === "chat" || kind === "chat_stream" ? 1 + Math.floor(rng() * 800) : null;
  const cached = (kind === "chat" || kind === "chat_stream") && rng() < 0.15;
  const cost = isSuccess && kind !== "response" ? Math.round(rng() * 1e6) / 1e8 : null;
  const totalMs = (responseTimeMs ?? 40 + Math.floor(rng() * 1200)) + gatewayMs;
  const endMs = startMs + totalMs;
  const arrivalMs = startMs + 1;
  const forwardMs = endMs - 1;
  const path = {
    chat: "/v1/chat/completions",
    chat_stream: "/v1/chat/completions",
    chat_failed: "/v1/chat/completions",
    embedding: "/v1/embeddings",
    audio_transcription: "/v1/audio/transcriptions",
    image_generation: "/v1/images/generations",
    blocked: "/v1/chat/completions",
    response: "/v1/responses",
  }[kind];
  const prompt = `Summarize document ${Math.floor(rng() * 1e6)}`;
  const inputMessages =
    kind === "chat" || kind === "chat_stream" || kind === "chat_failed"
      ? JSON.stringify([{ role: "user", content: [{ type: "text", text: prompt }] }])
      : null;
  const output =
    isSuccess && (kind === "chat" || kind === "chat_stream")
      ? JSON.stringify([{ type: "text", text: `Summary of ${prompt.length} characters.` }])
      : null;

  const gAttrs: JsonKeyValue[] = [
    i("busy_ns", 200_000 + Math.floor(rng() * 1e6)),
    s("code.filepath", "tensorzero-internal/src/analytics_middleware.rs"),
    s("gateway_analytics.id", uuidV7From(rng, startMs)),
    s("gateway_analytics.client_ip", clientIp ?? "unknown"),
    s("gateway_analytics.protocol_version", "HTTP/1.1"),
    s("gateway_analytics.user_agent", agent.ua),
    s("gateway_analytics.device_type", agent.device),
    s("gateway_analytics.browser_name", agent.browser),
    ...(agent.version ? [s("gateway_analytics.browser_version", agent.version)] : []),
    s("gateway_analytics.os_name", agent.os),
    b("gateway_analytics.is_bot", false),
    s("gateway_analytics.method", "POST"),
    s("gateway_analytics.path", path),
    s("gateway_analytics.request_headers", '{"content-type":"application/json","accept":"*/*"}'),
    s("gateway_analytics.request_timestamp", rfc3339(startMs)),
    s("gateway_analytics.response_timestamp", rfc3339(endMs)),
    i("gateway_analytics.total_duration_ms", totalMs),
    i("gateway_analytics.gateway_processing_ms", gatewayMs),
    i("gateway_analytics.status_code", statusCode),
    s("gateway_analytics.response_headers", '{"content-type":"application/json"}'),
    b("gateway_analytics.is_blocked", blocked),
    s("gateway_analytics.tags", "{}"),
    s("bud.project_id", p.id),
    s("bud.endpoint_id", p.endpoint),
    s("bud.api_key_id", p.apiKey),
    s("bud.user_id", p.user),
  ];
  if (country) {
    gAttrs.push(
      s("gateway_analytics.country_code", country.code),
      s("gateway_analytics.country_name", country.name),
      s("gateway_analytics.city", country.city),
      d("gateway_analytics.latitude", Math.fround(country.lat)),
      d("gateway_analytics.longitude", Math.fround(country.lon)),
      s("gateway_analytics.timezone", country.tz),
      i("gateway_analytics.asn", 15169),
    );
  }
  if (inferenceId) gAttrs.push(s("gateway_analytics.inference_id", inferenceId));
  if (failed) {
    gAttrs.push(
      s("gateway_analytics.error_type", "Bad Gateway"),
      s("gateway_analytics.error_message", '{"error":"All variants failed with 1 error(s)"}'),
    );
  }
  if (blocked) {
    gAttrs.push(
      s("gateway_analytics.error_type", "Forbidden"),
      s("gateway_blocking_events.id", uuidV7From(rng, startMs)),
      s("gateway_blocking_events.rule_id", uuidFrom(rng)),
      s("gateway_blocking_events.rule_type", "RateBasedBlocking"),
      s("gateway_blocking_events.rule_name", "API Rate Limit (100/min)"),
      i("gateway_blocking_events.rule_priority", 100),
      s("gateway_blocking_events.block_reason", "Rate limit exceeded"),
      s("gateway_blocking_events.action_taken", "block"),
      s(
        "gateway_blocking_events.blocked_at",
        new Date(startMs + 1).toISOString().replace("T", " ").replace("Z", ""),
      ),
    );
  }

  const spans: JsonSpan[] = [];
  const span = (
    spanId: string,
    parent: string | undefined,
    name: string,
    kindNo: number,
    from: number,
    to: number,
    attributes: JsonKeyValue[],
    status?: JsonSpan["status"],
  ): JsonSpan => ({
    traceId,
    spanId,
    ...(parent ? { parentSpanId: parent } : {}),
    name,
    kind: kindNo,
    startTimeUnixNano: ns(from, Math.floor(rng() * 999_999)),
    endTimeUnixNano: ns(to),
    attributes,
    ...(status ? { status } : {}),
  });

  let nested: GatewayRequest | undefined;
  if (!blocked) {
    const handlerName = {
      chat: "inference_handler_observability",
      chat_stream: "inference_handler_observability",
      chat_failed: "inference_handler_observability",
      embedding: "embedding_handler_observability",
      audio_transcription: "audio_transcription_handler_observability",
      image_generation: "image_generation_handler_observability",
      blocked: "",
      response: "response_create_handler_observability",
    }[kind];
    const hStart = startMs + gatewayMs - 1;
    const hEnd = endMs - 2;
    let hAttrs: JsonKeyValue[];
    if (kind === "response") {
      nested = makeRequest(rng, "chat", p, hStart + 5, traceId, hId);
      hAttrs = [
        s("bud.project_id", p.id),
        s("bud.endpoint_id", p.endpoint),
        s("bud.model_id", p.model),
        s("bud.api_key_id", p.apiKey),
        s("bud.api_key_project_id", p.id),
        s("bud.user_id", p.user),
        s("bud.prompt_id", `prompt-${Math.floor(rng() * 100)}`),
        s("gen_ai.inference_id", inferenceId!),
        s("gen_ai.request_arrival_time", rfc3339(arrivalMs)),
        s("gen_ai.request_forward_time", rfc3339(forwardMs)),
        i("gen_ai.usage.input_tokens", nested.inputTokens ?? 0),
        i("gen_ai.usage.output_tokens", nested.outputTokens ?? 0),
        i("gen_ai.response_time_ms", responseTimeMs ?? 0),
        s("gen_ai.response.status", "completed"),
        s("gen_ai.input.messages", nested.inputMessages ?? "[]"),
        s("gen_ai.output.messages", nested.output ?? "[]"),
      ];
    } else {
      hAttrs = [
        i("busy_ns", 30_000_000),
        s("model_inference_details.inference_id", inferenceId!),
        s("model_inference_details.project_id", p.id),
        s("model_inference_details.endpoint_id", p.endpoint),
        s("model_inference_details.model_id", p.model),
        s("model_inference_details.api_key_id", p.apiKey),
        s("model_inference_details.user_id", p.user),
        s("model_inference_details.api_key_project_id", p.id),
        b("model_inference_details.is_success", isSuccess),
        s("model_inference_details.request_arrival_time", rfc3339(arrivalMs)),
        s("model_inference_details.request_forward_time", rfc3339(forwardMs)),
        s("model_inference.model_name", p.modelName),
        s("model_inference.model_provider_name", p.provider),
        s(
          "model_inference.endpoint_type",
          kind.startsWith("chat") ? "chat" : kind === "embedding" ? "embedding" : kind,
        ),
      ];
      if (cost !== null) hAttrs.push(d("model_inference_details.cost", cost));
      if (failed) {
        hAttrs.push(
          s("model_inference_details.error_code", "AllVariantsFailed"),
          s("model_inference_details.error_type", "AllVariantsFailed"),
          s("model_inference_details.error_message", "All variants failed with 1 error(s)"),
          i("model_inference_details.status_code", 502),
          s("error.type", "AllVariantsFailed"),
          s("error.message", "All variants failed with 1 error(s)"),
        );
      } else {
        hAttrs.push(
          s("model_inference.id", uuidV7From(rng, startMs)),
          i("model_inference.response_time_ms", responseTimeMs!),
        );
        hAttrs.push(
          i("model_inference.timestamp", Math.floor(endMs / 1000)),
          b("model_inference.cached", cached),
        );
        if (tokensIn !== null) hAttrs.push(i("model_inference.input_tokens", tokensIn));
        if (tokensOut !== null) hAttrs.push(i("model_inference.output_tokens", tokensOut));
        if (ttftMs !== null) hAttrs.push(i("model_inference.ttft_ms", ttftMs));
        if (kind.startsWith("chat")) hAttrs.push(s("model_inference.finish_reason", "stop"));
        if (output) hAttrs.push(s("model_inference.output", output), s("chat_inference.output", output));
        if (kind.startsWith("chat")) {
          hAttrs.push(
            s("chat_inference.id", inferenceId!),
            s("chat_inference.function_name", "budgateway::default"),
            s("chat_inference.variant_name", p.modelName),
            s("chat_inference.episode_id", uuidV7From(rng, startMs)),
            i("chat_inference.processing_time_ms", (responseTimeMs ?? 0) + 10),
          );
        }
        if (kind === "embedding")
          hAttrs.push(i("embedding_inference.input_count", 1 + Math.floor(rng() * 8)));
        if (kind === "audio_transcription")
          hAttrs.push(d("audio_inference.duration_seconds", 12.5), s("audio_inference.language", "en"));
        if (kind === "image_generation")
          hAttrs.push(i("image_inference.images_generated", 1), s("image_inference.size", "1024x1024"));
      }
      if (inputMessages) hAttrs.push(s("model_inference.input_messages", inputMessages));
    }
    // End order: the inference chain, then the handler, then the HTTP server span.
    if (kind.startsWith("chat")) {
      const chain = [
        "model_provider_inference",
        "model_inference",
        "model_chain_inference",
        "variant_inference",
        "function_inference",
      ];
      const ids = chain.map(() => hexId(rng, 8));
      chain.forEach((name, k) => {
        const parent = k + 1 < chain.length ? ids[k + 1]! : hId;
        spans.push(
          span(ids[k]!, parent, name, 1, hStart + 5 + (chain.length - k), hEnd - 5 - (chain.length - k), [
            s("level", "INFO"),
          ]),
        );
      });
    }
    if (nested) spans.push(...nested.spans);
    const err = failed ? { code: 2, message: "All variants failed with 1 error(s)" } : undefined;
    spans.push(span(hId, serverId, handlerName, 1, hStart, hEnd, hAttrs, err));
    spans.push(
      span(serverId, gId, `POST ${path}`, 2, startMs + 1, endMs - 1, [
        s("http.request.method", "POST"),
        s("http.route", path),
        i("http.response.status_code", statusCode),
      ]),
    );
  }
  spans.push(
    span(
      gId,
      remoteParent,
      "gateway_analytics",
      1,
      startMs,
      endMs,
      gAttrs,
      failed || blocked ? { code: 2 } : undefined,
    ),
  );

  const cloudEvent =
    blocked || kind === "response"
      ? null
      : {
          specversion: "1.0",
          type: "add_observability_metrics",
          source: "gateway-service",
          id: uuidV7From(rng, endMs),
          time: new Date(endMs).toISOString(),
          datacontenttype: "application/json",
          data: {
            inference_id: inferenceId,
            project_id: p.id,
            endpoint_id: p.endpoint,
            model_id: p.model,
            is_success: isSuccess,
            request_arrival_time: new Date(arrivalMs).toISOString(),
            request_forward_time: new Date(forwardMs).toISOString(),
            api_key_id: p.apiKey,
            user_id: p.user,
            api_key_project_id: p.id,
            ...(cost !== null ? { cost } : {}),
            ...(failed
              ? {
                  error_code: "502",
                  error_type: "AllVariantsFailed",
                  error_message: "provider error",
                  status_code: 502,
                }
              : {}),
          },
        };

  return {
    kind,
    traceId,
    inferenceId,
    projectId: p.id,
    endpointId: p.endpoint,
    modelId: p.model,
    // A blocked request's record has no model (the gateway span carries none); /v1/responses
    // stores the model id as its name and "budprompt" as the provider.
    modelName: blocked ? "" : kind === "response" ? p.model : p.modelName,
    provider: blocked ? "" : kind === "response" ? "budprompt" : p.provider,
    apiKeyId: p.apiKey,
    userId: p.user,
    apiKeyProjectId: p.id,
    startMs: kind === "response" ? startMs + gatewayMs - 1 : startMs,
    isSuccess,
    statusCode,
    inputTokens: blocked ? 0 : kind === "response" ? (nested?.inputTokens ?? 0) : tokensIn,
    outputTokens: blocked ? 0 : kind === "response" ? (nested?.outputTokens ?? 0) : tokensOut,
    responseTimeMs: kind === "response" ? (responseTimeMs ?? 0) : responseTimeMs,
    ttftMs,
    cached,
    cost: kind === "response" ? null : cost,
    countryCode: country?.code ?? null,
    clientIp,
    userAgent: agent.ua,
    inputMessages: kind === "response" ? (nested?.inputMessages ?? "[]") : inputMessages,
    output: kind === "response" ? (nested?.output ?? "[]") : output,
    spans,
    cloudEvent,
    ...(nested ? { nested } : {}),
  };
}

/** Every record a request stands for (a /v1/responses request: its own and its nested chat's). */
export function expectedRecords(reqs: readonly GatewayRequest[]): GatewayRequest[] {
  return reqs.flatMap((r) => (r.nested ? [r, r.nested] : [r]));
}

export interface ExportOptions {
  seed: number;
  /** Most spans in one OTLP request (the Collector's batch size). */
  maxSpansPerRequest: number;
  /** Shuffle the spans across the whole run before batching (out of order, split traces). */
  shuffle?: boolean;
  /** Fraction of requests sent twice (exporter retries after a lost answer). */
  duplicateRate?: number;
  serviceName?: string;
}

/**
 * The export path: spans in export order (request by request, each in end order; or shuffled)
 * cut into OTLP requests of at most `maxSpansPerRequest` spans, some sent twice.
 */
export function exportRequests(reqs: readonly GatewayRequest[], opts: ExportOptions): OtlpJsonRequest[] {
  const rng = createRng(opts.seed ^ 0x5bd1e995);
  const all = reqs.flatMap((r) => r.spans);
  if (opts.shuffle) {
    for (let k = all.length - 1; k > 0; k--) {
      const j = Math.floor(rng() * (k + 1));
      [all[k], all[j]] = [all[j]!, all[k]!];
    }
  }
  const out: OtlpJsonRequest[] = [];
  for (let k = 0; k < all.length; k += opts.maxSpansPerRequest) {
    const req: OtlpJsonRequest = {
      resourceSpans: [
        {
          resource: { attributes: [s("service.name", opts.serviceName ?? "budgateway")] },
          scopeSpans: [{ scope: { name: "budgateway" }, spans: all.slice(k, k + opts.maxSpansPerRequest) }],
        },
      ],
    };
    out.push(req);
    if (opts.duplicateRate && rng() < opts.duplicateRate) out.push(req);
  }
  return out;
}
