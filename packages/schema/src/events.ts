import type { SampleRow } from "./index";
import { toChDateTime64 } from "./time";

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
