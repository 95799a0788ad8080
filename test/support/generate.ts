/**
 * Deterministic generator of inference events and metric samples for tests and benchmarks.
 * Cardinalities are realistic (by default ~50 models, 200 projects, 500 endpoints; each endpoint
 * belongs to one project and serves one model). Same seed → same events.
 */
import type { InferenceData, SampleData } from "@budmetrics/schema";

/** mulberry32: small, fast, good enough for test data. */
export function createRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A v4-shaped UUID from the generator (deterministic). */
export function uuidFrom(rng: () => number): string {
  const hex = (n: number) =>
    Math.floor(rng() * 16 ** n)
      .toString(16)
      .padStart(n, "0");
  return `${hex(8)}-${hex(4)}-4${hex(3)}-${((8 + Math.floor(rng() * 4)) as number).toString(16)}${hex(3)}-${hex(12)}`;
}

/**
 * A UUIDv7 from the generator: the first 48 bits are `ms` (big-endian), as the gateway's inference
 * ids (Rust `Uuid::now_v7()`) are; the rest is random. Deterministic for a seed.
 */
export function uuidV7From(rng: () => number, ms: number): string {
  const rand = uuidFrom(rng).replace(/-/g, "");
  const hex = ms.toString(16).padStart(12, "0") + "7" + rand.slice(13, 16) + rand.slice(16, 32);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

export interface Catalogue {
  models: Array<{ id: string; name: string; provider: string }>;
  projects: Array<{ id: string; name: string }>;
  endpoints: Array<{
    id: string;
    name: string;
    projectIndex: number;
    modelIndex: number;
    cluster: string;
    type: string;
  }>;
  apiKeys: Array<{ id: string; projectId: string }>;
  /** apiKeys grouped by the index of their project. */
  apiKeysByProject: Array<Array<{ id: string; projectId: string }>>;
  users: string[];
}

const ENDPOINT_TYPES = [
  "chat",
  "completion",
  "embedding",
  "audio_transcription",
  "image_generation",
  "moderation",
];

export function createCatalogue(
  seed: number,
  sizes: { models?: number; projects?: number; endpoints?: number; apiKeys?: number; users?: number } = {},
): Catalogue {
  const rng = createRng(seed ^ 0x9e3779b9);
  const nModels = sizes.models ?? 50;
  const nProjects = sizes.projects ?? 200;
  const nEndpoints = sizes.endpoints ?? 500;
  const models = Array.from({ length: nModels }, (_, i) => ({
    id: uuidFrom(rng),
    name: `model-${i}`,
    provider: ["openai", "vllm", "anthropic", "bud"][i % 4]!,
  }));
  const projects = Array.from({ length: nProjects }, (_, i) => ({ id: uuidFrom(rng), name: `project-${i}` }));
  const endpoints = Array.from({ length: nEndpoints }, (_, i) => ({
    id: uuidFrom(rng),
    name: `endpoint-${i}`,
    projectIndex: i % nProjects,
    modelIndex: Math.floor(rng() * nModels),
    cluster: ["production", "staging", "edge"][i % 3]!,
    type: ENDPOINT_TYPES[i % ENDPOINT_TYPES.length]!,
  }));
  // Two keys per project by default; a request mostly uses a key of the endpoint's own project.
  const apiKeys = Array.from({ length: sizes.apiKeys ?? 2 * nProjects }, (_, i) => ({
    id: uuidFrom(rng),
    projectId: projects[i % nProjects]!.id,
  }));
  const apiKeysByProject = projects.map((_, p) => apiKeys.filter((_k, i) => i % nProjects === p));
  const users = Array.from({ length: sizes.users ?? 300 }, () => uuidFrom(rng));
  return { models, projects, endpoints, apiKeys, apiKeysByProject, users };
}

export interface InferenceGenOptions {
  seed: number;
  count: number;
  /** Arrival times uniform in [startMs, endMs). */
  startMs: number;
  endMs: number;
  catalogue: Catalogue;
  /** Probability that an optional measurement is absent (exercises NULL handling). Default 0.05. */
  missingRate?: number;
  /** 7: inference ids are UUIDv7 of the arrival time, as the gateway makes them. Default 4 (random). */
  idVersion?: 4 | 7;
}

/** Yields `data` objects of add_observability_metrics events, exactly as a gateway would publish them. */
export function* generateInferences(opts: InferenceGenOptions): Generator<InferenceData> {
  const rng = createRng(opts.seed);
  const { catalogue: c } = opts;
  const missing = opts.missingRate ?? 0.05;
  const span = opts.endMs - opts.startMs;
  for (let i = 0; i < opts.count; i++) {
    const ep = c.endpoints[Math.floor(rng() * c.endpoints.length)]!;
    const model = c.models[ep.modelIndex]!;
    const project = c.projects[ep.projectIndex]!;
    const arrival = opts.startMs + Math.floor(rng() * span);
    const queueMs = Math.floor(rng() * 50);
    const success = rng() < 0.95;
    const input = Math.floor(rng() * 2000);
    const output = success ? Math.floor(rng() * 1000) : 0;
    const latency = Math.round((50 + rng() * rng() * 5000) * 1000) / 1000;
    // 90 % of calls use a key of the endpoint's project (keys i ≡ projectIndex mod nProjects), the rest
    // any key: cross-project callers exist, but an endpoint's traffic comes from few key projects.
    const own = c.apiKeysByProject[ep.projectIndex]!;
    const key =
      own.length > 0 && rng() < 0.9
        ? own[Math.floor(rng() * own.length)]!
        : c.apiKeys[Math.floor(rng() * c.apiKeys.length)]!;
    const data: InferenceData = {
      inference_id: opts.idVersion === 7 ? uuidV7From(rng, arrival) : uuidFrom(rng),
      project_id: project.id,
      endpoint_id: ep.id,
      model_id: model.id,
      is_success: success,
      request_arrival_time: new Date(arrival).toISOString(),
      request_forward_time: new Date(arrival + queueMs).toISOString(),
      request_ip: `10.${i % 256}.${(i >> 8) % 256}.${Math.floor(rng() * 256)}`,
      cost: Math.round(rng() * 1e6) / 1e9,
      api_key_id: key.id,
      user_id: c.users[Math.floor(rng() * c.users.length)]!,
      api_key_project_id: key.projectId,
      status_code: success ? 200 : 500,
      model_name: model.name,
      model_provider: model.provider,
      project_name: project.name,
      endpoint_name: ep.name,
      endpoint_type: ep.type,
      input_tokens: input,
      output_tokens: output,
      response_time_ms: rng() < missing ? null : latency,
      ttft_ms: rng() < missing ? null : Math.round(latency * rng() * 1000) / 1000,
      cached: rng() < 0.1,
      finish_reason: success ? "stop" : null,
      cluster_id: ep.cluster,
    };
    if (!success) {
      data.error_code = "upstream_error";
      data.error_type = "server_error";
      data.error_message = "upstream returned 500";
    }
    yield data;
  }
}

export interface SampleGenOptions {
  seed: number;
  count: number;
  startMs: number;
  endMs: number;
  metricTypes?: string[];
  models?: string[];
  clusters?: string[];
}

export function* generateSamples(
  opts: SampleGenOptions,
): Generator<{ id: string; timeMs: number; data: SampleData }> {
  const rng = createRng(opts.seed);
  const types = opts.metricTypes ?? ["gpu_utilization", "queue_depth", "kv_cache_usage"];
  const models = opts.models ?? ["llama-2-7b", "gpt-3.5-turbo", "mistral-7b"];
  const clusters = opts.clusters ?? ["production", "staging"];
  for (let i = 0; i < opts.count; i++) {
    yield {
      id: uuidFrom(rng),
      timeMs: opts.startMs + Math.floor(rng() * (opts.endMs - opts.startMs)),
      data: {
        metric_type: types[Math.floor(rng() * types.length)]!,
        value: Math.round(rng() * 100_000) / 1000,
        model: models[Math.floor(rng() * models.length)]!,
        cluster: clusters[Math.floor(rng() * clusters.length)]!,
        project: "ai-chatbot",
        endpoint: "chat-completion",
      },
    };
  }
}

/** A CloudEvent envelope around inference data, as the gateway publishes it. */
export function inferenceCloudEvent(data: InferenceData, source = "budgateway") {
  return {
    specversion: "1.0",
    id: data.inference_id,
    source,
    type: "add_observability_metrics",
    time: data.request_arrival_time,
    datacontenttype: "application/json",
    data,
  };
}
