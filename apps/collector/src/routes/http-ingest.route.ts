import type { Request, Response, Router } from "express";
import type { Logger } from "@budmetrics/logger";
import { httpStatusForKind, type AppError } from "@budmetrics/errors";
import { requestIdOf } from "@budmetrics/http";
import { collectorErrors } from "../errors";
import { summarise, type EntryResult, type Ingest, type IncomingEntry } from "../ingest/ingest";
import type { CollectorMetrics } from "../metrics";
import { bodyText, bulkEntryToIncoming, isBulkEnvelope, isRecord, parseJson, rawBody } from "./body";
import { toDaprStatus } from "./dapr.route";

/**
 * Ingestion over plain HTTP for senders without Dapr. Answers per entry (inserted, duplicate,
 * held — kept for its spans and written once with them, docs/OTLP.md —, invalid with its reason,
 * retry) plus a summary. Status: 200 when nothing needs resending,
 * 422 when every entry is invalid, 503 + Retry-After when anything must be resent (queue full,
 * ClickHouse down, shutting down) — resending everything is safe, duplicates are recognised.
 */
export function mountHttpIngestRoutes(
  router: Router,
  deps: {
    config: { COLLECTOR_MAX_BODY_BYTES: number; COLLECTOR_RETRY_AFTER_SECONDS: number };
    ingest: Ingest;
    metrics: CollectorMetrics;
    log: Logger;
  },
): void {
  const { ingest, metrics, config } = deps;
  const body = rawBody(config.COLLECTOR_MAX_BODY_BYTES);

  function fail(res: Response, err: AppError, status = httpStatusForKind(err.kind)) {
    if (status === 503) res.setHeader("Retry-After", String(config.COLLECTOR_RETRY_AFTER_SECONDS));
    res.status(status).json({ error: err.toJSON() });
  }

  function entryJson(r: EntryResult, index: number, entryId?: string) {
    return {
      index,
      ...(entryId !== undefined ? { entryId } : {}),
      id: r.id,
      status: r.status,
      ...(r.code ? { code: r.code } : {}),
      ...(r.reason ? { reason: r.reason } : {}),
      ...(r.field !== undefined && r.status !== "inserted" && r.status !== "duplicate" && r.status !== "held"
        ? { field: r.field }
        : {}),
    };
  }

  function tally(channel: string, results: EntryResult[]) {
    const s = summarise(results);
    if (s.inserted) metrics.delivery(channel, "inserted", s.inserted);
    if (s.duplicates) metrics.delivery(channel, "duplicate", s.duplicates);
    if (s.held) metrics.delivery(channel, "held", s.held);
    if (s.invalid) metrics.delivery(channel, "invalid", s.invalid);
    if (s.expired) metrics.delivery(channel, "expired", s.expired);
    if (s.retry) metrics.delivery(channel, "retry", s.retry);
    return s;
  }

  /**
   * 503 if anything must be resent; 422 if every entry is refused; else 200. A Dapr bulk delivery
   * (a subscription pointed at this path) always gets 200: daprd reads per-entry statuses only from a
   * 2xx answer and would resend the whole bulk on any other status.
   */
  function answer(
    res: Response,
    results: EntryResult[],
    channel: string,
    extra: (summary: ReturnType<typeof summarise>) => Record<string, unknown>,
    daprDelivery = false,
  ) {
    const summary = tally(channel, results);
    if (daprDelivery) {
      res.status(200).json({ ...extra(summary), summary: publicSummary(summary) });
      return;
    }
    const retry = results.find((r) => r.status === "retry");
    let status = 200;
    let error: Record<string, unknown> | undefined;
    if (retry) {
      status = 503;
      const e = retry.error ?? collectorErrors.create("SINK_WRITE_FAILED", "not stored; retry");
      const requestId = requestIdOf(res.req);
      // The engine's text stays in the log, found by the request id the answer carries.
      deps.log.warn({ err: e, requestId, channel, retry: summary.retry }, "request answered 503");
      error = {
        code: e.code,
        kind: e.kind,
        message: e.publicMessage,
        ...(requestId ? { request_id: requestId } : {}),
      };
      res.setHeader("Retry-After", String(config.COLLECTOR_RETRY_AFTER_SECONDS));
    } else if (summary.total > 0 && summary.invalid + summary.expired === summary.total) {
      status = 422;
      const e = collectorErrors.create(
        "REQUEST_ALL_INVALID",
        `every entry was refused (${summary.invalid} invalid, ${summary.expired} expired); reasons per entry`,
      );
      error = { code: e.code, kind: e.kind, message: e.publicMessage };
    }
    res
      .status(status)
      .json({ ...(error ? { error } : {}), ...extra(summary), summary: publicSummary(summary) });
  }

  /** `held` appears only when OTLP ingestion held some (the answer is otherwise as it always was). */
  function publicSummary(s: ReturnType<typeof summarise>) {
    return {
      total: s.total,
      inserted: s.inserted,
      duplicates: s.duplicates,
      ...(s.held > 0 ? { held: s.held } : {}),
      invalid: s.invalid,
      expired: s.expired,
      retry: s.retry,
    };
  }

  function parseBody(req: Request, res: Response): { ok: true; value: unknown } | { ok: false } {
    const parsed = parseJson(bodyText(req));
    if (!parsed.ok) {
      fail(
        res,
        collectorErrors.create("REQUEST_MALFORMED_JSON", `malformed JSON body: ${parsed.message}`),
        400,
      );
      return { ok: false };
    }
    return parsed;
  }

  async function ingestMany(
    res: Response,
    entries: IncomingEntry[],
    channel: "http-add" | "http-events",
    entryIds?: Array<string | undefined>,
    daprDelivery = false,
  ) {
    const results = await ingest.ingest(entries, channel);
    answer(
      res,
      results,
      channel,
      () => ({
        results: results.map((r, i) => entryJson(r, i, entryIds?.[i])),
        ...(entryIds
          ? { statuses: results.map((r, i) => ({ entryId: entryIds[i] ?? "", status: toDaprStatus(r) })) }
          : {}),
      }),
      daprDelivery,
    );
  }

  // POST /observability/add: the Dapr bulk envelope the Bud stack sends, or {"events": [...]}.
  router.post("/observability/add", body, (req, res, next) => {
    (async () => {
      const parsed = parseBody(req, res);
      if (!parsed.ok) return;
      const v = parsed.value;
      if (isBulkEnvelope(v)) {
        const entryIds = v.entries.map((e) =>
          isRecord(e) && typeof e.entryId === "string" ? e.entryId : undefined,
        );
        const entries = v.entries.map((e) =>
          isRecord(e) ? bulkEntryToIncoming(e) : { form: "event" as const, value: e },
        );
        await ingestMany(res, entries, "http-add", entryIds, v.type === "com.dapr.event.sent.bulk");
        return;
      }
      if (isRecord(v) && Array.isArray(v.events)) {
        await ingestMany(
          res,
          v.events.map((value) => ({ form: "event" as const, value })),
          "http-add",
        );
        return;
      }
      fail(
        res,
        collectorErrors.create(
          "REQUEST_SHAPE_INVALID",
          'body must be {"events": [CloudEvent, ...]} or a Dapr bulk envelope {"entries": [...]}',
        ),
      );
    })().catch(next);
  });

  // POST /observability/events: one CloudEvent (structured or binary mode) or a CloudEvents batch.
  router.post("/observability/events", body, (req, res, next) => {
    (async () => {
      const contentType = (req.header("content-type") ?? "").toLowerCase();
      if (contentType.startsWith("application/cloudevents-batch+json")) {
        const parsed = parseBody(req, res);
        if (!parsed.ok) return;
        if (!Array.isArray(parsed.value)) {
          fail(
            res,
            collectorErrors.create("REQUEST_SHAPE_INVALID", "a CloudEvents batch must be a JSON array"),
          );
          return;
        }
        await ingestMany(
          res,
          parsed.value.map((value) => ({ form: "event" as const, value })),
          "http-events",
        );
        return;
      }
      let event: unknown;
      if (req.header("ce-specversion") !== undefined) {
        const binary = fromBinaryMode(req, contentType);
        if (!binary.ok) {
          fail(
            res,
            collectorErrors.create("REQUEST_MALFORMED_JSON", `malformed JSON body: ${binary.message}`),
            400,
          );
          return;
        }
        event = binary.value;
      } else {
        const parsed = parseBody(req, res);
        if (!parsed.ok) return;
        event = parsed.value;
        if (Array.isArray(event)) {
          await ingestMany(
            res,
            event.map((value) => ({ form: "event" as const, value })),
            "http-events",
          );
          return;
        }
      }
      const results = await ingest.ingest([{ form: "event", value: event }], "http-events");
      answer(res, results, "http-events", () => ({ result: entryJson(results[0]!, 0) }));
    })().catch(next);
  });
}

/**
 * Binary content mode: attributes in ce-* headers, the body is `data`. Built by hand because the
 * cloudevents SDK silently invents a missing id (which would break idempotency).
 */
function fromBinaryMode(
  req: Request,
  contentType: string,
): { ok: true; value: unknown } | { ok: false; message: string } {
  const event: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (!name.startsWith("ce-") || typeof value !== "string") continue;
    event[name.slice(3)] = value;
  }
  const text = bodyText(req);
  if (contentType) event.datacontenttype = contentType.split(";")[0]!.trim();
  if (text.length > 0) {
    if (contentType === "" || /[/+]json(?:;|$)/.test(contentType)) {
      const parsed = parseJson(text);
      if (!parsed.ok) return parsed;
      event.data = parsed.value;
    } else {
      event.data = text;
    }
  }
  return { ok: true, value: event };
}
