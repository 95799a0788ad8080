import { isAppError, type AppError } from "@budmetrics/errors";
import type { Logger } from "@budmetrics/logger";
import type { InferenceData, QuarantineRow } from "@budmetrics/schema";
import { collectorErrors } from "../errors";
import { errorFields } from "../log-fields";
import type { Batcher } from "./batcher";
import { EVENT_KIND_NAMES, type EventKind } from "./kinds";
import type { AcceptedEvent, EventParser, ParsedEvent, RejectedEvent } from "./parse-event";
import type { QuarantineSink, WriteOutcome } from "./ports";
import { toWellFormed } from "./storable";

/** One entry of a delivery or request, as the edge found it (parsed once, never re-parsed). */
export type IncomingEntry =
  { form: "event"; value: unknown } | { form: "raw"; text: string } | { form: "base64"; data: string };

/**
 * inserted / duplicate — stored (now or before); held — an inference kept with its trace's pending
 * spans (OTLP ingestion on, docs/OTLP.md): it is written once, merged with its spans, when they
 * complete its record or at the time bound — acknowledged like a stored event; invalid — refused and
 * quarantined (the event breaks the schema, or the engine could not store one of its values);
 * expired — refused and quarantined because it is older than the raw table keeps (it would be
 * dropped at once); retry — not stored, send it again.
 */
export type EntryStatus = "inserted" | "duplicate" | "held" | "invalid" | "expired" | "retry";

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
  held: number;
  invalid: number;
  expired: number;
  retry: number;
}

export type Channel = "dapr" | "dapr-bulk" | "http-add" | "http-events";

/** Counters the use case reports into; the adapter is Prometheus. */
export interface IngestMetrics {
  received(type: string, kind: EventKind | "invalid", n: number): void;
  outcome(
    type: string,
    outcome: "inserted" | "duplicate" | "held" | "retry" | "expired" | "unstorable",
    n: number,
  ): void;
  invalid(type: string, reason: string): void;
}

/**
 * The oldest event time each kind's table keeps (its TTL), or undefined when it keeps everything.
 * Events older than that are refused as `expired`: stored, they would be dropped at once from the raw
 * table while the rollups kept them, and raw and rollups would disagree.
 */
export interface RetentionHorizon {
  /** Loads what the tables keep if it is not known yet (a failure leaves it unknown: nothing refused). */
  prepare(): Promise<void>;
  at(kind: EventKind, nowMs: number): number | undefined;
}

/** What to do with an accepted inference event when OTLP ingestion holds them (docs/OTLP.md). */
export type HoldDecision =
  | { action: "held" }
  /** Write it now (its spans' record is already written, or spans are not arriving). */
  | { action: "write" }
  | { action: "retry"; message: string };

/** Holds accepted inference events for their spans (the OTLP use case's holdEvents). */
export interface EventHolder {
  hold(
    events: ReadonlyArray<{ data: InferenceData; eventId: string; eventSource: string }>,
    nowMs: number,
  ): Promise<HoldDecision[]>;
}

export interface IngestDeps {
  parser: EventParser;
  batchers: Record<EventKind, Batcher>;
  quarantine: QuarantineSink;
  metrics: IngestMetrics;
  log: Logger;
  horizon?: RetentionHorizon;
  /** When set, accepted inference events are offered to it before the batcher. */
  holder?: EventHolder;
  /** False once the collector stops accepting: valid events are answered retry (SINK_SHUTTING_DOWN). */
  accepting?: () => boolean;
  now?: () => number;
}

export interface Ingest {
  /** Validates, quarantines the invalid, writes the valid; resolves after every row is committed or refused. */
  ingest(entries: readonly IncomingEntry[], channel: Channel): Promise<EntryResult[]>;
}

export function summarise(results: readonly EntryResult[]): IngestSummary {
  const s: IngestSummary = {
    total: results.length,
    inserted: 0,
    duplicates: 0,
    held: 0,
    invalid: 0,
    expired: 0,
    retry: 0,
  };
  for (const r of results) {
    if (r.status === "inserted") s.inserted++;
    else if (r.status === "duplicate") s.duplicates++;
    else if (r.status === "held") s.held++;
    else if (r.status === "invalid") s.invalid++;
    else if (r.status === "expired") s.expired++;
    else s.retry++;
  }
  return s;
}

function countByType(rows: readonly ParsedEvent[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const r of rows) m.set(r.type, (m.get(r.type) ?? 0) + 1);
  return m;
}

/** An entry answered RETRY for `e` (its code and public words; the error itself for the log). */
function retryResult(p: { id: string; type: string }, e: AppError): EntryResult {
  return { status: "retry", id: p.id, type: p.type, code: e.code, reason: e.publicMessage, error: e };
}

function asAppError(err: unknown): AppError {
  if (isAppError(err)) return err;
  return collectorErrors.create("SINK_WRITE_FAILED", err instanceof Error ? err.message : String(err), {
    cause: err,
    publicMessage: "the events were not stored; retry",
  });
}

/** An event refused for a reason found after validation: kept in quarantine with its row as payload. */
interface Refusal {
  index: number;
  status: "invalid" | "expired";
  event: { id: string; type: string; source: string };
  code: "EVENT_EXPIRED" | "EVENT_UNSTORABLE";
  reason: string;
  raw: string;
}

export function createIngest(deps: IngestDeps): Ingest {
  const { parser, batchers, quarantine, metrics } = deps;
  const now = deps.now ?? Date.now;
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

  /** Every text made valid Unicode: a payload refused for a lone surrogate must still be storable. */
  function quarantineRow(
    r: { id: string; type: string; source: string; code: string; reason: string; field: string; raw: string },
    channel: Channel,
  ): QuarantineRow {
    return {
      event_id: toWellFormed(r.id),
      event_type: toWellFormed(r.type),
      event_source: toWellFormed(r.source),
      reason_code: r.code,
      reason: toWellFormed(r.reason),
      field_path: toWellFormed(r.field),
      raw_payload: toWellFormed(r.raw),
      channel,
    };
  }

  /**
   * Keeps refused events in quarantine; only once they are stored may they be answered DROP. If the
   * quarantine insert fails they are answered RETRY (nothing is silently lost).
   */
  async function keep(
    refused: Array<{ index: number; row: QuarantineRow; result: EntryResult }>,
    results: EntryResult[],
    channel: Channel,
  ): Promise<void> {
    if (refused.length === 0) return;
    try {
      await quarantine.write(refused.map((r) => r.row));
      for (const r of refused) results[r.index] = r.result;
      log.info(
        { channel, refused: refused.length, ids: refused.slice(0, 20).map((r) => r.row.event_id) },
        "events quarantined",
      );
    } catch (err) {
      const error = collectorErrors.create(
        "QUARANTINE_WRITE_FAILED",
        `refused event could not be quarantined: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err, publicMessage: "the refused event could not be quarantined; retry" },
      );
      log.warn({ error: errorFields(err), channel, refused: refused.length }, "quarantine write failed");
      for (const r of refused) {
        results[r.index] = { ...r.result, status: "retry", code: error.code, error };
      }
    }
  }

  return {
    async ingest(entries, channel) {
      // 1. Parse and validate every entry (compiled ajv, one pass, no re-serialisation); refuse what is
      //    older than its table keeps.
      const parsed = entries.map(parseEntry);
      await deps.horizon?.prepare();
      const results: EntryResult[] = new Array(parsed.length);
      const byKind = {} as Record<EventKind, { rows: AcceptedEvent[]; index: number[] }>;
      for (const k of EVENT_KIND_NAMES) byKind[k] = { rows: [], index: [] };
      const rejected: Array<{ r: RejectedEvent; index: number }> = [];
      const late: Refusal[] = [];
      const nowMs = now();
      parsed.forEach((p, i) => {
        if (!p.ok) {
          rejected.push({ r: p, index: i });
          return;
        }
        const horizon = deps.horizon?.at(p.kind, nowMs);
        if (horizon !== undefined && p.row.timeMs < horizon) {
          late.push({
            index: i,
            status: "expired",
            event: p,
            code: "EVENT_EXPIRED",
            reason: `older than the ${p.kind} table keeps (its retention ends at ${new Date(horizon).toISOString()})`,
            raw: p.row.line,
          });
          return;
        }
        byKind[p.kind].rows.push(p);
        byKind[p.kind].index.push(i);
      });
      for (const kind of EVENT_KIND_NAMES) {
        for (const [type, n] of countByType(byKind[kind].rows)) metrics.received(type, kind, n);
      }
      for (const { r } of rejected) metrics.received(r.type || "unknown", "invalid", 1);

      // 2. Keep the invalid and the expired in quarantine (concurrently with the writes).
      const refused = [
        ...rejected.map(({ r, index }) => ({
          index,
          row: quarantineRow(r, channel),
          result: {
            status: "invalid" as const,
            id: r.id,
            type: r.type,
            code: r.code,
            reason: r.reason,
            field: r.field,
          },
        })),
        ...late.map((l) => refusalEntry(l, channel)),
      ];
      const quarantined = keep(refused, results, channel).then(() => {
        for (const { r, index } of rejected)
          if (results[index]?.status === "invalid") metrics.invalid(r.type || "unknown", r.code);
        const expired = countByType(late.map((l) => l.event as ParsedEvent));
        for (const [type, n] of expired) metrics.outcome(type, "expired", n);
      });

      // 3. Write the valid rows; each batcher resolves only after its batch is committed. A row the
      //    engine could not store (its siblings were) is quarantined as unstorable.
      const unstorable: Refusal[] = [];
      const written = EVENT_KIND_NAMES.map(async (kind) => {
        let group = byKind[kind];
        if (group.rows.length === 0) return;
        if (deps.accepting && !deps.accepting()) {
          const e = collectorErrors.create(
            "SINK_SHUTTING_DOWN",
            "the collector is shutting down; retry later",
          );
          group.rows.forEach((p, j) => {
            results[group.index[j]!] = retryResult(p, e);
          });
          for (const [type, n] of countByType(group.rows)) metrics.outcome(type, "retry", n);
          return;
        }
        if (kind === "inference" && deps.holder) {
          group = await hold(group, results);
          if (group.rows.length === 0) return;
        }
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
          } else if (outcome === "unstorable") {
            unstorable.push({
              index,
              status: "invalid",
              event: p,
              code: "EVENT_UNSTORABLE",
              reason: "ClickHouse could not store a value of this event (its siblings were stored)",
              raw: p.row.line,
            });
          } else {
            results[index] = retryResult(p, error ?? claimed!);
          }
          const key = `${outcome === "inserted" || outcome === "duplicate" || outcome === "unstorable" ? outcome : "retry"}\u0000${p.type}`;
          tally.set(key, (tally.get(key) ?? 0) + 1);
        });
        for (const [key, n] of tally) {
          const [outcome, type] = key.split("\u0000") as [
            "inserted" | "duplicate" | "retry" | "unstorable",
            string,
          ];
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
      // 4. The unstorable rows, now isolated, go to quarantine too.
      await keep(
        unstorable.map((u) => refusalEntry(u, channel)),
        results,
        channel,
      );
      return results;
    },
  };

  /**
   * Offers accepted inference events to the holder: held ones are answered `held`, those it cannot
   * hold `retry`; the rest (and everything, if the holder fails) are returned to be written now.
   */
  async function hold(
    group: { rows: AcceptedEvent[]; index: number[] },
    results: EntryResult[],
  ): Promise<{ rows: AcceptedEvent[]; index: number[] }> {
    const holder = deps.holder!;
    let decisions: HoldDecision[];
    try {
      decisions = await holder.hold(
        group.rows.map((p) => ({ data: p.data!, eventId: p.id, eventSource: p.source })),
        now(),
      );
    } catch (err) {
      decisions = group.rows.map(() => ({
        action: "retry",
        message: err instanceof Error ? err.message : String(err),
      }));
    }
    const rest: { rows: AcceptedEvent[]; index: number[] } = { rows: [], index: [] };
    const held = new Map<string, number>();
    const retried = new Map<string, number>();
    group.rows.forEach((p, j) => {
      const d = decisions[j] ?? { action: "retry", message: "no decision" };
      const index = group.index[j]!;
      if (d.action === "held") {
        results[index] = { status: "held", id: p.id, type: p.type };
        held.set(p.type, (held.get(p.type) ?? 0) + 1);
      } else if (d.action === "retry") {
        const e = collectorErrors.create("OTLP_PENDING_UNAVAILABLE", d.message, {
          publicMessage: "the event could not be held for its spans; retry",
        });
        results[index] = retryResult(p, e);
        retried.set(p.type, (retried.get(p.type) ?? 0) + 1);
      } else {
        rest.rows.push(p);
        rest.index.push(index);
      }
    });
    for (const [type, n] of held) metrics.outcome(type, "held", n);
    for (const [type, n] of retried) metrics.outcome(type, "retry", n);
    if (retried.size > 0) {
      log.warn(
        { events: [...retried.values()].reduce((a, n) => a + n, 0) },
        "events not held for their spans",
      );
    }
    return rest;
  }

  function refusalEntry(r: Refusal, channel: Channel) {
    return {
      index: r.index,
      row: quarantineRow({ ...r.event, code: r.code, reason: r.reason, field: "", raw: r.raw }, channel),
      result: { status: r.status, id: r.event.id, type: r.event.type, code: r.code, reason: r.reason },
    };
  }
}
