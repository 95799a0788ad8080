import { JsonTraceSerializer, ProtobufTraceSerializer } from "@opentelemetry/otlp-transformer";
import { RpcStatus } from "../src/otlp/decode";
import { answerDecodeFailure, answerSpans, answerSuccess } from "../src/otlp/response";

/** The answers as an OTLP client parses them (the OpenTelemetry JS SDK's own response decoders). */
describe("OTLP/HTTP answers", () => {
  it("full success: an empty ExportTraceServiceResponse (0 bytes in protobuf, {} in JSON)", () => {
    const pb = answerSuccess("protobuf", 0, []);
    expect([pb.status, pb.body.byteLength, pb.headers["content-type"]]).toEqual([
      200,
      0,
      "application/x-protobuf",
    ]);
    expect(ProtobufTraceSerializer.deserializeResponse(pb.body)).toEqual({});
    const js = answerSuccess("json", 0, []);
    expect(JsonTraceSerializer.deserializeResponse(js.body)).toEqual({});
  });

  it("partial success: rejected_spans and error_message, status 200 (not retried)", () => {
    const reasons = ["spanId: must not be all zero", "traceId: must be 16 bytes"];
    const pb = answerSuccess("protobuf", 2, reasons);
    const parsed = ProtobufTraceSerializer.deserializeResponse(pb.body) as {
      partialSuccess: { rejectedSpans: unknown; errorMessage: string };
    };
    expect(pb.status).toBe(200);
    expect(Number(parsed.partialSuccess.rejectedSpans)).toBe(2);
    expect(parsed.partialSuccess.errorMessage).toBe(`2 span(s) rejected: ${reasons.join("; ")}`);
    const js = JsonTraceSerializer.deserializeResponse(
      answerSuccess("json", 2, reasons).body,
    ) as typeof parsed;
    expect(Number(js.partialSuccess.rejectedSpans)).toBe(2);
  });

  it("not acknowledged: 503 with Retry-After and a Status, in the request's encoding", () => {
    const a = answerSpans(
      "protobuf",
      [],
      {
        ok: false,
        retryable: true,
        reason: "backpressure",
        message: "full",
        counts: { received: 1, ignored: 0, accepted: 0, duplicates: 0, late: 0 },
      },
      5,
    );
    expect([a.status, a.headers["retry-after"]]).toEqual([503, "5"]);
    expect(RpcStatus.toObject(RpcStatus.decode(a.body))).toEqual({ code: 14, message: "backpressure: full" });
  });

  it("unreadable bodies: the decoder's status with a Status body", () => {
    const a = answerDecodeFailure(
      { ok: false, status: 415, code: "OTLP_UNSUPPORTED_MEDIA_TYPE", message: "no" },
      undefined,
    );
    expect([a.status, a.headers["content-type"], JSON.parse(Buffer.from(a.body).toString())]).toEqual([
      415,
      "application/json",
      { code: 3, message: "no" },
    ]);
  });
});
