import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import * as protobufFull from "protobufjs";
import type { Tracer } from "@opentelemetry/api";
import { JsonTraceSerializer, ProtobufTraceSerializer } from "@opentelemetry/otlp-transformer";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import descriptor from "../src/otlp/otlp-trace.descriptor.json";
import {
  attributeAsString,
  decodeTraceRequest,
  ExportTraceServiceRequest,
  type DecodedRequest,
  type DecodeResult,
} from "../src/otlp/decode";
import { encodeOtlpJson, encodeOtlpProtobuf, type OtlpJsonRequest } from "../../../test/support/otlp-gateway";

/**
 * Oracles: opentelemetry-proto's own .proto files (vendored under fixtures/opentelemetry-proto),
 * loaded by protobufjs' full build; the original service's ClickHouse rows (fixtures/otlp/
 * otel_traces_sample.json — every attribute as the Collector stringified it); and requests made by
 * the OpenTelemetry JS SDK's own serializers.
 */

const FIXTURES = path.join(__dirname, "fixtures");
const otlpJson = JSON.parse(
  fs.readFileSync(path.join(FIXTURES, "otlp", "otel_traces_sample.otlp.json"), "utf8"),
) as OtlpJsonRequest;
const rows = JSON.parse(
  fs.readFileSync(path.join(FIXTURES, "otlp", "otel_traces_sample.json"), "utf8"),
) as Record<
  string,
  Array<{
    TraceId: string;
    SpanId: string;
    ParentSpanId: string;
    SpanName: string;
    SpanAttributes: Record<string, string>;
    Timestamp: string;
  }>
>;

function officialRoot(): protobufFull.Root {
  const root = new protobufFull.Root();
  const base = path.join(FIXTURES, "opentelemetry-proto");
  root.resolvePath = (_origin, target) => path.join(base, target);
  root.loadSync("opentelemetry/proto/collector/trace/v1/trace_service.proto", { keepCase: false });
  root.resolveAll();
  return root;
}

function ok(r: DecodeResult): DecodedRequest {
  if (!r.ok) throw new Error(`decode failed: ${r.status} ${r.code} ${r.message}`);
  return r;
}

const OFFICIAL_NAMES: Record<string, string> = {
  ExportTraceServiceRequest: "opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest",
  ExportTraceServiceResponse: "opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse",
  ExportTracePartialSuccess: "opentelemetry.proto.collector.trace.v1.ExportTracePartialSuccess",
  ResourceSpans: "opentelemetry.proto.trace.v1.ResourceSpans",
  Resource: "opentelemetry.proto.resource.v1.Resource",
  ScopeSpans: "opentelemetry.proto.trace.v1.ScopeSpans",
  InstrumentationScope: "opentelemetry.proto.common.v1.InstrumentationScope",
  Span: "opentelemetry.proto.trace.v1.Span",
  Event: "opentelemetry.proto.trace.v1.Span.Event",
  Link: "opentelemetry.proto.trace.v1.Span.Link",
  Status: "opentelemetry.proto.trace.v1.Status",
  KeyValue: "opentelemetry.proto.common.v1.KeyValue",
  AnyValue: "opentelemetry.proto.common.v1.AnyValue",
  ArrayValue: "opentelemetry.proto.common.v1.ArrayValue",
  KeyValueList: "opentelemetry.proto.common.v1.KeyValueList",
};

describe("the OTLP descriptor agrees with opentelemetry-proto", () => {
  const root = officialRoot();
  const ours = (
    descriptor as unknown as {
      nested: {
        otlp: {
          nested: Record<string, { fields: Record<string, { id: number; type: string; rule?: string }> }>;
        };
      };
    }
  ).nested.otlp.nested;

  it.each(Object.entries(OFFICIAL_NAMES))(
    "%s: every field has the official number and wire type",
    (name, official) => {
      const type = root.lookupType(official);
      const fields = ours[name]!.fields;
      for (const [fieldName, f] of Object.entries(fields)) {
        const o = type.fields[fieldName];
        expect({ fieldName, id: o?.id }).toEqual({ fieldName, id: f.id });
        // Enums travel as varints, declared int32 here.
        const officialType =
          o!.resolvedType instanceof protobufFull.Enum ? "int32" : o!.type.split(".").pop();
        expect({ fieldName, type: officialType }).toEqual({ fieldName, type: f.type });
        expect({ fieldName, repeated: o!.repeated }).toEqual({ fieldName, repeated: f.rule === "repeated" });
      }
      // Official fields left out: only the ones documented as not needed.
      const missing = Object.keys(type.fields).filter((k) => !(k in fields));
      expect(
        missing.filter((k) => !["entityRefs", "stringValueStrindex", "keyStrindex"].includes(k)),
      ).toEqual([]);
    },
  );

  it("the fixture encodes to the same bytes with the official schema and ours", () => {
    const official = root.lookupType(OFFICIAL_NAMES.ExportTraceServiceRequest!);
    const viaOfficial = official
      .encode(official.fromObject(toProtoObject(otlpJson) as Record<string, unknown>))
      .finish();
    const viaOurs = encodeOtlpProtobuf(otlpJson);
    expect(Buffer.from(viaOurs).equals(Buffer.from(viaOfficial))).toBe(true);
    expect(viaOurs.byteLength).toBeGreaterThan(50_000);
  });
});

/** OTLP/JSON object → protobufjs fromObject input (hex ids → bytes). */
function toProtoObject(req: OtlpJsonRequest): unknown {
  const copy = structuredClone(req) as unknown as {
    resourceSpans: Array<{ scopeSpans: Array<{ spans: Array<Record<string, unknown>> }> }>;
  };
  for (const rs of copy.resourceSpans)
    for (const ss of rs.scopeSpans)
      for (const sp of ss.spans) {
        for (const k of ["traceId", "spanId", "parentSpanId"]) {
          sp[k] = sp[k] ? Buffer.from(sp[k] as string, "hex") : undefined;
        }
      }
  return copy;
}

describe("decoding the original's fixture", () => {
  const byKey = new Map<
    string,
    { SpanAttributes: Record<string, string>; ParentSpanId: string; Timestamp: string }
  >();
  for (const list of Object.values(rows)) for (const r of list) byKey.set(`${r.TraceId}/${r.SpanId}`, r);

  function checkAgainstRows(d: DecodedRequest) {
    expect(d.rejected).toEqual([]);
    expect(d.spans).toHaveLength(48);
    for (const s of d.spans) {
      const row = byKey.get(`${s.traceId}/${s.spanId}`)!;
      expect(row).toBeDefined();
      expect(s.parentSpanId).toBe(row.ParentSpanId);
      // Every attribute stringified as the Collector does equals the ClickHouse row's value.
      const asStrings = Object.fromEntries([...s.attributes].map(([k, v]) => [k, attributeAsString(v)]));
      expect(asStrings).toEqual(row.SpanAttributes);
      // Timestamp column: span start, nanoseconds.
      const [date, frac] = row.Timestamp.split(".");
      const ns = BigInt(Date.parse(`${date!.replace(" ", "T")}Z`)) * 1_000_000n + BigInt(frac!);
      expect(s.startTimeUnixNano).toBe(ns);
      expect(s.resource.get("service.name")).toEqual({ type: "string", value: "tensorzero-gateway" });
    }
  }

  it("protobuf", () => {
    const d = ok(
      decodeTraceRequest({ body: encodeOtlpProtobuf(otlpJson), contentType: "application/x-protobuf" }),
    );
    expect(d.format).toBe("protobuf");
    checkAgainstRows(d);
    const g = d.spans.find((s) => s.name === "gateway_analytics")!;
    expect(g.attributes.get("gateway_analytics.status_code")).toEqual({ type: "int", value: 200n });
    expect(g.attributes.get("gateway_analytics.is_bot")).toEqual({ type: "bool", value: false });
  });

  it("JSON, with and without gzip, and deflate", () => {
    const text = encodeOtlpJson(otlpJson);
    checkAgainstRows(ok(decodeTraceRequest({ body: Buffer.from(text), contentType: "application/json" })));
    checkAgainstRows(
      ok(
        decodeTraceRequest({
          body: zlib.gzipSync(text),
          contentType: "application/json; charset=utf-8",
          contentEncoding: "gzip",
        }),
      ),
    );
    checkAgainstRows(
      ok(
        decodeTraceRequest({
          body: zlib.deflateSync(encodeOtlpProtobuf(otlpJson)),
          contentType: "application/x-protobuf",
          contentEncoding: "deflate",
        }),
      ),
    );
  });

  it("gzip protobuf, as the Collector's otlphttp exporter sends by default", () => {
    const body = zlib.gzipSync(encodeOtlpProtobuf(otlpJson));
    checkAgainstRows(
      ok(decodeTraceRequest({ body, contentType: "application/x-protobuf", contentEncoding: "gzip" })),
    );
  });
});

describe("requests made by the OpenTelemetry JS SDK", () => {
  function sdkSpans() {
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ "service.name": "budgateway" }),
      spanProcessors: [new SimpleSpanProcessor(exporter)],
    });
    const tracer: Tracer = provider.getTracer("tensorzero", "1.2.3");
    const root = tracer.startSpan("gateway_analytics", { startTime: [1767766632, 960002156] });
    root.setAttributes({
      "gateway_analytics.status_code": 200,
      "gateway_analytics.latitude": 37.40560150146484,
      "gateway_analytics.is_bot": false,
      "gateway_analytics.path": "/v1/chat/completions",
      "gateway_analytics.tags": ["a", "b"],
    });
    root.end([1767766635, 301730357]);
    return { spans: exporter.getFinishedSpans(), root };
  }

  it("protobuf (ProtobufTraceSerializer)", () => {
    const { spans } = sdkSpans();
    const bytes = ProtobufTraceSerializer.serializeRequest(spans)!;
    const d = ok(decodeTraceRequest({ body: bytes, contentType: "application/x-protobuf" }));
    expect(d.spans).toHaveLength(1);
    const s = d.spans[0]!;
    expect(s.traceId).toBe(spans[0]!.spanContext().traceId);
    expect(s.spanId).toBe(spans[0]!.spanContext().spanId);
    expect(s.startTimeUnixNano).toBe(1767766632960002156n);
    expect(s.endTimeUnixNano).toBe(1767766635301730357n);
    expect(s.scope).toEqual({ name: "tensorzero", version: "1.2.3" });
    expect(s.resource.get("service.name")).toEqual({ type: "string", value: "budgateway" });
    expect(s.attributes.get("gateway_analytics.status_code")).toEqual({ type: "int", value: 200n });
    expect(attributeAsString(s.attributes.get("gateway_analytics.latitude"))).toBe("37.40560150146484");
    expect(attributeAsString(s.attributes.get("gateway_analytics.tags"))).toBe('["a","b"]');
    expect(s.attributes.get("gateway_analytics.is_bot")).toEqual({ type: "bool", value: false });
  });

  it("JSON (JsonTraceSerializer: intValue and times as JSON numbers or strings)", () => {
    const { spans } = sdkSpans();
    const text = Buffer.from(JsonTraceSerializer.serializeRequest(spans)!).toString("utf8");
    const d = ok(decodeTraceRequest({ body: Buffer.from(text), contentType: "application/json" }));
    const s = d.spans[0]!;
    expect(s.traceId).toBe(spans[0]!.spanContext().traceId);
    expect(s.attributes.get("gateway_analytics.status_code")).toEqual({ type: "int", value: 200n });
    expect(s.startTimeUnixNano).toBe(1767766632960002156n);
  });
});

describe("int64 and other JSON forms", () => {
  const span = (extra: Record<string, unknown>) => ({
    resourceSpans: [
      {
        resource: { attributes: [] },
        scopeSpans: [
          {
            scope: { name: "s" },
            spans: [
              {
                traceId: "EABBCEE5ECD7BDE08B51580B32136A14",
                spanId: "DCBB1843D1C22638",
                name: "gateway_analytics",
                kind: 1,
                startTimeUnixNano: 1767766632960002000,
                endTimeUnixNano: "1767766635301730357",
                ...extra,
              },
            ],
          },
        ],
      },
    ],
  });
  const decode = (body: unknown) =>
    decodeTraceRequest({ body: Buffer.from(JSON.stringify(body)), contentType: "application/json" });

  it("accepts numbers and decimal strings for intValue and times; hex ids in any case", () => {
    const d = ok(
      decode(
        span({
          attributes: [
            { key: "n", value: { intValue: 200 } },
            { key: "s", value: { intValue: "-9223372036854775808" } },
            { key: "d", value: { doubleValue: "NaN" } },
            { key: "b", value: { bytesValue: "AAE=" } },
            { key: "kv", value: { kvlistValue: { values: [{ key: "x", value: { intValue: "1" } }] } } },
            { key: "e", value: {} },
          ],
        }),
      ),
    );
    const s = d.spans[0]!;
    expect(s.traceId).toBe("eabbcee5ecd7bde08b51580b32136a14");
    expect(s.spanId).toBe("dcbb1843d1c22638");
    expect(s.startTimeUnixNano).toBe(BigInt(1767766632960002000));
    expect(s.endTimeUnixNano).toBe(1767766635301730357n);
    expect(s.attributes.get("n")).toEqual({ type: "int", value: 200n });
    expect(s.attributes.get("s")).toEqual({ type: "int", value: -9223372036854775808n });
    expect(s.attributes.get("d")!.type).toBe("double");
    expect(attributeAsString(s.attributes.get("b"))).toBe("AAE=");
    expect(attributeAsString(s.attributes.get("kv"))).toBe('{"x":1}');
    expect(attributeAsString(s.attributes.get("e"))).toBe("");
  });

  it("rejects one bad span (named) and keeps the others", () => {
    const body = span({});
    const spans = body.resourceSpans[0]!.scopeSpans[0]!.spans as unknown[] as Array<Record<string, unknown>>;
    spans.push({ ...spans[0]!, spanId: "0000000000000000" });
    spans.push({
      ...spans[0]!,
      spanId: "aaaaaaaaaaaaaaaa",
      attributes: [{ key: "x", value: { intValue: "1.5" } }],
    });
    spans.push({ ...spans[0]!, spanId: "bbbbbbbbbbbbbbbb", traceId: "abc" });
    spans.push({ ...spans[0]!, spanId: "cccccccccccccccc", kind: "SPAN_KIND_SERVER" });
    (spans as unknown[]).push("not a span");
    const d = ok(decode(body));
    expect(d.spans.map((s) => s.spanId)).toEqual(["dcbb1843d1c22638"]);
    expect(d.rejected.map((r) => r.reason)).toEqual([
      "spanId: must not be all zero",
      "attributes[0].value.intValue: must be an integer (number or decimal string)",
      "traceId: must be 16 bytes",
      "kind: must be an integer enum value",
      "span: must be an object",
    ]);
    expect(d.rejected[1]!.path).toBe("resourceSpans[0].scopeSpans[0].spans[2]");
  });

  it("an empty request is a success with no spans", () => {
    expect(ok(decode({})).spans).toEqual([]);
    expect(
      ok(decodeTraceRequest({ body: new Uint8Array(), contentType: "application/x-protobuf" })).spans,
    ).toEqual([]);
  });
});

describe("requests that cannot be read", () => {
  it("415 for an unknown content type or encoding", () => {
    expect(decodeTraceRequest({ body: Buffer.from("{}"), contentType: "text/plain" })).toMatchObject({
      ok: false,
      status: 415,
      code: "OTLP_UNSUPPORTED_MEDIA_TYPE",
    });
    expect(
      decodeTraceRequest({
        body: Buffer.from("{}"),
        contentType: "application/json",
        contentEncoding: "zstd",
      }),
    ).toMatchObject({ ok: false, status: 415, code: "OTLP_UNSUPPORTED_ENCODING" });
  });

  it("400 for malformed protobuf, JSON or gzip", () => {
    expect(
      decodeTraceRequest({
        body: Buffer.from([0x0a, 0xff, 0xff, 0x01]),
        contentType: "application/x-protobuf",
      }),
    ).toMatchObject({
      ok: false,
      status: 400,
      code: "OTLP_MALFORMED_BODY",
    });
    expect(decodeTraceRequest({ body: Buffer.from("{"), contentType: "application/json" })).toMatchObject({
      status: 400,
    });
    expect(
      decodeTraceRequest({ body: Buffer.from('{"resourceSpans": 5}'), contentType: "application/json" }),
    ).toMatchObject({
      status: 400,
      message: "resourceSpans: must be an array",
    });
    expect(
      decodeTraceRequest({
        body: Buffer.from("not gzip"),
        contentType: "application/json",
        contentEncoding: "gzip",
      }),
    ).toMatchObject({ status: 400 });
  });

  it("413 when the body is larger than the bound after decompression", () => {
    const big = Buffer.from(JSON.stringify({ resourceSpans: [], pad: "x".repeat(100_000) }));
    const gz = zlib.gzipSync(big);
    expect(gz.byteLength).toBeLessThan(2_000);
    expect(
      decodeTraceRequest({
        body: gz,
        contentType: "application/json",
        contentEncoding: "gzip",
        maxBytes: 50_000,
      }),
    ).toMatchObject({ ok: false, status: 413, code: "OTLP_BODY_TOO_LARGE" });
    expect(
      decodeTraceRequest({ body: big, contentType: "application/json", maxBytes: 50_000 }),
    ).toMatchObject({ status: 413 });
    expect(
      ok(
        decodeTraceRequest({
          body: gz,
          contentType: "application/json",
          contentEncoding: "gzip",
          maxBytes: 200_000,
        }),
      ).spans,
    ).toEqual([]);
  });

  it("the protobuf request type round-trips through protobufjs", () => {
    const bytes = encodeOtlpProtobuf(otlpJson);
    expect(ExportTraceServiceRequest.decode(bytes)).toBeDefined();
  });
});
