import { toChDateTime64, type InferenceData } from "@budmetrics/schema";

/**
 * The JSONEachRow line of an inference, written field by field straight from validated data.
 * It must equal `JSON.stringify(toInferenceRow(data, envelope))` (the shared mapping; a test parses
 * both for generated and awkward inputs and compares), but costs about a third: serialisation is
 * the hot path (DAPR-WIRE: JS JSON work, not the engine, bounds ingestion), and the shared
 * mapping's Date round trip per timestamp was the single most expensive step in a profile.
 * UUIDs are validated upstream and need no escaping; every free-text field goes through
 * JSON.stringify.
 */
const q = JSON.stringify;

function s(v: string | null | undefined): string {
  return v == null ? "null" : q(v);
}
function n(v: number | null | undefined): string {
  return v == null ? "null" : String(v);
}

/** 'YYYY-MM-DD HH:MM:SS.mmm' from an RFC 3339 text already validated and parsed to `ms`. */
function chTime(text: string, ms: number): string {
  // The common case, UTC with milliseconds, is a slice; any other form goes through Date.
  if (text.length === 24 && text.charCodeAt(23) === 90 /* Z */ && text.charCodeAt(10) === 84 /* T */) {
    return `${text.slice(0, 10)} ${text.slice(11, 23)}`;
  }
  return toChDateTime64(ms);
}

export function toInferenceLine(
  d: InferenceData,
  env: { id: string; source: string },
  arrivalMs: number,
  forwardMs: number,
): string {
  return (
    `{"inference_id":"${d.inference_id.toLowerCase()}","project_id":"${d.project_id.toLowerCase()}",` +
    `"endpoint_id":"${d.endpoint_id.toLowerCase()}","model_id":"${d.model_id.toLowerCase()}",` +
    `"is_success":${d.is_success},` +
    `"request_arrival_time":"${chTime(d.request_arrival_time, arrivalMs)}",` +
    `"request_forward_time":"${chTime(d.request_forward_time, forwardMs)}",` +
    `"request_ip":${s(d.request_ip)},"cost":${n(d.cost)},` +
    `"response_analysis":${d.response_analysis == null ? "null" : q(q(d.response_analysis))},` +
    `"api_key_id":${s(d.api_key_id)},"user_id":${s(d.user_id)},"api_key_project_id":${s(d.api_key_project_id)},` +
    `"error_code":${s(d.error_code)},"error_message":${s(d.error_message)},"error_type":${s(d.error_type)},` +
    `"status_code":${n(d.status_code)},"model_name":${q(d.model_name ?? "")},` +
    `"model_provider":${q(d.model_provider ?? "")},"project_name":${q(d.project_name ?? "")},` +
    `"endpoint_name":${q(d.endpoint_name ?? "")},"endpoint_type":${q(d.endpoint_type ?? "")},` +
    `"input_tokens":${d.input_tokens ?? 0},"output_tokens":${d.output_tokens ?? 0},` +
    `"response_time_ms":${n(d.response_time_ms)},"ttft_ms":${n(d.ttft_ms)},"cached":${d.cached ?? false},` +
    `"finish_reason":${s(d.finish_reason)},"cluster_id":${q(d.cluster_id ?? "")},"prompt_id":${s(d.prompt_id)},` +
    `"prompt_preview":${s(d.prompt_preview)},"response_preview":${s(d.response_preview)},` +
    `"event_id":${q(env.id)},"event_source":${q(env.source)}}`
  );
}
