/**
 * JSON Schemas of what the collector accepts (BRIEF §3). Compiled once per app by `createEventParser`.
 * Unknown fields are errors (additionalProperties: false) so a typo in a publisher shows up at once
 * instead of as a silently missing measurement.
 */

/** Lower- or upper-case hex UUID, nothing else (ajv-formats' uuid also admits a `urn:uuid:` prefix). */
export const UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";
export const METRIC_NAME_PATTERN = "^[a-z][a-z0-9_.]*$";

const uuid = { type: "string", pattern: UUID_PATTERN } as const;
const optUuid = { type: ["string", "null"], pattern: UUID_PATTERN } as const;
const optString = { type: ["string", "null"], maxLength: 1_048_576 } as const;
const optShortString = { type: ["string", "null"], maxLength: 1_024 } as const;
const optNonNegative = { type: ["number", "null"], minimum: 0 } as const;
const optCount = { type: ["integer", "null"], minimum: 0, maximum: 4_294_967_295 } as const;
/**
 * cost is Nullable(Decimal(18, 9)): 9 integer digits. The engine refuses a larger value for the whole
 * insert, so one such event would fail every event batched with it (poison batch): stop it here.
 * The bound is on the double JS parses (999999999.99999999 is 1e9 as a double).
 */
const optCost = { type: ["number", "null"], minimum: 0, exclusiveMaximum: 1_000_000_000 } as const;
const dateTime = { type: "string", format: "date-time" } as const;

export const inferenceDataSchema = {
  $id: "inference",
  type: "object",
  additionalProperties: false,
  required: [
    "inference_id",
    "project_id",
    "endpoint_id",
    "model_id",
    "is_success",
    "request_arrival_time",
    "request_forward_time",
  ],
  properties: {
    inference_id: uuid,
    project_id: uuid,
    endpoint_id: uuid,
    model_id: uuid,
    is_success: { type: "boolean" },
    request_arrival_time: dateTime,
    request_forward_time: dateTime,
    request_ip: { type: ["string", "null"], format: "ip" },
    cost: optCost,
    response_analysis: { type: ["object", "null"] },
    api_key_id: optUuid,
    user_id: optUuid,
    api_key_project_id: optUuid,
    error_code: optShortString,
    error_message: optString,
    error_type: optShortString,
    status_code: { type: ["integer", "null"], minimum: 100, maximum: 599 },
    model_name: optShortString,
    model_provider: optShortString,
    project_name: optShortString,
    endpoint_name: optShortString,
    endpoint_type: optShortString,
    input_tokens: optCount,
    output_tokens: optCount,
    response_time_ms: optNonNegative,
    ttft_ms: optNonNegative,
    cached: { type: ["boolean", "null"] },
    finish_reason: optShortString,
    cluster_id: optShortString,
    prompt_id: optShortString,
    prompt_preview: optString,
    response_preview: optString,
  },
} as const;

export const sampleDataSchema = {
  $id: "sample",
  type: "object",
  additionalProperties: false,
  required: ["metric_type", "value"],
  properties: {
    metric_type: { type: "string", pattern: METRIC_NAME_PATTERN, maxLength: 200 },
    value: { type: "number" },
    model: optShortString,
    project: optShortString,
    endpoint: optShortString,
    cluster: optShortString,
    labels: {
      type: ["object", "null"],
      maxProperties: 64,
      propertyNames: { maxLength: 200 },
      additionalProperties: { type: "string", maxLength: 4_096 },
    },
  },
} as const;

/**
 * CloudEvents 1.0 structured-mode envelope. Extension attributes (Dapr adds topic, pubsubname,
 * traceid, traceparent, tracestate) must follow the spec's naming rule: lower-case letters and digits.
 */
export const envelopeSchema = {
  $id: "envelope",
  type: "object",
  required: ["specversion", "id", "source", "type"],
  propertyNames: { pattern: "^(?:[a-z0-9]{1,20}|data_base64)$" },
  properties: {
    specversion: { const: "1.0" },
    id: { type: "string", minLength: 1, maxLength: 1_024 },
    source: { type: "string", minLength: 1, maxLength: 1_024 },
    type: { type: "string", minLength: 1, maxLength: 1_024 },
    time: dateTime,
    datacontenttype: { type: "string" },
    dataschema: { type: "string" },
    subject: { type: "string" },
    data: {},
    data_base64: { type: "string" },
  },
} as const;
