/**
 * JSON Schemas of what the collector accepts besides the inference record (whose schema is derived
 * from its declaration in packages/schema inference.ts). Compiled once per app by `createEventParser`.
 * Unknown fields are errors (additionalProperties: false) so a typo in a publisher shows up at once
 * instead of as a silently missing measurement.
 */
export { inferenceDataSchema, UUID_PATTERN } from "@budmetrics/schema";

export const METRIC_NAME_PATTERN = "^[a-z][a-z0-9_.]*$";

const optShortString = { type: ["string", "null"], maxLength: 1_024 } as const;
const dateTime = { type: "string", format: "date-time" } as const;

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
