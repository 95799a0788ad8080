import { isAppError, type AppError } from "@budmetrics/errors";
import type { Logger } from "@budmetrics/logger";
import type { QuarantineRow } from "@budmetrics/schema";
import { collectorErrors } from "../errors";
import { errorFields } from "../log-fields";
import type { Batcher } from "./batcher";
import { EVENT_KIND_NAMES, type EventKind } from "./kinds";
import type { AcceptedEvent, EventParser, ParsedEvent, RejectedEvent } from "./parse-event";
import type { QuarantineSink, WriteOutcome } from "./ports";

/** One entry of a delivery or request, as the edge found it (parsed once, never re-parsed). */
export type IncomingEntry =
  { form: "event"; value: unknown } | { form: "raw"; text: string } | { form: "base64"; data: string };

export type EntryStatus = "inserted" | "duplicate" | "invalid" | "retry";

export interface EntryResult {
  status: EntryStatus;
  /** CloudEvent id, when the entry had one. */
  id: string;
  type: string;
  code?: string;
  reason?: string;
  field?: string;
  /** For `retry`: why (queue full, ClickHouse down, claimed elsewhere, shutting down…). */
  error?: AppError;
}

export interface IngestSummary {
  total: number;
  inserted: number;
  duplicates: number;
  invalid: number;
  retry: number;
}

export type Channel = "dapr" | "dapr-bulk" | "http-add" | "http-events";

/** Counters the use case reports into; the adapter is Prometheus. */
export interface IngestMetrics {
  received(type: string, kind: EventKind | "invalid", n: number): void;
  outcome(type: string, outcome: "inserted" | "duplicate" | "retry", n: number): void;
  invalid(type: string, reason: string): void;
}

export interface IngestDeps {
  parser: EventParser;
  batchers: Record<EventKind, Batcher>;
  quarantine: QuarantineSink;
  metrics: IngestMetrics;
  log: Logger;
}

export interface Ingest {
  /** Validates, quarantines the invalid, writes the valid; resolves after every row is committed or refused. */
  ingest(entries: readonly IncomingEntry[], channel: Channel): Promise<EntryResult[]>;
}

export function summarise(results: readonly EntryResult[]): IngestSummary {
  const s: IngestSummary = { total: results.length, inserted: 0, duplicates: 0, invalid: 0, retry: 0 };
  for (const r of results) {
    if (r.status === "inserted") s.inserted++;
    else if (r.status === "duplicate") s.duplicates++;
    else if (r.status === "invalid") s.invalid++;
    else s.retry++;
  }
  return s;
}

function countByType(rows: readonly ParsedEvent[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const r of rows) m.set(r.type, (m.get(r.type) ?? 0) + 1);
  return m;
}

function asAppError(err: unknown): AppError {
  if (isAppError(err)) return err;
  return collectorErrors.create("SINK_WRITE_FAILED", err instanceof Error ? err.message : String(err), {
    cause: err,
  });
}

export function createIngest(deps: IngestDeps): Ingest {
  const { parser, batchers, quarantine, metrics } = deps;
  const log = deps.log.child({ component: "ingest" });

  function parseEntry(e: IncomingEntry): ParsedEvent {
    switch (e.form) {
      case "event":
        return parser.parseCloudEvent(e.value);
      case "raw":
        return parser.parseRaw(e.text);
      case "base64": {
        // Node's base64 decoder skips characters outside the alphabet silently, so JSON text sent
        // where base64 was expected would decode to garbage: "{" and "[" are not base64, read it as text.
        const first = e.data.trimStart()[0];
        if (first === "{" || first === "[") return parser.parseRaw(e.data);
        return parser.parseRaw(Buffer.from(e.data, "base64").toString("utf8"));
      }
    }
  }

  function toQuarantineRow(r: RejectedEvent, channel: Channel): QuarantineRow {
    return {
      event_id: r.id,
      event_type: r.type,
      event_source: r.source,
      reason_code: r.code,
      reason: r.reason,
      field_path: r.field,
      raw_payload: r.raw,
      channel,
    };
  }

  return {
    async ingest(entries, channel) {
      // 1. Parse and validate every entry (compiled ajv, one pass, no re-serialisation).
      const parsed = entries.map(parseEntry);
      const results: EntryResult[] = new Array(parsed.length);
      const byKind = {} as Record<EventKind, { rows: AcceptedEvent[]; index: number[] }>;
      for (const k of EVENT_KIND_NAMES) byKind[k] = { rows: [], index: [] };
      const rejected: Array<{ r: RejectedEvent; index: number }> = [];
      parsed.forEach((p, i) => {
        if (p.ok) {
          byKind[p.kind].rows.push(p);
          byKind[p.kind].index.push(i);
        } else rejected.push({ r: p, index: i });
      });
      for (const kind of EVENT_KIND_NAMES) {
        for (const [type, n] of countByType(byKind[kind].rows)) metrics.received(type, kind, n);
      }

      // 2. Keep the invalid ones in quarantine; only once they are stored may they be dropped.
      const quarantined = (async () => {
        if (rejected.length === 0) return;
        for (const { r } of rejected) metrics.received(r.type || "unknown", "invalid", 1);
        try {
          await quarantine.write(rejected.map(({ r }) => toQuarantineRow(r, channel)));
          for (const { r, index } of rejected) {
            metrics.invalid(r.type || "unknown", r.code);
            results[index] = {
              status: "invalid",
              id: r.id,
              type: r.type,
              code: r.code,
              reason: r.reason,
              field: r.field,
            };
          }
          log.info(
            { channel, invalid: rejected.length, ids: rejected.slice(0, 20).map(({ r }) => r.id) },
            "invalid events quarantined",
          );
        } catch (err) {
          const error = collectorErrors.create(
            "QUARANTINE_WRITE_FAILED",
            `invalid event could not be quarantined: ${err instanceof Error ? err.message : String(err)}`,
            { cause: err },
          );
          log.warn({ error: errorFields(err), channel, invalid: rejected.length }, "quarantine write failed");
          for (const { r, index } of rejected) {
            results[index] = {
              status: "retry",
              id: r.id,
              type: r.type,
              code: error.code,
              reason: r.reason,
              field: r.field,
              error,
            };
          }
        }
      })();

      // 3. Write the valid rows; each batcher resolves only after its batch is committed.
      const written = EVENT_KIND_NAMES.map(async (kind) => {
        const group = byKind[kind];
        if (group.rows.length === 0) return;
        let outcomes: WriteOutcome[] | undefined;
        let error: AppError | undefined;
        try {
          outcomes = await batchers[kind].write(group.rows.map((p) => p.row));
        } catch (err) {
          error = asAppError(err);
        }
        const claimed = outcomes?.includes("retry")
          ? collectorErrors.create("SINK_CLAIMED_ELSEWHERE", "another writer is storing this event; retry")
          : undefined;
        const tally = new Map<string, number>();
        group.rows.forEach((p, j) => {
          const index = group.index[j]!;
          const outcome = outcomes?.[j];
          if (outcome === "inserted" || outcome === "duplicate") {
            results[index] = { status: outcome, id: p.id, type: p.type };
          } else {
            const e = error ?? claimed!;
            results[index] = {
              status: "retry",
              id: p.id,
              type: p.type,
              code: e.code,
              reason: e.message,
              error: e,
            };
          }
          const key = `${outcome === "inserted" || outcome === "duplicate" ? outcome : "retry"}\u0000${p.type}`;
          tally.set(key, (tally.get(key) ?? 0) + 1);
        });
        for (const [key, n] of tally) {
          const [outcome, type] = key.split("\u0000") as ["inserted" | "duplicate" | "retry", string];
          metrics.outcome(type, outcome, n);
        }
        if (error && error.code !== "SINK_QUEUE_FULL" && error.code !== "SINK_SHUTTING_DOWN") {
          log.warn(
            { error: errorFields(error), channel, kind, rows: group.rows.length },
            "batch not committed",
          );
        }
      });

      await Promise.all([quarantined, ...written]);
      return results;
    },
  };
}
