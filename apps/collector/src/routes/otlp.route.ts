import type { IncomingMessage } from "node:http";
import type { Response, Router } from "express";
import type { Logger } from "@budmetrics/logger";
import { requestIdOf } from "@budmetrics/http";
import { errorFields } from "../log-fields";
import {
  answerDecodeFailure,
  answerRetry,
  answerSpans,
  decodeTraceRequest,
  formatOf,
  type OtlpAnswer,
  type OtlpIngest,
  type SpansResult,
} from "../otlp";

/** What the route reports (Prometheus in production, see metrics.ts). */
export interface OtlpRouteMetrics {
  request(status: number): void;
  spans(outcome: "received" | "ignored" | "accepted" | "duplicate" | "late" | "rejected", n: number): void;
}

export type BodyRead = { ok: true; body: Buffer } | { ok: false; tooLarge: boolean };

/**
 * The request body as received (compressed or not), at most `limit` bytes: a longer body is not read
 * further (`tooLarge`). Not express.raw: with `inflate: false` body-parser refuses every compressed
 * body (415), and with inflation on it would bound only the compressed size; here the decoder
 * undoes the Content-Encoding itself and bounds the decompressed size (413) and unknown codings
 * (415), as OTLP/HTTP asks.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<BodyRead> {
  return new Promise((resolve) => {
    const declared = Number(req.headers["content-length"]);
    if (Number.isFinite(declared) && declared > limit) {
      req.resume(); // discard what the client still sends
      resolve({ ok: false, tooLarge: true });
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (r: BodyRead) => {
      if (done) return;
      done = true;
      resolve(r);
    };
    req.on("data", (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > limit) {
        chunks.length = 0;
        finish({ ok: false, tooLarge: true });
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => finish({ ok: true, body: Buffer.concat(chunks, size) }));
    req.on("error", () => finish({ ok: false, tooLarge: false }));
    // Closed before its end: the client went away (after "end" this is a no-op).
    req.on("close", () => finish({ ok: false, tooLarge: false }));
  });
}

/**
 * POST /v1/traces — OTLP/HTTP traces (protobuf or JSON, gzip/deflate/identity), behind the host's
 * app-token guard. Answers exactly per response.ts: 200 (empty, or a partial success listing spans
 * that could not be read), 400 / 413 / 415 for a body that cannot be read (not retryable), 503 +
 * Retry-After when nothing may be acknowledged yet (pending store full or unreachable, ClickHouse
 * down, shutting down). Never 500: the OpenTelemetry Collector's otlphttp exporter drops a batch on
 * every status but 429/502/503/504, so an unexpected exception is answered 503 too.
 */
export function mountOtlpRoutes(
  router: Router,
  deps: {
    config: { COLLECTOR_OTLP_MAX_BODY_BYTES: number; COLLECTOR_RETRY_AFTER_SECONDS: number };
    otlp: OtlpIngest;
    metrics: OtlpRouteMetrics;
    log: Logger;
    /** False once the collector stops accepting (shutdown). */
    accepting: () => boolean;
    now?: () => number;
  },
): void {
  const { config, otlp, metrics } = deps;
  const log = deps.log.child({ component: "otlp" });
  const now = deps.now ?? Date.now;
  const retryAfter = config.COLLECTOR_RETRY_AFTER_SECONDS;

  function send(res: Response, a: OtlpAnswer) {
    metrics.request(a.status);
    res.status(a.status);
    for (const [k, v] of Object.entries(a.headers)) res.setHeader(k, v);
    res.end(Buffer.from(a.body.buffer, a.body.byteOffset, a.body.byteLength));
  }

  router.post("/v1/traces", (req, res) => {
    void (async () => {
      const format = formatOf(req.header("content-type"));
      if (!deps.accepting()) {
        req.resume();
        send(res, answerRetry(format ?? "json", retryAfter, "the collector is shutting down; retry"));
        return;
      }
      const read = await readBody(req, config.COLLECTOR_OTLP_MAX_BODY_BYTES);
      if (!read.ok) {
        if (!read.tooLarge) return; // the client went away: nobody to answer
        res.setHeader("connection", "close");
        send(
          res,
          answerDecodeFailure(
            {
              ok: false,
              status: 413,
              code: "OTLP_BODY_TOO_LARGE",
              message: `body exceeds ${config.COLLECTOR_OTLP_MAX_BODY_BYTES} bytes`,
            },
            format,
          ),
        );
        return;
      }
      const decoded = decodeTraceRequest({
        body: read.body,
        contentType: req.header("content-type"),
        contentEncoding: req.header("content-encoding"),
        maxBytes: config.COLLECTOR_OTLP_MAX_BODY_BYTES,
      });
      if (!decoded.ok) {
        log.info({ status: decoded.status, code: decoded.code }, "OTLP request refused");
        send(res, answerDecodeFailure(decoded, format));
        return;
      }
      const rejected = decoded.rejected.length;
      let result: SpansResult;
      try {
        result = await otlp.acceptSpans(decoded.spans, now());
      } catch (err) {
        log.error(
          { error: errorFields(err), spans: decoded.spans.length, requestId: requestIdOf(req) },
          "OTLP request failed",
        );
        metrics.spans("received", decoded.spans.length + rejected);
        send(res, answerRetry(decoded.format, retryAfter, "the spans were not stored; retry"));
        return;
      }
      const c = result.counts;
      metrics.spans("received", c.received + rejected);
      metrics.spans("rejected", rejected);
      metrics.spans("ignored", c.ignored);
      metrics.spans("accepted", c.accepted);
      metrics.spans("duplicate", c.duplicates);
      metrics.spans("late", c.late);
      if (!result.ok) {
        log.warn(
          { reason: result.reason, spans: c.received, requestId: requestIdOf(req) },
          "OTLP request not acknowledged",
        );
      } else if (result.problems.length > 0 || rejected > 0) {
        log.info(
          {
            rejected,
            reasons: decoded.rejected.slice(0, 5).map((r) => r.reason),
            // Attribute names only: a problem's text quotes the value.
            problems: result.problems.slice(0, 5).map((p) => p.split(":")[0]),
          },
          "OTLP spans partly unusable",
        );
      }
      // The public answer names the reason (backpressure, store, sink), never an engine's text.
      const answer = answerSpans(decoded.format, decoded.rejected, publicResult(result), retryAfter);
      send(res, answer);
    })().catch((err: unknown) => {
      log.error({ error: errorFields(err), requestId: requestIdOf(req) }, "OTLP request failed");
      if (!res.headersSent) send(res, answerRetry("json", retryAfter, "the spans were not stored; retry"));
    });
  });
}

const PUBLIC_REASON: Record<"backpressure" | "store" | "sink", string> = {
  backpressure: "too many spans and events are waiting to be assembled; retry later",
  store: "the pending store is unavailable; retry",
  sink: "the records could not be stored yet; retry",
};

function publicResult(r: SpansResult): SpansResult {
  return r.ok ? r : { ...r, message: PUBLIC_REASON[r.reason] };
}
