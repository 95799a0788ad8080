import zlib from "node:zlib";
import * as protobuf from "protobufjs/light";
import descriptor from "./otlp-trace.descriptor.json";

/**
 * OTLP/HTTP trace request bodies → typed spans.
 *
 * Binary (`application/x-protobuf`) bodies are decoded by protobufjs against a reflection descriptor
 * of the OTLP trace messages (`otlp-trace.descriptor.json`: the field numbers and wire types of
 * opentelemetry-proto's collector/trace/v1/trace_service.proto, trace/v1/trace.proto,
 * common/v1/common.proto and resource/v1/resource.proto; a test holds it to those files). JSON
 * (`application/json`) bodies follow the OTLP/JSON rules of the OTLP specification: ids are hex,
 * enums are integers, 64-bit integers are decimal strings or numbers, unknown fields are ignored.
 *
 * Failures are values: a body that cannot be read at all is a `DecodeFailure` naming the problem and
 * the HTTP status OTLP/HTTP prescribes (400 malformed, 413 too large, 415 unsupported type or
 * encoding); a single span that is unusable (bad ids, bad times, a malformed attribute list in JSON)
 * is listed in `rejected` and the rest of the request is kept (OTLP partial success).
 */

export type AttributeValue =
  | { type: "string"; value: string }
  | { type: "bool"; value: boolean }
  | { type: "int"; value: bigint }
  | { type: "double"; value: number }
  | { type: "bytes"; value: Uint8Array }
  | { type: "array"; value: AttributeValue[] }
  | { type: "kvlist"; value: Array<[string, AttributeValue]> }
  | { type: "empty" };

export type Attributes = Map<string, AttributeValue>;

export interface OtlpSpan {
  /** 32 lower-case hex digits, never all zero. */
  traceId: string;
  /** 16 lower-case hex digits, never all zero. */
  spanId: string;
  /** 16 lower-case hex digits, or "" for a root span. */
  parentSpanId: string;
  name: string;
  /** SpanKind enum value (0 unspecified … 5 consumer). */
  kind: number;
  startTimeUnixNano: bigint;
  endTimeUnixNano: bigint;
  attributes: Attributes;
  status: { code: number; message: string };
  /** Shared by every span of one ResourceSpans. */
  resource: Attributes;
  scope: { name: string; version: string };
}

export interface RejectedSpan {
  /** Position in the request (resource, scope, span), for logs. */
  path: string;
  traceId: string;
  spanId: string;
  reason: string;
}

export interface DecodedRequest {
  ok: true;
  format: "protobuf" | "json";
  spans: OtlpSpan[];
  rejected: RejectedSpan[];
}

export type DecodeFailureCode =
  "OTLP_UNSUPPORTED_MEDIA_TYPE" | "OTLP_UNSUPPORTED_ENCODING" | "OTLP_BODY_TOO_LARGE" | "OTLP_MALFORMED_BODY";

export interface DecodeFailure {
  ok: false;
  status: 400 | 413 | 415;
  code: DecodeFailureCode;
  message: string;
}

export type DecodeResult = DecodedRequest | DecodeFailure;

export type OtlpFormat = "protobuf" | "json";

const root = protobuf.Root.fromJSON(descriptor);
/** The request message type; tests and the trace generator encode with it. */
export const ExportTraceServiceRequest = root.lookupType("otlp.ExportTraceServiceRequest");
export const ExportTraceServiceResponse = root.lookupType("otlp.ExportTraceServiceResponse");
export const RpcStatus = root.lookupType("otlp.RpcStatus");

/** OTLP/HTTP's recommended bound on a request after decompression. */
export const DEFAULT_MAX_DECODED_BYTES = 64 * 1024 * 1024;

/** `application/x-protobuf` → protobuf, `application/json` → json (parameters ignored), else undefined. */
export function formatOf(contentType: string | undefined): OtlpFormat | undefined {
  const mime = (contentType ?? "").split(";")[0]!.trim().toLowerCase();
  if (mime === "application/x-protobuf" || mime === "application/protobuf") return "protobuf";
  if (mime === "application/json") return "json";
  return undefined;
}

function fail(status: 400 | 413 | 415, code: DecodeFailureCode, message: string): DecodeFailure {
  return { ok: false, status, code, message };
}

/**
 * Undoes `Content-Encoding` (gzip, deflate, identity; several comma-separated codings are undone
 * last-first), never producing more than `maxBytes`.
 */
export function decompress(
  body: Uint8Array,
  contentEncoding: string | undefined,
  maxBytes: number,
): { ok: true; bytes: Buffer } | DecodeFailure {
  let bytes = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const codings = (contentEncoding ?? "")
    .split(",")
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== "" && c !== "identity");
  for (const coding of codings.reverse()) {
    try {
      if (coding === "gzip" || coding === "x-gzip")
        bytes = zlib.gunzipSync(bytes, { maxOutputLength: maxBytes });
      else if (coding === "deflate") bytes = zlib.inflateSync(bytes, { maxOutputLength: maxBytes });
      else
        return fail(
          415,
          "OTLP_UNSUPPORTED_ENCODING",
          `Content-Encoding "${coding}" is not supported (gzip, deflate, identity)`,
        );
    } catch (err) {
      if (err instanceof RangeError || (err as { code?: string }).code === "ERR_BUFFER_TOO_LARGE") {
        return fail(413, "OTLP_BODY_TOO_LARGE", `decompressed body exceeds ${maxBytes} bytes`);
      }
      return fail(
        400,
        "OTLP_MALFORMED_BODY",
        `body is not valid ${coding}: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  }
  if (bytes.byteLength > maxBytes) {
    return fail(413, "OTLP_BODY_TOO_LARGE", `body exceeds ${maxBytes} bytes`);
  }
  return { ok: true, bytes };
}

/** One OTLP/HTTP request body (as received, possibly compressed) → spans, or why not. */
export function decodeTraceRequest(input: {
  body: Uint8Array;
  contentType: string | undefined;
  contentEncoding?: string | undefined;
  maxBytes?: number;
}): DecodeResult {
  const format = formatOf(input.contentType);
  if (!format) {
    return fail(
      415,
      "OTLP_UNSUPPORTED_MEDIA_TYPE",
      `Content-Type "${input.contentType ?? ""}" is not supported (application/x-protobuf, application/json)`,
    );
  }
  const plain = decompress(input.body, input.contentEncoding, input.maxBytes ?? DEFAULT_MAX_DECODED_BYTES);
  if (!plain.ok) return plain;
  return format === "protobuf" ? decodeProtobuf(plain.bytes) : decodeJson(plain.bytes.toString("utf8"));
}

// ---------------------------------------------------------------------------------------------
// protobuf

interface LongLike {
  low: number;
  high: number;
  unsigned?: boolean;
}

function isLong(v: unknown): v is LongLike {
  return typeof v === "object" && v !== null && typeof (v as LongLike).low === "number";
}

/** protobufjs gives 64-bit fields as Long (or number when small); `signed` picks int64 vs fixed64. */
function longToBigInt(v: unknown, signed: boolean): bigint {
  if (typeof v === "number") return BigInt(v);
  if (typeof v === "string") return BigInt(v);
  if (isLong(v)) {
    const u = (BigInt(v.high >>> 0) << 32n) | BigInt(v.low >>> 0);
    return signed ? BigInt.asIntN(64, u) : u;
  }
  return 0n;
}

function hexOf(b: unknown): string {
  if (b instanceof Uint8Array && b.byteLength > 0) {
    return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
  }
  return "";
}

interface PbAnyValue {
  value?: string;
  stringValue?: string;
  boolValue?: boolean;
  intValue?: unknown;
  doubleValue?: number;
  bytesValue?: Uint8Array;
  arrayValue?: { values?: PbAnyValue[] } | null;
  kvlistValue?: { values?: PbKeyValue[] } | null;
}
interface PbKeyValue {
  key?: string;
  value?: PbAnyValue | null;
}

function pbValue(v: PbAnyValue | null | undefined, depth: number): AttributeValue {
  if (!v || depth > 32) return { type: "empty" };
  switch (v.value) {
    case "stringValue":
      return { type: "string", value: v.stringValue ?? "" };
    case "boolValue":
      return { type: "bool", value: v.boolValue === true };
    case "intValue":
      return { type: "int", value: longToBigInt(v.intValue, true) };
    case "doubleValue":
      return { type: "double", value: v.doubleValue ?? 0 };
    case "bytesValue":
      return { type: "bytes", value: v.bytesValue ?? new Uint8Array() };
    case "arrayValue":
      return { type: "array", value: (v.arrayValue?.values ?? []).map((x) => pbValue(x, depth + 1)) };
    case "kvlistValue":
      return {
        type: "kvlist",
        value: (v.kvlistValue?.values ?? []).map((kv) => [kv.key ?? "", pbValue(kv.value, depth + 1)]),
      };
    default:
      return { type: "empty" };
  }
}

function pbAttributes(list: PbKeyValue[] | undefined): Attributes {
  const m: Attributes = new Map();
  // Later duplicates win, as in the Collector's pdata maps.
  for (const kv of list ?? []) m.set(kv.key ?? "", pbValue(kv.value, 0));
  return m;
}

interface PbSpan {
  traceId?: Uint8Array;
  spanId?: Uint8Array;
  parentSpanId?: Uint8Array;
  name?: string;
  kind?: number;
  startTimeUnixNano?: unknown;
  endTimeUnixNano?: unknown;
  attributes?: PbKeyValue[];
  status?: { code?: number; message?: string } | null;
}
interface PbRequest {
  resourceSpans?: Array<{
    resource?: { attributes?: PbKeyValue[] } | null;
    scopeSpans?: Array<{
      scope?: { name?: string; version?: string } | null;
      spans?: PbSpan[];
    }>;
  }>;
}

export function decodeProtobuf(bytes: Uint8Array): DecodeResult {
  let msg: PbRequest;
  try {
    msg = ExportTraceServiceRequest.decode(bytes) as unknown as PbRequest;
  } catch (err) {
    return fail(
      400,
      "OTLP_MALFORMED_BODY",
      `body is not a protobuf ExportTraceServiceRequest: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  const spans: OtlpSpan[] = [];
  const rejected: RejectedSpan[] = [];
  (msg.resourceSpans ?? []).forEach((rs, ri) => {
    const resource = pbAttributes(rs.resource?.attributes);
    (rs.scopeSpans ?? []).forEach((ss, si) => {
      const scope = { name: ss.scope?.name ?? "", version: ss.scope?.version ?? "" };
      (ss.spans ?? []).forEach((sp, pi) => {
        const path = `resourceSpans[${ri}].scopeSpans[${si}].spans[${pi}]`;
        const traceId = hexOf(sp.traceId);
        const spanId = hexOf(sp.spanId);
        const parentSpanId = hexOf(sp.parentSpanId);
        const bad = idProblem(traceId, spanId, parentSpanId);
        if (bad) {
          rejected.push({ path, traceId, spanId, reason: bad });
          return;
        }
        spans.push({
          traceId,
          spanId,
          parentSpanId,
          name: sp.name ?? "",
          kind: sp.kind ?? 0,
          startTimeUnixNano: longToBigInt(sp.startTimeUnixNano, false),
          endTimeUnixNano: longToBigInt(sp.endTimeUnixNano, false),
          attributes: pbAttributes(sp.attributes),
          status: { code: sp.status?.code ?? 0, message: sp.status?.message ?? "" },
          resource,
          scope,
        });
      });
    });
  });
  return { ok: true, format: "protobuf", spans, rejected };
}

const ZERO = /^0+$/;

function idProblem(traceId: string, spanId: string, parentSpanId: string): string | undefined {
  if (traceId.length !== 32) return "traceId: must be 16 bytes";
  if (ZERO.test(traceId)) return "traceId: must not be all zero";
  if (spanId.length !== 16) return "spanId: must be 8 bytes";
  if (ZERO.test(spanId)) return "spanId: must not be all zero";
  if (parentSpanId !== "" && parentSpanId.length !== 16) return "parentSpanId: must be empty or 8 bytes";
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// JSON

/** Thrown inside one span's conversion only; caught per span and turned into a rejection. */
class SpanShapeError extends Error {}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function jsonList(v: unknown, what: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new SpanShapeError(`${what}: must be an array`);
  return v;
}

const HEX = /^[0-9a-fA-F]*$/;

function jsonId(v: unknown, what: string): string {
  if (v === undefined || v === null || v === "") return "";
  if (typeof v !== "string" || !HEX.test(v)) throw new SpanShapeError(`${what}: must be a hex string`);
  return v.toLowerCase();
}

const INT = /^-?\d+$/;

/** 64-bit integers: decimal string or JSON number (both MUST be accepted). */
function jsonInt(v: unknown, what: string, signed: boolean): bigint {
  if (v === undefined || v === null) return 0n;
  let n: bigint;
  if (typeof v === "number" && Number.isInteger(v)) n = BigInt(v);
  else if (typeof v === "string" && INT.test(v.trim())) n = BigInt(v.trim());
  else throw new SpanShapeError(`${what}: must be an integer (number or decimal string)`);
  const min = signed ? -(1n << 63n) : 0n;
  const max = signed ? (1n << 63n) - 1n : (1n << 64n) - 1n;
  if (n < min || n > max) throw new SpanShapeError(`${what}: out of 64-bit range`);
  return n;
}

function jsonDouble(v: unknown, what: string): number {
  if (typeof v === "number") return v;
  if (v === "NaN") return NaN;
  if (v === "Infinity") return Infinity;
  if (v === "-Infinity") return -Infinity;
  if (typeof v === "string" && v.trim() !== "" && Number.isFinite(Number(v))) return Number(v);
  throw new SpanShapeError(`${what}: must be a number`);
}

function jsonEnum(v: unknown, what: string): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === "number" && Number.isInteger(v)) return v;
  throw new SpanShapeError(`${what}: must be an integer enum value`);
}

function jsonValue(v: unknown, what: string, depth: number): AttributeValue {
  if (v === undefined || v === null) return { type: "empty" };
  if (!isObj(v)) throw new SpanShapeError(`${what}: must be an AnyValue object`);
  if (depth > 32) throw new SpanShapeError(`${what}: nested too deeply`);
  if ("stringValue" in v) {
    if (typeof v.stringValue !== "string") throw new SpanShapeError(`${what}.stringValue: must be a string`);
    return { type: "string", value: v.stringValue };
  }
  if ("boolValue" in v) {
    if (typeof v.boolValue !== "boolean") throw new SpanShapeError(`${what}.boolValue: must be a boolean`);
    return { type: "bool", value: v.boolValue };
  }
  if ("intValue" in v) return { type: "int", value: jsonInt(v.intValue, `${what}.intValue`, true) };
  if ("doubleValue" in v) return { type: "double", value: jsonDouble(v.doubleValue, `${what}.doubleValue`) };
  if ("bytesValue" in v) {
    if (typeof v.bytesValue !== "string") throw new SpanShapeError(`${what}.bytesValue: must be base64`);
    return { type: "bytes", value: Buffer.from(v.bytesValue, "base64") };
  }
  if ("arrayValue" in v) {
    const a = v.arrayValue;
    const values = isObj(a) ? jsonList(a.values, `${what}.arrayValue.values`) : [];
    return {
      type: "array",
      value: values.map((x, i) => jsonValue(x, `${what}.arrayValue[${i}]`, depth + 1)),
    };
  }
  if ("kvlistValue" in v) {
    const a = v.kvlistValue;
    const values = isObj(a) ? jsonList(a.values, `${what}.kvlistValue.values`) : [];
    return {
      type: "kvlist",
      value: values.map((kv, i) => {
        if (!isObj(kv)) throw new SpanShapeError(`${what}.kvlistValue[${i}]: must be a KeyValue object`);
        return [String(kv.key ?? ""), jsonValue(kv.value, `${what}.kvlistValue[${i}]`, depth + 1)];
      }),
    };
  }
  return { type: "empty" };
}

function jsonAttributes(v: unknown, what: string): Attributes {
  const m: Attributes = new Map();
  jsonList(v, what).forEach((kv, i) => {
    if (!isObj(kv)) throw new SpanShapeError(`${what}[${i}]: must be a KeyValue object`);
    if (kv.key !== undefined && typeof kv.key !== "string")
      throw new SpanShapeError(`${what}[${i}].key: must be a string`);
    m.set((kv.key as string | undefined) ?? "", jsonValue(kv.value, `${what}[${i}].value`, 0));
  });
  return m;
}

export function decodeJson(text: string): DecodeResult {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    return fail(
      400,
      "OTLP_MALFORMED_BODY",
      `body is not JSON: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  if (!isObj(body)) return fail(400, "OTLP_MALFORMED_BODY", "body must be a JSON object");
  if (body.resourceSpans !== undefined && !Array.isArray(body.resourceSpans)) {
    return fail(400, "OTLP_MALFORMED_BODY", "resourceSpans: must be an array");
  }
  const spans: OtlpSpan[] = [];
  const rejected: RejectedSpan[] = [];
  const resourceSpans = (body.resourceSpans as unknown[] | undefined) ?? [];
  for (let ri = 0; ri < resourceSpans.length; ri++) {
    const rs = resourceSpans[ri];
    const rsPath = `resourceSpans[${ri}]`;
    let resource: Attributes;
    let scopeSpans: unknown[];
    try {
      if (!isObj(rs)) throw new SpanShapeError(`${rsPath}: must be an object`);
      resource = jsonAttributes(
        isObj(rs.resource) ? rs.resource.attributes : undefined,
        "resource.attributes",
      );
      scopeSpans = jsonList(rs.scopeSpans, "scopeSpans");
    } catch (err) {
      if (!(err instanceof SpanShapeError)) throw err;
      // The spans under a broken resource cannot be attributed: count them all as rejected.
      rejected.push(...countSpansUnder(rs, rsPath, err.message));
      continue;
    }
    for (let si = 0; si < scopeSpans.length; si++) {
      const ss = scopeSpans[si];
      const ssPath = `${rsPath}.scopeSpans[${si}]`;
      let scope: { name: string; version: string };
      let list: unknown[];
      try {
        if (!isObj(ss)) throw new SpanShapeError(`${ssPath}: must be an object`);
        const sc = isObj(ss.scope) ? ss.scope : {};
        scope = {
          name: typeof sc.name === "string" ? sc.name : "",
          version: typeof sc.version === "string" ? sc.version : "",
        };
        list = jsonList(ss.spans, "spans");
      } catch (err) {
        if (!(err instanceof SpanShapeError)) throw err;
        rejected.push(...countSpansUnder(ss, ssPath, err.message, true));
        continue;
      }
      for (let pi = 0; pi < list.length; pi++) {
        const path = `${ssPath}.spans[${pi}]`;
        const sp = list[pi];
        const loose = isObj(sp) ? sp : {};
        const rawTrace = typeof loose.traceId === "string" ? loose.traceId.toLowerCase() : "";
        const rawSpan = typeof loose.spanId === "string" ? loose.spanId.toLowerCase() : "";
        try {
          if (!isObj(sp)) throw new SpanShapeError("span: must be an object");
          const traceId = jsonId(sp.traceId, "traceId");
          const spanId = jsonId(sp.spanId, "spanId");
          const parentSpanId = jsonId(sp.parentSpanId, "parentSpanId");
          const bad = idProblem(traceId, spanId, parentSpanId);
          if (bad) throw new SpanShapeError(bad);
          if (sp.name !== undefined && typeof sp.name !== "string")
            throw new SpanShapeError("name: must be a string");
          const status = isObj(sp.status) ? sp.status : {};
          spans.push({
            traceId,
            spanId,
            parentSpanId,
            name: (sp.name as string | undefined) ?? "",
            kind: jsonEnum(sp.kind, "kind"),
            startTimeUnixNano: jsonInt(sp.startTimeUnixNano, "startTimeUnixNano", false),
            endTimeUnixNano: jsonInt(sp.endTimeUnixNano, "endTimeUnixNano", false),
            attributes: jsonAttributes(sp.attributes, "attributes"),
            status: {
              code: jsonEnum(status.code, "status.code"),
              message: typeof status.message === "string" ? status.message : "",
            },
            resource,
            scope,
          });
        } catch (err) {
          if (!(err instanceof SpanShapeError)) throw err;
          rejected.push({ path, traceId: rawTrace, spanId: rawSpan, reason: err.message });
        }
      }
    }
  }
  return { ok: true, format: "json", spans, rejected };
}

/** Every span under a broken ResourceSpans/ScopeSpans, as rejections (at least one). */
function countSpansUnder(node: unknown, path: string, reason: string, isScope = false): RejectedSpan[] {
  const out: RejectedSpan[] = [];
  const scopes = isScope ? [node] : isObj(node) && Array.isArray(node.scopeSpans) ? node.scopeSpans : [];
  for (const ss of scopes) {
    if (isObj(ss) && Array.isArray(ss.spans)) {
      for (const sp of ss.spans) {
        const o = isObj(sp) ? sp : {};
        out.push({
          path,
          traceId: typeof o.traceId === "string" ? o.traceId.toLowerCase() : "",
          spanId: typeof o.spanId === "string" ? o.spanId.toLowerCase() : "",
          reason,
        });
      }
    }
  }
  return out.length > 0 ? out : [{ path, traceId: "", spanId: "", reason }];
}

// ---------------------------------------------------------------------------------------------
// Attribute values as the OpenTelemetry Collector stringifies them

/**
 * The string form of an attribute value, as the Collector's `pcommon.Value.AsString()` gives it
 * (and so as ClickHouse's `otel_traces.SpanAttributes` stores it): ints in decimal, bools
 * `true`/`false`, doubles like ECMAScript `String(number)`, bytes base64, arrays and maps as JSON,
 * an empty value "".
 */
export function attributeAsString(v: AttributeValue | undefined): string {
  if (!v) return "";
  switch (v.type) {
    case "string":
      return v.value;
    case "bool":
      return v.value ? "true" : "false";
    case "int":
      return v.value.toString();
    case "double":
      return doubleAsString(v.value);
    case "bytes":
      return Buffer.from(v.value).toString("base64");
    case "array":
    case "kvlist":
      return JSON.stringify(attributeAsJson(v));
    case "empty":
      return "";
  }
}

function doubleAsString(d: number): string {
  if (Number.isNaN(d)) return "json: unsupported value: NaN";
  if (d === Infinity) return "json: unsupported value: +Inf";
  if (d === -Infinity) return "json: unsupported value: -Inf";
  return String(d);
}

/** The JSON value of an attribute (arrays and maps nested), as the Collector renders them. */
export function attributeAsJson(v: AttributeValue): unknown {
  switch (v.type) {
    case "string":
    case "bool":
      return v.value;
    case "int":
      return Number(v.value);
    case "double":
      return Number.isFinite(v.value) ? v.value : doubleAsString(v.value);
    case "bytes":
      return Buffer.from(v.value).toString("base64");
    case "array":
      return v.value.map(attributeAsJson);
    case "kvlist":
      return Object.fromEntries(v.value.map(([k, x]) => [k, attributeAsJson(x)]));
    case "empty":
      return null;
  }
}
