import Ajv, { type ErrorObject, type ValidateFunction } from "ajv";
import addFormats from "ajv-formats";
import net from "node:net";
import {
  createInferenceLineWriter,
  sampleKey,
  toSampleRow,
  type InferenceData,
  type SampleData,
} from "@budmetrics/schema";
import type { CollectorErrorCode } from "../errors";
import { envelopeSchema, inferenceDataSchema, sampleDataSchema } from "./schemas";
import { INFERENCE_EVENT_TYPE, type EventKind } from "./kinds";
import { findUnstorable, toWellFormed } from "./storable";
import type { PreparedRow } from "./ports";

/**
 * Untrusted input → a row ready for the batcher, or a rejection naming the field and the rule.
 * Pure apart from the compiled validators; never throws for bad input: a failure is a value naming the
 * field and the rule.
 */
export { INFERENCE_EVENT_TYPE } from "./kinds";

/** The type Dapr gives an envelope it built around a non-CloudEvent message. */
export const DAPR_WRAPPED_TYPE = "com.dapr.event.sent";

export type { EventKind } from "./kinds";

export interface AcceptedEvent {
  ok: true;
  kind: EventKind;
  /** CloudEvent id (what logs carry). */
  id: string;
  type: string;
  source: string;
  row: PreparedRow;
  /** The validated data of an inference (what a held CloudEvent keeps, docs/OTLP.md). */
  data?: InferenceData;
}

export type RejectionCode = Extract<CollectorErrorCode, `EVENT_${string}`>;

export interface RejectedEvent {
  ok: false;
  code: RejectionCode;
  /** `field: rule`, for humans. */
  reason: string;
  /** Dotted path of the offending field ("" for the whole payload). */
  field: string;
  id: string;
  type: string;
  source: string;
  /** The payload as received (or re-serialised from the parsed body), for the quarantine row. */
  raw: string;
}

export type ParsedEvent = AcceptedEvent | RejectedEvent;

export interface EventParser {
  /** A CloudEvent in structured form (already JSON-parsed). */
  parseCloudEvent(event: unknown): ParsedEvent;
  /** Raw bytes of a message: a CloudEvent JSON, or bare inference data (Dapr rawPayload). */
  parseRaw(text: string): ParsedEvent;
  /**
   * Inference data made elsewhere (a record assembled from spans), checked with the same rules as
   * an event's `data` and written with the same line writer; `ids` are the envelope columns.
   */
  parseInferenceData(data: unknown, ids: { id: string; source: string }): ParsedEvent;
  isSampleType(type: string): boolean;
}

/**
 * Event times the tables can keep in the right bucket: the raw table's DateTime64 spans 1900–2299, but
 * the rollups' bucket_start is a DateTime (seconds since 1970 in 32 bits, up to 2106-02-07), so a
 * time outside 1970–2105 would be stored raw and counted in a wrong bucket (2299 wraps to 2027).
 */
const EVENT_TIME_MIN_MS = Date.UTC(1970, 0, 1);
const EVENT_TIME_MAX_MS = Date.UTC(2105, 11, 31, 23, 59, 59, 999);
const EVENT_TIME_RULE = "must lie in 1970–2105 (the rollups' range)";
const MAX_RAW_CHARS = 1_048_576;

function str(v: unknown): string {
  return typeof v === "string" ? v : "";
}

/** "/data/status_code" → "data.status_code"; unknown-field errors name the unknown field. */
export function describeAjvError(e: ErrorObject, prefix: string): { field: string; rule: string } {
  const base = [prefix, ...e.instancePath.split("/").filter(Boolean)].filter(Boolean).join(".");
  const join = (name: string) => (base ? `${base}.${name}` : name);
  const propertyName = (e as { propertyName?: string }).propertyName;
  if (propertyName !== undefined) {
    return {
      field: join(propertyName),
      rule: "is not a CloudEvents attribute name (lower-case letters and digits)",
    };
  }
  switch (e.keyword) {
    case "additionalProperties":
      return {
        field: join(String((e.params as { additionalProperty: string }).additionalProperty)),
        rule: "unknown field",
      };
    case "required":
      return {
        field: join(String((e.params as { missingProperty: string }).missingProperty)),
        rule: "is required",
      };
    case "propertyNames":
      return {
        field: join(String((e.params as { propertyName: string }).propertyName)),
        rule: "is not a CloudEvents attribute name (lower-case letters and digits)",
      };
    case "format":
      return { field: base, rule: `must be a valid ${(e.params as { format: string }).format}` };
    case "pattern":
      return {
        field: base,
        rule: /uuid|0-9a-fA-F/.test(String((e.params as { pattern: string }).pattern))
          ? "must be a UUID"
          : `must match ${(e.params as { pattern: string }).pattern}`,
      };
    case "type":
      return {
        field: base,
        rule: `must be ${String((e.params as { type: unknown }).type).replace(",", " or ")}`,
      };
    default:
      return { field: base, rule: e.message ?? e.keyword };
  }
}

export function createEventParser(opts: { sampleTypes: readonly string[] }): EventParser {
  // Compiled once: ajv code generation is the expensive part, validation of one event is microseconds.
  const ajv = new Ajv({ allErrors: false, allowUnionTypes: true, strict: true, unicodeRegExp: false });
  addFormats(ajv, ["date-time"]);
  // An IPv6 zone ("fe80::1%eth0") is valid text for Node but not for the IPv6 column.
  ajv.addFormat("ip", (s: string) => net.isIP(s) !== 0 && !s.includes("%"));
  const validateEnvelope: ValidateFunction = ajv.compile(envelopeSchema);
  const validateInference: ValidateFunction = ajv.compile(inferenceDataSchema);
  const validateSample: ValidateFunction = ajv.compile(sampleDataSchema);
  const sampleTypes = new Set(opts.sampleTypes);
  const toInferenceLine = createInferenceLineWriter();

  function reject(
    code: RejectionCode,
    field: string,
    rule: string,
    ids: { id: string; type: string; source: string },
    raw: () => string,
  ): RejectedEvent {
    let text: string;
    try {
      text = raw() ?? "";
    } catch {
      // JSON.stringify of a payload nested too deep for the stack: keep what can be said of it.
      text = "[payload not serialisable: nested too deep]";
    }
    if (text.length > MAX_RAW_CHARS) text = text.slice(0, MAX_RAW_CHARS);
    return { ok: false, code, field, reason: field ? `${field}: ${rule}` : rule, ...ids, raw: text };
  }

  function timeMs(text: string): number {
    const ms = Date.parse(text);
    return ms >= EVENT_TIME_MIN_MS && ms <= EVENT_TIME_MAX_MS ? ms : NaN;
  }

  /** Decodes `data_base64` or a JSON-in-a-string `data`; undefined when it is not JSON. */
  function decodeData(ev: Record<string, unknown>): { value: unknown } | undefined {
    if (typeof ev.data_base64 === "string") {
      try {
        return { value: JSON.parse(Buffer.from(ev.data_base64, "base64").toString("utf8")) };
      } catch {
        return undefined;
      }
    }
    if (typeof ev.data === "string") {
      try {
        return { value: JSON.parse(ev.data) };
      } catch {
        return { value: ev.data };
      }
    }
    return { value: ev.data };
  }

  function parseCloudEvent(event: unknown, rawText?: string): ParsedEvent {
    const raw = () => rawText ?? JSON.stringify(event);
    const obj = (event && typeof event === "object" && !Array.isArray(event) ? event : {}) as Record<
      string,
      unknown
    >;
    const ids = { id: str(obj.id), type: str(obj.type), source: str(obj.source) };
    if (!event || typeof event !== "object" || Array.isArray(event)) {
      return reject("EVENT_ENVELOPE_INVALID", "", "a CloudEvent must be a JSON object", ids, raw);
    }
    const unstorable = findUnstorable(obj, "");
    if (unstorable) {
      const inData = unstorable.field === "data" || unstorable.field.startsWith("data.");
      return reject(
        inData ? "EVENT_SCHEMA_INVALID" : "EVENT_ENVELOPE_INVALID",
        unstorable.field,
        unstorable.rule,
        { id: toWellFormed(ids.id), type: toWellFormed(ids.type), source: toWellFormed(ids.source) },
        raw,
      );
    }
    if (!validateEnvelope(obj)) {
      const { field, rule } = describeAjvError(validateEnvelope.errors![0]!, "");
      return reject("EVENT_ENVELOPE_INVALID", field, rule, ids, raw);
    }
    const type = obj.type as string;
    const decoded = decodeData(obj);
    if (type !== INFERENCE_EVENT_TYPE && !sampleTypes.has(type)) {
      // Dapr rawPayload: a synthetic envelope (random id, its own type) around the publisher's bytes.
      if (decoded && isObject(decoded.value) && typeof obj.data_base64 === "string") {
        return parseBare(decoded.value, () =>
          Buffer.from(obj.data_base64 as string, "base64").toString("utf8"),
        );
      }
      // A publisher that sent bare JSON through Dapr's publish API: Dapr wrapped it in its own envelope.
      if (type === DAPR_WRAPPED_TYPE && decoded && isObject(decoded.value))
        return parseBare(decoded.value, raw);
      return reject("EVENT_TYPE_UNKNOWN", "type", `unknown event type "${type}"`, ids, raw);
    }
    if (!decoded) {
      return reject("EVENT_MALFORMED_JSON", "data_base64", "is not base64 of a JSON document", ids, raw);
    }
    if (type === INFERENCE_EVENT_TYPE) return parseInference(decoded.value, ids, raw);
    return parseSample(decoded.value, obj.time, ids, raw);
  }

  function parseInference(
    data: unknown,
    ids: { id: string; type: string; source: string },
    raw: () => string,
  ): ParsedEvent {
    if (!validateInference(data)) {
      const { field, rule } = describeAjvError(validateInference.errors![0]!, "data");
      return reject("EVENT_SCHEMA_INVALID", field, rule, ids, raw);
    }
    const d = data as unknown as InferenceData;
    const arrival = timeMs(d.request_arrival_time);
    if (Number.isNaN(arrival)) {
      return reject("EVENT_SCHEMA_INVALID", "data.request_arrival_time", EVENT_TIME_RULE, ids, raw);
    }
    const forward = timeMs(d.request_forward_time);
    if (Number.isNaN(forward)) {
      return reject("EVENT_SCHEMA_INVALID", "data.request_forward_time", EVENT_TIME_RULE, ids, raw);
    }
    if (forward < arrival) {
      return reject(
        "EVENT_RULE_VIOLATED",
        "data.request_forward_time",
        "must not be before request_arrival_time",
        ids,
        raw,
      );
    }
    return {
      ok: true,
      kind: "inference",
      ...ids,
      row: {
        key: d.inference_id.toLowerCase(),
        timeMs: arrival,
        line: toInferenceLine(d, ids),
      },
      data: d,
    };
  }

  function parseSample(
    data: unknown,
    time: unknown,
    ids: { id: string; type: string; source: string },
    raw: () => string,
  ): ParsedEvent {
    if (typeof time !== "string") {
      return reject(
        "EVENT_ENVELOPE_INVALID",
        "time",
        "is required for a metric sample (it is the sample time)",
        ids,
        raw,
      );
    }
    const ms = timeMs(time);
    if (Number.isNaN(ms)) return reject("EVENT_ENVELOPE_INVALID", "time", EVENT_TIME_RULE, ids, raw);
    if (!validateSample(data)) {
      const { field, rule } = describeAjvError(validateSample.errors![0]!, "data");
      return reject("EVENT_SCHEMA_INVALID", field, rule, ids, raw);
    }
    const row = toSampleRow(data as unknown as SampleData, { ...ids, timeMs: ms });
    return {
      ok: true,
      kind: "sample",
      ...ids,
      row: { key: sampleKey(ids.source, ids.id), timeMs: ms, line: JSON.stringify(row) },
    };
  }

  /** Bytes that are not a CloudEvent: a CloudEvent after all, or bare inference data. */
  function parseBare(value: Record<string, unknown>, raw: () => string): ParsedEvent {
    if ("specversion" in value) return parseCloudEvent(value, undefined);
    if ("inference_id" in value) {
      const id = toWellFormed(str(value.inference_id));
      const unstorable = findUnstorable(value, "data");
      if (unstorable) {
        return reject(
          "EVENT_SCHEMA_INVALID",
          unstorable.field,
          unstorable.rule,
          { id, type: INFERENCE_EVENT_TYPE, source: "dapr-raw-payload" },
          raw,
        );
      }
      // The payload's own id is the identity: Dapr gives rawPayload messages a new envelope id per delivery.
      return parseInference(value, { id, type: INFERENCE_EVENT_TYPE, source: "dapr-raw-payload" }, raw);
    }
    return reject(
      "EVENT_TYPE_UNKNOWN",
      "",
      "raw payload is neither a CloudEvent nor inference data (no specversion, no inference_id)",
      { id: "", type: "", source: "" },
      raw,
    );
  }

  return {
    parseCloudEvent: (event) => parseCloudEvent(event),
    parseRaw(text) {
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        return reject(
          "EVENT_MALFORMED_JSON",
          "",
          "payload is not valid JSON",
          { id: "", type: "", source: "" },
          () => text,
        );
      }
      if (!isObject(value)) {
        return reject(
          "EVENT_ENVELOPE_INVALID",
          "",
          "payload is not a JSON object",
          { id: "", type: "", source: "" },
          () => text,
        );
      }
      if ("specversion" in value) return parseCloudEvent(value, text);
      return parseBare(value, () => text);
    },
    parseInferenceData(data, ids) {
      const withType = { ...ids, type: INFERENCE_EVENT_TYPE };
      const raw = () => JSON.stringify(data);
      const unstorable = findUnstorable(data, "data");
      if (unstorable) return reject("EVENT_SCHEMA_INVALID", unstorable.field, unstorable.rule, withType, raw);
      return parseInference(data, withType, raw);
    },
    isSampleType: (type) => sampleTypes.has(type),
  };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
