import { ExportTraceServiceResponse, RpcStatus, type DecodeFailure, type OtlpFormat } from "./decode";
import type { SpansResult } from "./otlp-ingest";

/**
 * The OTLP/HTTP answers (OpenTelemetry specification, OTLP/HTTP "Response"), in the request's
 * encoding:
 * - 200 with an ExportTraceServiceResponse: empty when every span was accepted (0 bytes in
 *   protobuf, `{}` in JSON); `partial_success {rejected_spans, error_message}` when some spans were
 *   unusable — the client must not retry those;
 * - 400 / 413 / 415 with a google.rpc.Status for a body that cannot be read — not retryable;
 * - 503 with `Retry-After` (seconds) and a Status when nothing may be acknowledged yet (pending
 *   store full, store or ClickHouse unavailable) — retryable: the client resends the whole request,
 *   which is idempotent.
 * Never 500: the Collector's exporter treats every status but 429/502/503/504 as permanent and
 * drops the batch.
 */

export interface OtlpAnswer {
  status: number;
  headers: Record<string, string>;
  body: Uint8Array;
}

function contentType(format: OtlpFormat): string {
  return format === "protobuf" ? "application/x-protobuf" : "application/json";
}

/** google.rpc.Status code for the HTTP status (INVALID_ARGUMENT 3, UNAVAILABLE 14, …). */
function rpcCode(status: number): number {
  if (status === 400) return 3;
  if (status === 413) return 8; // RESOURCE_EXHAUSTED
  if (status === 415) return 3;
  return 14;
}

function statusBody(format: OtlpFormat, status: number, message: string): Uint8Array {
  if (format === "json") return Buffer.from(JSON.stringify({ code: rpcCode(status), message }));
  return RpcStatus.encode(RpcStatus.fromObject({ code: rpcCode(status), message })).finish();
}

/** A request that could not be decoded. An unknown media type is answered in JSON. */
export function answerDecodeFailure(f: DecodeFailure, format: OtlpFormat | undefined): OtlpAnswer {
  const fmt = format ?? "json";
  return {
    status: f.status,
    headers: { "content-type": contentType(fmt) },
    body: statusBody(fmt, f.status, f.message),
  };
}

/** Success, possibly partial: `rejected` spans (decode rejections) with the first reasons. */
export function answerSuccess(format: OtlpFormat, rejected: number, reasons: readonly string[]): OtlpAnswer {
  const headers = { "content-type": contentType(format) };
  if (rejected === 0) {
    return { status: 200, headers, body: format === "json" ? Buffer.from("{}") : new Uint8Array() };
  }
  const errorMessage = `${rejected} span(s) rejected: ${reasons.slice(0, 5).join("; ")}`.slice(0, 4096);
  if (format === "json") {
    return {
      status: 200,
      headers,
      body: Buffer.from(
        JSON.stringify({ partialSuccess: { rejectedSpans: String(rejected), errorMessage } }),
      ),
    };
  }
  const msg = ExportTraceServiceResponse.fromObject({
    partialSuccess: { rejectedSpans: rejected, errorMessage },
  });
  return { status: 200, headers, body: ExportTraceServiceResponse.encode(msg).finish() };
}

/** Not acknowledged: the client retries after `retryAfterSeconds`. */
export function answerRetry(format: OtlpFormat, retryAfterSeconds: number, message: string): OtlpAnswer {
  return {
    status: 503,
    headers: { "content-type": contentType(format), "retry-after": String(retryAfterSeconds) },
    body: statusBody(format, 503, message),
  };
}

/** The answer for a decoded request once the use case has run. */
export function answerSpans(
  format: OtlpFormat,
  rejected: ReadonlyArray<{ reason: string }>,
  result: SpansResult,
  retryAfterSeconds: number,
): OtlpAnswer {
  if (!result.ok) return answerRetry(format, retryAfterSeconds, `${result.reason}: ${result.message}`);
  return answerSuccess(
    format,
    rejected.length,
    rejected.map((r) => r.reason),
  );
}
