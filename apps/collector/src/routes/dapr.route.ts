import type { Request, Response, Router } from "express";
import type { Logger } from "@budmetrics/logger";
import { requestIdOf } from "@budmetrics/http";
import type { EntryResult, Ingest, IncomingEntry } from "../ingest/ingest";
import type { CollectorMetrics } from "../metrics";
import { bodyText, bulkEntryToIncoming, isBulkEnvelope, isRecord, parseJson, rawBody } from "./body";
import { DELIVERY_PATHS, daprSubscription, type SubscriptionConfig } from "./subscription";

export type DaprStatus = "SUCCESS" | "RETRY" | "DROP";

/**
 * The only place entry outcomes meet Dapr statuses. Stored, already stored or held for its spans
 * (written once with them, docs/OTLP.md) → SUCCESS; invalid and quarantined → DROP; everything else
 * → RETRY.
 */
export function toDaprStatus(r: EntryResult | undefined): DaprStatus {
  if (!r) return "RETRY";
  if (r.status === "inserted" || r.status === "duplicate" || r.status === "held") return "SUCCESS";
  if (r.status === "invalid" || r.status === "expired") return "DROP";
  return "RETRY";
}

/**
 * Subscription and delivery routes. Every answer is decided from committed outcomes; an exception
 * anywhere becomes RETRY, never SUCCESS (the JS SDK's subscribe callback does the opposite).
 */
export function mountDaprRoutes(
  router: Router,
  deps: {
    config: SubscriptionConfig & { COLLECTOR_MAX_BODY_BYTES: number };
    ingest: Ingest;
    metrics: CollectorMetrics;
    log: Logger;
  },
): void {
  const { ingest, metrics } = deps;
  const log = deps.log.child({ component: "dapr" });
  const subscription = daprSubscription(deps.config);

  router.get("/dapr/subscribe", (_req, res) => {
    res.json(subscription);
  });

  function count(channel: string, statuses: DaprStatus[]) {
    const tally: Record<DaprStatus, number> = { SUCCESS: 0, RETRY: 0, DROP: 0 };
    for (const s of statuses) tally[s]++;
    for (const s of Object.keys(tally) as DaprStatus[])
      if (tally[s] > 0) metrics.delivery(channel, s, tally[s]);
  }

  async function deliver(req: Request, res: Response) {
    const text = bodyText(req);
    const parsed = parseJson(text);

    if (parsed.ok && isBulkEnvelope(parsed.value)) {
      const envelope = parsed.value;
      // 1. Entries without an entryId cannot be answered; Dapr redelivers them.
      const answerable: Array<{ entryId: string; entry: IncomingEntry }> = [];
      for (const e of envelope.entries) {
        if (!isRecord(e) || typeof e.entryId !== "string" || e.entryId === "") continue;
        answerable.push({ entryId: e.entryId, entry: bulkEntryToIncoming(e) });
      }
      // 2. One status per entry, in order, as an array (the runtime wants an array).
      let statuses: DaprStatus[];
      try {
        const results = await ingest.ingest(
          answerable.map((a) => a.entry),
          "dapr-bulk",
        );
        statuses = answerable.map((_, i) => toDaprStatus(results[i]));
      } catch (err) {
        log.error(
          { err, deliveryId: envelope.id, entries: answerable.length, requestId: requestIdOf(req) },
          "bulk delivery failed",
        );
        statuses = answerable.map(() => "RETRY");
      }
      count("dapr-bulk", statuses);
      res
        .status(200)
        .json({ statuses: answerable.map((a, i) => ({ entryId: a.entryId, status: statuses[i] })) });
      return;
    }

    // Single delivery: a structured CloudEvent (rawPayload arrives as one with data_base64).
    let status: DaprStatus;
    try {
      const entry: IncomingEntry = parsed.ok ? { form: "event", value: parsed.value } : { form: "raw", text };
      const [result] = await ingest.ingest([entry], "dapr");
      status = toDaprStatus(result);
    } catch (err) {
      log.error({ err, requestId: requestIdOf(req) }, "delivery failed");
      status = "RETRY";
    }
    count("dapr", [status]);
    res.status(200).json({ status });
  }

  const body = rawBody(deps.config.COLLECTOR_MAX_BODY_BYTES);
  for (const path of [DELIVERY_PATHS.inference, DELIVERY_PATHS.default]) {
    router.post(path, body, (req, res, next) => {
      deliver(req, res).catch(next);
    });
  }
}
