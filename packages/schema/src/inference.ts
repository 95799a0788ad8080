/**
 * The inference record, declared once. From this declaration come: the JSON Schema the collector
 * validates `data` of an add_observability_metrics event with, the TypeScript type of validated data
 * (`InferenceData`), the raw table's column list and row type, the row mapping (`toInferenceRow`) and
 * the fast JSONEachRow writer the collector uses on its hot path (`createInferenceLineWriter`). A test
 * holds the engine's `system.columns` of `inference_events` to it. Adding a field: one entry here and
 * a migration adding the column (docs/ARCHITECTURE.md, "Adding things").
 *
 * Every bound is the column's, so a valid event never fails an insert: the engine refuses a whole
 * insert for one bad value, which would stall every event batched with it.
 */
import { toChDateTime64 } from "./time";

/** Lower- or upper-case hex UUID, nothing else (ajv-formats' uuid also admits a `urn:uuid:` prefix). */
export const UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";

const uuid = { type: "string", pattern: UUID_PATTERN } as const;
const optUuid = { type: ["string", "null"], pattern: UUID_PATTERN } as const;
const optText = { type: ["string", "null"], maxLength: 1_048_576 } as const;
const optShortText = { type: ["string", "null"], maxLength: 1_024 } as const;
/** Messages and outputs: a long conversation exceeds 1 MiB; 4 Mi characters bound a row. */
const optLongText = { type: ["string", "null"], maxLength: 4_194_304 } as const;
const optNonNegative = { type: ["number", "null"], minimum: 0 } as const;
const optCount = { type: ["integer", "null"], minimum: 0, maximum: 4_294_967_295 } as const;
const dateTime = { type: "string", format: "date-time" } as const;

/**
 * How a value becomes its column:
 *   id       a validated UUID, lower-cased;        time   RFC 3339 → DateTime64(3, 'UTC') text;
 *   bool     true/false;                             text   a string (absent → the column's empty value);
 *   number   a number (absent → the column's empty value);  json   an object stored as its JSON text.
 * `absent` is what a missing or null optional field becomes: SQL NULL (Nullable columns) or the
 * column's own empty value ('' , 0, false).
 */
export type Encoding = "id" | "time" | "bool" | "text" | "number" | "json";

export interface FieldSpec {
  ts: "string" | "number" | "boolean" | "object";
  required?: true;
  json: Readonly<Record<string, unknown>>;
  column: string;
  encoding: Encoding;
  absent?: "null" | "" | 0 | false | "inference";
}

export const INFERENCE_FIELDS = {
  inference_id: { ts: "string", required: true, json: uuid, column: "UUID", encoding: "id" },
  project_id: { ts: "string", required: true, json: uuid, column: "UUID", encoding: "id" },
  endpoint_id: { ts: "string", required: true, json: uuid, column: "UUID", encoding: "id" },
  model_id: { ts: "string", required: true, json: uuid, column: "UUID", encoding: "id" },
  is_success: { ts: "boolean", required: true, json: { type: "boolean" }, column: "Bool", encoding: "bool" },
  request_arrival_time: {
    ts: "string",
    required: true,
    json: dateTime,
    column: "DateTime64(3, 'UTC')",
    encoding: "time",
  },
  request_forward_time: {
    ts: "string",
    required: true,
    json: dateTime,
    column: "DateTime64(3, 'UTC')",
    encoding: "time",
  },
  request_ip: {
    ts: "string",
    json: { type: ["string", "null"], format: "ip" },
    column: "Nullable(IPv6)",
    encoding: "text",
    absent: "null",
  },
  /**
   * Decimal(18, 9): 9 integer digits. The bound is on the double JS parses (999999999.99999999 is
   * 1e9 as a double).
   */
  cost: {
    ts: "number",
    json: { type: ["number", "null"], minimum: 0, exclusiveMaximum: 1_000_000_000 },
    column: "Nullable(Decimal(18, 9))",
    encoding: "number",
    absent: "null",
  },
  response_analysis: {
    ts: "object",
    json: { type: ["object", "null"] },
    column: "Nullable(String)",
    encoding: "json",
    absent: "null",
  },
  api_key_id: { ts: "string", json: optUuid, column: "Nullable(UUID)", encoding: "text", absent: "null" },
  user_id: { ts: "string", json: optUuid, column: "Nullable(UUID)", encoding: "text", absent: "null" },
  api_key_project_id: {
    ts: "string",
    json: optUuid,
    column: "Nullable(UUID)",
    encoding: "text",
    absent: "null",
  },
  error_code: {
    ts: "string",
    json: optShortText,
    column: "LowCardinality(Nullable(String))",
    encoding: "text",
    absent: "null",
  },
  error_message: {
    ts: "string",
    json: optText,
    column: "Nullable(String)",
    encoding: "text",
    absent: "null",
  },
  error_type: {
    ts: "string",
    json: optShortText,
    column: "LowCardinality(Nullable(String))",
    encoding: "text",
    absent: "null",
  },
  status_code: {
    ts: "number",
    json: { type: ["integer", "null"], minimum: 100, maximum: 599 },
    column: "Nullable(UInt16)",
    encoding: "number",
    absent: "null",
  },
  model_name: {
    ts: "string",
    json: optShortText,
    column: "LowCardinality(String)",
    encoding: "text",
    absent: "",
  },
  model_provider: {
    ts: "string",
    json: optShortText,
    column: "LowCardinality(String)",
    encoding: "text",
    absent: "",
  },
  project_name: {
    ts: "string",
    json: optShortText,
    column: "LowCardinality(String)",
    encoding: "text",
    absent: "",
  },
  endpoint_name: {
    ts: "string",
    json: optShortText,
    column: "LowCardinality(String)",
    encoding: "text",
    absent: "",
  },
  endpoint_type: {
    ts: "string",
    json: optShortText,
    column: "LowCardinality(String)",
    encoding: "text",
    absent: "",
  },
  input_tokens: { ts: "number", json: optCount, column: "UInt32", encoding: "number", absent: 0 },
  output_tokens: { ts: "number", json: optCount, column: "UInt32", encoding: "number", absent: 0 },
  response_time_ms: {
    ts: "number",
    json: optNonNegative,
    column: "Nullable(Float64)",
    encoding: "number",
    absent: "null",
  },
  ttft_ms: {
    ts: "number",
    json: optNonNegative,
    column: "Nullable(Float64)",
    encoding: "number",
    absent: "null",
  },
  cached: {
    ts: "boolean",
    json: { type: ["boolean", "null"] },
    column: "Bool",
    encoding: "bool",
    absent: false,
  },
  finish_reason: {
    ts: "string",
    json: optShortText,
    column: "LowCardinality(Nullable(String))",
    encoding: "text",
    absent: "null",
  },
  cluster_id: {
    ts: "string",
    json: optShortText,
    column: "LowCardinality(String)",
    encoding: "text",
    absent: "",
  },
  prompt_id: {
    ts: "string",
    json: optShortText,
    column: "Nullable(String)",
    encoding: "text",
    absent: "null",
  },
  prompt_preview: {
    ts: "string",
    json: optText,
    column: "Nullable(String)",
    encoding: "text",
    absent: "null",
  },
  response_preview: {
    ts: "string",
    json: optText,
    column: "Nullable(String)",
    encoding: "text",
    absent: "null",
  },

  // ---- Fields the gateway's spans carry (migrations/0013; apps/collector/src/otlp, docs/OTLP.md) ----
  /**
   * Which record this is, as the original's three views derive them from spans: a model inference, a
   * request the gateway blocked (no handler ran; counted as a request, never a success, with
   * endpoint_type "blocked") or a /v1/responses call.
   */
  record_kind: {
    ts: "string",
    json: { type: ["string", "null"], enum: ["inference", "blocked", "response", null] },
    column: "LowCardinality(String)",
    encoding: "text",
    absent: "inference",
  },
  /** W3C trace id of the request's spans (32 lower-case hex digits). */
  trace_id: {
    ts: "string",
    json: { type: ["string", "null"], pattern: "^[0-9a-f]{32}$" },
    column: "Nullable(String)",
    encoding: "text",
    absent: "null",
  },
  /** The inference detail: messages sent (JSON text, as the gateway records them), output, system prompt. */
  input_messages: {
    ts: "string",
    json: optLongText,
    column: "Nullable(String)",
    encoding: "text",
    absent: "null",
  },
  output: { ts: "string", json: optLongText, column: "Nullable(String)", encoding: "text", absent: "null" },
  system_prompt: {
    ts: "string",
    json: optLongText,
    column: "Nullable(String)",
    encoding: "text",
    absent: "null",
  },
  /** The client as the gateway located and recognised it (its address is request_ip). */
  country_code: {
    ts: "string",
    json: optShortText,
    column: "LowCardinality(Nullable(String))",
    encoding: "text",
    absent: "null",
  },
  region: {
    ts: "string",
    json: optShortText,
    column: "LowCardinality(Nullable(String))",
    encoding: "text",
    absent: "null",
  },
  city: {
    ts: "string",
    json: optShortText,
    column: "LowCardinality(Nullable(String))",
    encoding: "text",
    absent: "null",
  },
  user_agent: { ts: "string", json: optText, column: "Nullable(String)", encoding: "text", absent: "null" },
  device_type: {
    ts: "string",
    json: optShortText,
    column: "LowCardinality(Nullable(String))",
    encoding: "text",
    absent: "null",
  },
  browser_name: {
    ts: "string",
    json: optShortText,
    column: "LowCardinality(Nullable(String))",
    encoding: "text",
    absent: "null",
  },
  os_name: {
    ts: "string",
    json: optShortText,
    column: "LowCardinality(Nullable(String))",
    encoding: "text",
    absent: "null",
  },
  /** The HTTP request at the gateway: method, path, its own processing time and the total duration. */
  method: {
    ts: "string",
    json: optShortText,
    column: "LowCardinality(Nullable(String))",
    encoding: "text",
    absent: "null",
  },
  path: {
    ts: "string",
    json: optShortText,
    column: "LowCardinality(Nullable(String))",
    encoding: "text",
    absent: "null",
  },
  gateway_processing_ms: {
    ts: "number",
    json: optCount,
    column: "Nullable(UInt32)",
    encoding: "number",
    absent: "null",
  },
  total_duration_ms: {
    ts: "number",
    json: optCount,
    column: "Nullable(UInt32)",
    encoding: "number",
    absent: "null",
  },
  /** Blocking: the request was refused by a rule (which, and why). */
  is_blocked: {
    ts: "boolean",
    json: { type: ["boolean", "null"] },
    column: "Bool",
    encoding: "bool",
    absent: false,
  },
  block_reason: {
    ts: "string",
    json: optShortText,
    column: "LowCardinality(Nullable(String))",
    encoding: "text",
    absent: "null",
  },
  rule_id: { ts: "string", json: optUuid, column: "Nullable(UUID)", encoding: "text", absent: "null" },
  /** The blocking rule's name and type as the gateway recorded them (budapp keys its rule counts by name). */
  rule_name: {
    ts: "string",
    json: optShortText,
    column: "LowCardinality(Nullable(String))",
    encoding: "text",
    absent: "null",
  },
  rule_type: {
    ts: "string",
    json: optShortText,
    column: "LowCardinality(Nullable(String))",
    encoding: "text",
    absent: "null",
  },
  /** The blocking event's own words for why (block_reason is the gateway's category). */
  block_reason_detail: {
    ts: "string",
    json: optShortText,
    column: "Nullable(String)",
    encoding: "text",
    absent: "null",
  },
  /** The /v1/responses response id. */
  response_id: {
    ts: "string",
    json: optShortText,
    column: "Nullable(String)",
    encoding: "text",
    absent: "null",
  },
} as const satisfies Record<string, FieldSpec>;

type Fields = typeof INFERENCE_FIELDS;
type FieldName = keyof Fields;
type TsOf<S> = S extends { ts: "string" }
  ? string
  : S extends { ts: "number" }
    ? number
    : S extends { ts: "boolean" }
      ? boolean
      : Record<string, unknown>;
type RequiredName = { [K in FieldName]: Fields[K] extends { required: true } ? K : never }[FieldName];
type OptionalName = Exclude<FieldName, RequiredName>;

/** `data` of an add_observability_metrics event, after validation against `inferenceDataSchema`. */
export type InferenceData = { [K in RequiredName]: TsOf<Fields[K]> } & {
  [K in OptionalName]?: TsOf<Fields[K]> | null;
};

/** Columns the envelope fills (the CloudEvent's own id and source), after the data fields. */
export const INFERENCE_ENVELOPE_COLUMNS = {
  event_id: "String",
  event_source: "LowCardinality(String)",
} as const;

type ColumnValue<S> = S extends { encoding: "bool" }
  ? boolean
  : S extends { encoding: "number"; absent: 0 }
    ? number
    : S extends { encoding: "number" }
      ? number | null
      : S extends { absent: "null" }
        ? string | null
        : string;

/** A raw-table row as written: times are 'YYYY-MM-DD HH:MM:SS.mmm' in UTC (DateTime64(3, 'UTC')). */
export type InferenceRow = { [K in FieldName]: ColumnValue<Fields[K]> } & {
  event_id: string;
  event_source: string;
};

export const INFERENCE_FIELD_NAMES = Object.keys(INFERENCE_FIELDS) as FieldName[];
export const INFERENCE_COLUMNS: readonly (keyof InferenceRow)[] = [
  ...INFERENCE_FIELD_NAMES,
  ...(Object.keys(INFERENCE_ENVELOPE_COLUMNS) as Array<keyof typeof INFERENCE_ENVELOPE_COLUMNS>),
];

/** The JSON Schema of `data`; unknown fields are errors (a publisher's typo shows at once). */
export const inferenceDataSchema = {
  $id: "inference",
  type: "object",
  additionalProperties: false,
  required: INFERENCE_FIELD_NAMES.filter((k) => (INFERENCE_FIELDS[k] as FieldSpec).required),
  properties: Object.fromEntries(INFERENCE_FIELD_NAMES.map((k) => [k, INFERENCE_FIELDS[k].json])),
};

function absentValue(spec: FieldSpec): unknown {
  return spec.absent === "null" || spec.absent === undefined ? null : spec.absent;
}

/** Maps validated data to its raw-table row (times normalised to UTC, milliseconds kept). */
export function toInferenceRow(d: InferenceData, env: { id: string; source: string }): InferenceRow {
  const row: Record<string, unknown> = {};
  const data = d as Record<string, unknown>;
  for (const k of INFERENCE_FIELD_NAMES) {
    const spec: FieldSpec = INFERENCE_FIELDS[k];
    const v = data[k];
    if (v == null) row[k] = absentValue(spec);
    else if (spec.encoding === "id") row[k] = (v as string).toLowerCase();
    else if (spec.encoding === "time") row[k] = toChDateTime64(Date.parse(v as string));
    else if (spec.encoding === "json") row[k] = JSON.stringify(v);
    else row[k] = v;
  }
  row.event_id = env.id;
  row.event_source = env.source;
  return row as InferenceRow;
}

/** 'YYYY-MM-DD HH:MM:SS.mmm' from an RFC 3339 text already validated. */
function chTime(text: string): string {
  // The common case, UTC with milliseconds, is a slice; any other form goes through Date.
  if (text.length === 24 && text.charCodeAt(23) === 90 /* Z */ && text.charCodeAt(10) === 84 /* T */) {
    return `${text.slice(0, 10)} ${text.slice(11, 23)}`;
  }
  return toChDateTime64(Date.parse(text));
}

/**
 * The JSONEachRow line of validated data, equal to `JSON.stringify(toInferenceRow(d, env))` (a test
 * compares them on generated and awkward inputs) at a fraction of the cost: serialisation is on the
 * collector's hot path. The function is generated once from the declaration, one expression per
 * field, as ajv generates its validators: a loop over per-field encoders measured ~27 % slower (50k
 * events, same run). Only field names from the declaration above and fixed encoders enter the
 * generated source, never input. Validated UUIDs need no escaping; every free text goes through
 * JSON.stringify.
 */
export function createInferenceLineWriter(): (
  d: InferenceData,
  env: { id: string; source: string },
) => string {
  const parts = INFERENCE_FIELD_NAMES.map((k, i) => {
    if (!/^[a-z_][a-z0-9_]*$/.test(k)) throw new Error(`field name ${k} cannot be generated`);
    const spec: FieldSpec = INFERENCE_FIELDS[k];
    const v = `d.${k}`;
    let encoded: string;
    switch (spec.encoding) {
      case "id":
        encoded = `'"' + ${v}.toLowerCase() + '"'`;
        break;
      case "time":
        encoded = `'"' + chTime(${v}) + '"'`;
        break;
      case "bool":
      case "number":
        encoded = `String(${v})`;
        break;
      case "json":
        encoded = `q(q(${v}))`;
        break;
      case "text":
        encoded = `q(${v})`;
        break;
    }
    const prefix = JSON.stringify(`${i === 0 ? "{" : ","}"${k}":`);
    const absent = JSON.stringify(JSON.stringify(absentValue(spec)));
    return `${prefix} + (${v} == null ? ${absent} : ${encoded})`;
  });
  const body = `return ${parts.join(" +\n")} + ',"event_id":' + q(env.id) + ',"event_source":' + q(env.source) + "}";`;
  const make = new Function("q", "chTime", `return function inferenceLine(d, env) {\n${body}\n};`) as (
    q: (v: unknown) => string,
    chTime: (text: string) => string,
  ) => (d: InferenceData, env: { id: string; source: string }) => string;
  return make(JSON.stringify, chTime);
}
