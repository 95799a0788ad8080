import type { InferenceRow, SampleRow } from "./index";
import { toChDateTime64 } from "./time";

/** `data` of an inference CloudEvent (type add_observability_metrics), after validation (BRIEF §3). */
export interface InferenceData {
  inference_id: string;
  project_id: string;
  endpoint_id: string;
  model_id: string;
  is_success: boolean;
  request_arrival_time: string;
  request_forward_time: string;
  request_ip?: string | null;
  cost?: number | null;
  response_analysis?: Record<string, unknown> | null;
  api_key_id?: string | null;
  user_id?: string | null;
  api_key_project_id?: string | null;
  error_code?: string | null;
  error_message?: string | null;
  error_type?: string | null;
  status_code?: number | null;
  model_name?: string | null;
  model_provider?: string | null;
  project_name?: string | null;
  endpoint_name?: string | null;
  endpoint_type?: string | null;
  input_tokens?: number | null;
  output_tokens?: number | null;
  response_time_ms?: number | null;
  ttft_ms?: number | null;
  cached?: boolean | null;
  finish_reason?: string | null;
  cluster_id?: string | null;
  prompt_id?: string | null;
  prompt_preview?: string | null;
  response_preview?: string | null;
}

/** `data` of a generic metric-sample CloudEvent (seed README shape). */
export interface SampleData {
  metric_type: string;
  value: number;
  model?: string | null;
  project?: string | null;
  endpoint?: string | null;
  cluster?: string | null;
  labels?: Record<string, string> | null;
}

export interface EnvelopeIdentity {
  id: string;
  source: string;
  type: string;
  /** Event time in epoch ms (samples); inferences use request_arrival_time. */
  timeMs?: number;
}

/** Maps validated inference data to its raw-table row. Times normalised to UTC with ms kept. */
export function toInferenceRow(d: InferenceData, env: EnvelopeIdentity): InferenceRow {
  return {
    inference_id: d.inference_id.toLowerCase(),
    project_id: d.project_id.toLowerCase(),
    endpoint_id: d.endpoint_id.toLowerCase(),
    model_id: d.model_id.toLowerCase(),
    is_success: d.is_success,
    request_arrival_time: toChDateTime64(Date.parse(d.request_arrival_time)),
    request_forward_time: toChDateTime64(Date.parse(d.request_forward_time)),
    request_ip: d.request_ip ?? null,
    cost: d.cost ?? null,
    response_analysis: d.response_analysis == null ? null : JSON.stringify(d.response_analysis),
    api_key_id: d.api_key_id ?? null,
    user_id: d.user_id ?? null,
    api_key_project_id: d.api_key_project_id ?? null,
    error_code: d.error_code ?? null,
    error_message: d.error_message ?? null,
    error_type: d.error_type ?? null,
    status_code: d.status_code ?? null,
    model_name: d.model_name ?? "",
    model_provider: d.model_provider ?? "",
    project_name: d.project_name ?? "",
    endpoint_name: d.endpoint_name ?? "",
    endpoint_type: d.endpoint_type ?? "",
    input_tokens: d.input_tokens ?? 0,
    output_tokens: d.output_tokens ?? 0,
    response_time_ms: d.response_time_ms ?? null,
    ttft_ms: d.ttft_ms ?? null,
    cached: d.cached ?? false,
    finish_reason: d.finish_reason ?? null,
    cluster_id: d.cluster_id ?? "",
    prompt_id: d.prompt_id ?? null,
    prompt_preview: d.prompt_preview ?? null,
    response_preview: d.response_preview ?? null,
    event_id: env.id,
    event_source: env.source,
  };
}

export function toSampleRow(d: SampleData, env: EnvelopeIdentity & { timeMs: number }): SampleRow {
  return {
    metric_type: d.metric_type,
    value: d.value,
    sample_time: toChDateTime64(env.timeMs),
    model: d.model ?? "",
    project: d.project ?? "",
    endpoint: d.endpoint ?? "",
    cluster: d.cluster ?? "",
    labels: d.labels ?? {},
    event_type: env.type,
    event_source: env.source,
    event_id: env.id,
  };
}

/** Dedup key of a sample: CloudEvent (source, id). */
export function sampleKey(source: string, id: string): string {
  return `${source}\u0001${id}`;
}
