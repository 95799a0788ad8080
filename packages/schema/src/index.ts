/**
 * The one table-definition module: table names and row shapes both apps rely on. The DDL lives in
 * migrations/; the declarations here must agree with it (test/foundation/schema.test.ts checks the
 * columns against the engine's own `system.columns`). The inference record is declared in
 * ./inference, the inference rollup in ./rollups.
 */
export const Tables = {
  inferenceEvents: "inference_events",
  /**
   * The raw columns the rollup states are made from, ordered by arrival time (migrations/0019): the
   * raw rows of rollup-served questions (range edges, the tail look, concurrency). Every inserted
   * row, no FINAL.
   */
  inferenceEventsByTime: "inference_events_by_time",
  /** Every stored inference_id, sorted by its bytes (UUIDv7: by time): the writer's identity check. */
  inferenceIds: "inference_ids",
  /** The UTC hours in which prompt traffic arrived (migrations/0018): may a question use the rollups. */
  inferencePromptHours: "inference_prompt_hours",
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
export * from "./inference";
export { toSampleRow, sampleKey } from "./events";
export type { SampleData, EnvelopeIdentity } from "./events";
