/**
 * The one table-definition module: table names and row shapes both apps rely on. The DDL lives in
 * migrations/; this file must agree with it (test/schema.test.ts checks the columns against the
 * engine's own `system.columns`).
 */
export const Tables = {
  inferenceEvents: "inference_events",
  /** Every stored inference_id, sorted by its bytes (UUIDv7: by time): the writer's identity check. */
  inferenceIds: "inference_ids",
  metricSamples: "metric_samples",
  quarantine: "quarantine",
  /** Every tier (grain × level) of the inference rollup, declared in ./rollups. */
  inferenceRollup: "inference_rollup",
  sampleRollup: {
    "5m": "metric_samples_rollup_5m",
    "1h": "metric_samples_rollup_1h",
    "1d": "metric_samples_rollup_1d",
  },
  migrations: "schema_migrations",
} as const;

export * from "./rollups";

/** Times are 'YYYY-MM-DD HH:MM:SS.mmm' in UTC when written (DateTime64(3, 'UTC')). */
export interface InferenceRow {
  inference_id: string;
  project_id: string;
  endpoint_id: string;
  model_id: string;
  is_success: boolean;
  request_arrival_time: string;
  request_forward_time: string;
  request_ip: string | null;
  cost: number | null;
  response_analysis: string | null;
  api_key_id: string | null;
  user_id: string | null;
  api_key_project_id: string | null;
  error_code: string | null;
  error_message: string | null;
  error_type: string | null;
  status_code: number | null;
  model_name: string;
  model_provider: string;
  project_name: string;
  endpoint_name: string;
  endpoint_type: string;
  input_tokens: number;
  output_tokens: number;
  response_time_ms: number | null;
  ttft_ms: number | null;
  cached: boolean;
  finish_reason: string | null;
  cluster_id: string;
  prompt_id: string | null;
  prompt_preview: string | null;
  response_preview: string | null;
  event_id: string;
  event_source: string;
}

export const INFERENCE_COLUMNS: readonly (keyof InferenceRow)[] = [
  "inference_id",
  "project_id",
  "endpoint_id",
  "model_id",
  "is_success",
  "request_arrival_time",
  "request_forward_time",
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
  "project_name",
  "endpoint_name",
  "endpoint_type",
  "input_tokens",
  "output_tokens",
  "response_time_ms",
  "ttft_ms",
  "cached",
  "finish_reason",
  "cluster_id",
  "prompt_id",
  "prompt_preview",
  "response_preview",
  "event_id",
  "event_source",
];

export interface SampleRow {
  metric_type: string;
  value: number;
  sample_time: string;
  model: string;
  project: string;
  endpoint: string;
  cluster: string;
  labels: Record<string, string>;
  event_type: string;
  event_source: string;
  event_id: string;
}

export const SAMPLE_COLUMNS: readonly (keyof SampleRow)[] = [
  "metric_type",
  "value",
  "sample_time",
  "model",
  "project",
  "endpoint",
  "cluster",
  "labels",
  "event_type",
  "event_source",
  "event_id",
];

export interface QuarantineRow {
  event_id: string;
  event_type: string;
  event_source: string;
  reason_code: string;
  reason: string;
  field_path: string;
  raw_payload: string;
  channel: string;
}

export const QUARANTINE_COLUMNS: readonly (keyof QuarantineRow)[] = [
  "event_id",
  "event_type",
  "event_source",
  "reason_code",
  "reason",
  "field_path",
  "raw_payload",
  "channel",
];

export { toChDateTime64, fromChDateTime, toNumber } from "./time";
export { toInferenceRow, toSampleRow, sampleKey } from "./events";
export type { InferenceData, SampleData, EnvelopeIdentity } from "./events";
