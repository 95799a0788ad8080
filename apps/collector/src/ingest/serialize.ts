import type { InferenceRow } from "@budmetrics/schema";

/**
 * The JSONEachRow line of an inference row, written field by field. Equivalent to
 * `JSON.stringify(row)` (a test parses both and compares) but about twice as fast: serialisation is
 * the hot path (DAPR-WIRE: JS JSON work, not the engine, bounds ingestion). UUIDs and times are
 * validated / generated upstream and need no escaping; every free-text field goes through
 * JSON.stringify.
 */
const q = JSON.stringify;

function s(v: string | null): string {
  return v === null ? "null" : q(v);
}
function n(v: number | null): string {
  return v === null ? "null" : String(v);
}

export function toInferenceLine(r: InferenceRow): string {
  return (
    `{"inference_id":"${r.inference_id}","project_id":"${r.project_id}","endpoint_id":"${r.endpoint_id}",` +
    `"model_id":"${r.model_id}","is_success":${r.is_success},` +
    `"request_arrival_time":"${r.request_arrival_time}","request_forward_time":"${r.request_forward_time}",` +
    `"request_ip":${s(r.request_ip)},"cost":${n(r.cost)},"response_analysis":${s(r.response_analysis)},` +
    `"api_key_id":${s(r.api_key_id)},"user_id":${s(r.user_id)},"api_key_project_id":${s(r.api_key_project_id)},` +
    `"error_code":${s(r.error_code)},"error_message":${s(r.error_message)},"error_type":${s(r.error_type)},` +
    `"status_code":${n(r.status_code)},"model_name":${q(r.model_name)},"model_provider":${q(r.model_provider)},` +
    `"project_name":${q(r.project_name)},"endpoint_name":${q(r.endpoint_name)},"endpoint_type":${q(r.endpoint_type)},` +
    `"input_tokens":${r.input_tokens},"output_tokens":${r.output_tokens},` +
    `"response_time_ms":${n(r.response_time_ms)},"ttft_ms":${n(r.ttft_ms)},"cached":${r.cached},` +
    `"finish_reason":${s(r.finish_reason)},"cluster_id":${q(r.cluster_id)},"prompt_id":${s(r.prompt_id)},` +
    `"prompt_preview":${s(r.prompt_preview)},"response_preview":${s(r.response_preview)},` +
    `"event_id":${q(r.event_id)},"event_source":${q(r.event_source)}}`
  );
}
