import type { InferenceData } from "@budmetrics/schema";
import {
  addSpans,
  finishRecord,
  markEmitted,
  mergeRecord,
  planTrace,
  recordOfUnit,
  type AssemblyConfig,
  type HeldEvent,
  type InferenceRecord,
  type SpanIntake,
  type TraceState,
  type Unit,
} from "./assemble";
import type { OtlpSpan } from "./decode";
import { compactSpan, isRelevant } from "./spans";

/**
 * The OTLP use case: spans of a decoded request → pending state → inference records committed
 * through a sink; CloudEvents of the same inferences held and merged; a sweep that finishes what
 * the time bound has closed. Runs the pure functions of assemble.ts against two ports.
 *
 * Acknowledgement: `acceptSpans` resolves `ok` only when every span it was given is either
 * committed in the pending store or part of a record the sink has committed. A sink or store
 * failure is a retryable result (the OTLP client resends the whole request; spans and records are
 * idempotent by trace/span id and record id).
 */

/** Where pending spans and held CloudEvents are kept (memory for one process, Redis across replicas). */
export interface PendingStore {
  /**
   * Atomic read-modify-write of one trace's state. `fn` is pure and may be called more than once
   * (a store with optimistic concurrency calls it again after a conflict). `next` undefined deletes.
   */
  updateTrace<T>(
    traceId: string,
    fn: (cur: TraceState | undefined) => { next: TraceState | undefined; result: T },
  ): Promise<T>;
  /** Trace ids whose `dueMs` ≤ nowMs, oldest first, at most `limit`. */
  dueTraces(nowMs: number, limit: number): Promise<string[]>;
  /** Atomic read-modify-write of one held CloudEvent (same contract as `updateTrace`). */
  updateEvent<T>(
    inferenceId: string,
    fn: (cur: HeldEvent | undefined) => { next: HeldEvent | undefined; result: T },
  ): Promise<T>;
  /** Inference ids of held events whose `dueMs` ≤ nowMs, at most `limit`. */
  dueEvents(nowMs: number, limit: number): Promise<string[]>;
  /** Remembers which trace an inference id belongs to, until `untilMs`. */
  linkInferences(
    pairs: ReadonlyArray<[inferenceId: string, traceId: string]>,
    untilMs: number,
  ): Promise<void>;
  traceOfInferences(inferenceIds: readonly string[]): Promise<Map<string, string>>;
  /** Pending spans and held events now (back-pressure). */
  size(): Promise<{ pendingSpans: number; heldEvents: number }>;
}

/**
 * inserted / duplicate — stored (now or before); refused — it can never be stored (kept in
 * quarantine with the reason): done, like a stored one; retry — not stored, try again later.
 */
export type RecordOutcome = "inserted" | "duplicate" | "refused" | "retry";

/** Where finished records go: the collector's exactly-once writer (identity = `record_id`). */
export interface RecordSink {
  /** Resolves after commit with one outcome per record; throws when nothing could be committed. */
  writeRecords(records: readonly InferenceRecord[]): Promise<RecordOutcome[]>;
  /** A held CloudEvent whose spans never came: written as the CloudEvent path writes it. */
  writeEvents(events: readonly HeldEvent[]): Promise<RecordOutcome[]>;
}

export interface OtlpIngestConfig extends AssemblyConfig {
  /** Pending spans + held events beyond which new work is refused (retryable, Retry-After). */
  maxPending: number;
  /** Traces and events finished per sweep call. */
  sweepLimit: number;
}

export interface SpanCounts {
  /** Spans in the request (decoded, valid). */
  received: number;
  /** Spans no record reads (every span but gateway, handler and response spans of counted paths). */
  ignored: number;
  /** Read spans kept pending or emitted for the first time. */
  accepted: number;
  /** Read spans already pending or emitted (a resent request). */
  duplicates: number;
  /** Read spans of a record already emitted after its time bound: dropped. */
  late: number;
}

export type SpansResult =
  | {
      ok: true;
      counts: SpanCounts;
      /** Records committed by this call: inserted, or already stored. */
      inserted: number;
      duplicateRecords: number;
      /** Attribute values present but unusable (field left null), for logs. */
      problems: string[];
    }
  | {
      ok: false;
      retryable: true;
      reason: "backpressure" | "store" | "sink";
      message: string;
      counts: SpanCounts;
    };

export type EventDecision =
  | { action: "held" }
  /** Its spans were already emitted: write it through the CloudEvent path (the writer finds the duplicate). */
  | { action: "write" }
  | { action: "retry"; message: string };

export interface SweepResult {
  traces: number;
  records: number;
  events: number;
  failed: boolean;
}

export interface OtlpIngest {
  acceptSpans(spans: readonly OtlpSpan[], nowMs: number): Promise<SpansResult>;
  holdEvents(
    events: ReadonlyArray<{ data: InferenceData; eventId: string; eventSource: string }>,
    nowMs: number,
  ): Promise<EventDecision[]>;
  sweep(nowMs: number): Promise<SweepResult>;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

interface Planned {
  traceId: string;
  units: Unit[];
  records: InferenceRecord[];
  /** Keys of the held CloudEvents merged into `records` (deleted once they are committed). */
  mergedEvents: string[];
  problems: string[];
}

export function createOtlpIngest(deps: {
  store: PendingStore;
  sink: RecordSink;
  config: OtlpIngestConfig;
}): OtlpIngest {
  const { store, sink, config } = deps;

  /** Records of complete (or, when final, all) units of a state, merged with held events. */
  async function plan(state: TraceState, final: boolean): Promise<Planned> {
    const units = planTrace(state, final);
    const records: InferenceRecord[] = [];
    const mergedEvents: string[] = [];
    const problems: string[] = [];
    for (const u of units) {
      const mapped = recordOfUnit(state, u);
      if (!mapped) continue;
      problems.push(...mapped.problems);
      let held: HeldEvent | undefined;
      for (const id of [mapped.record.inference_id ?? "", ...u.inferenceIds]) {
        if (!id) continue;
        held = await store.updateEvent(id, (cur) => ({ next: cur, result: cur }));
        if (held) {
          mergedEvents.push(id);
          break;
        }
      }
      records.push(finishRecord(mergeRecord(mapped.record, held)));
    }
    return { traceId: state.traceId, units, records, mergedEvents, problems };
  }

  /** Writes the planned records; on commit marks their units done and drops merged events. */
  async function commit(
    planned: Planned[],
    nowMs: number,
  ): Promise<{ inserted: number; duplicates: number; retry: boolean }> {
    const all = planned.flatMap((p) => p.records);
    let outcomes: RecordOutcome[] = [];
    if (all.length > 0) outcomes = await sink.writeRecords(all);
    let inserted = 0;
    let duplicates = 0;
    let retry = false;
    let i = 0;
    for (const p of planned) {
      const outs = outcomes.slice(i, i + p.records.length);
      i += p.records.length;
      if (outs.includes("retry")) {
        retry = true;
        continue; // the whole trace stays pending; a resend or the sweep writes it again
      }
      inserted += outs.filter((o) => o === "inserted").length;
      duplicates += outs.filter((o) => o === "duplicate").length;
      if (p.units.length === 0) continue;
      await store.updateTrace(p.traceId, (cur) => ({
        next: cur ? markEmitted(cur, p.units, nowMs, config) : undefined,
        result: undefined,
      }));
      for (const id of p.mergedEvents) {
        await store.updateEvent(id, () => ({ next: undefined, result: undefined }));
      }
    }
    return { inserted, duplicates, retry };
  }

  return {
    async acceptSpans(spans, nowMs) {
      const counts: SpanCounts = { received: spans.length, ignored: 0, accepted: 0, duplicates: 0, late: 0 };
      const byTrace = new Map<string, SpanIntake>();
      for (const span of spans) {
        const c = compactSpan(span);
        let intake = byTrace.get(span.traceId);
        if (!intake) {
          intake = { spans: [], links: [] };
          byTrace.set(span.traceId, intake);
        }
        if (span.parentSpanId) intake.links.push([span.spanId, span.parentSpanId]);
        if (c && isRelevant(c)) intake.spans.push(c);
        else counts.ignored++;
      }
      // A trace with nothing to read in this request only lends its parent links (the HTTP server
      // span between a gateway span and its handler) to a trace already pending; it starts no state.
      if ([...byTrace.values()].every((x) => x.spans.length === 0 && x.links.length === 0)) {
        return { ok: true, counts, inserted: 0, duplicateRecords: 0, problems: [] };
      }

      try {
        const size = await store.size();
        if (size.pendingSpans + size.heldEvents >= config.maxPending) {
          return {
            ok: false,
            retryable: true,
            reason: "backpressure",
            message: `pending spans and held events at the bound (${config.maxPending})`,
            counts,
          };
        }
      } catch (err) {
        return { ok: false, retryable: true, reason: "store", message: message(err), counts };
      }

      const planned: Planned[] = [];
      const links: Array<[string, string]> = [];
      let latestDue = nowMs;
      try {
        for (const [traceId, intake] of byTrace) {
          if (intake.spans.length === 0 && intake.links.length === 0) continue;
          const state = await store.updateTrace(traceId, (cur) => {
            if (!cur && intake.spans.length === 0) return { next: undefined, result: undefined };
            const out = addSpans(cur, traceId, intake, nowMs, config);
            return { next: out.state, result: out };
          });
          if (!state) continue;
          counts.accepted += state.added;
          counts.duplicates += state.duplicates;
          counts.late += state.late;
          const p = await plan(state.state, false);
          planned.push(p);
          // Every inference id seen, emitted or pending: a CloudEvent arriving later finds its trace.
          for (const s of intake.spans) {
            for (const key of [
              "gateway_analytics.inference_id",
              "model_inference_details.inference_id",
              "gen_ai.inference_id",
            ]) {
              const id = (s.attrs[key] ?? "").toLowerCase();
              if (id) links.push([id, traceId]);
            }
          }
          latestDue = Math.max(latestDue, state.state.dueMs);
        }
        if (links.length > 0) await store.linkInferences(links, latestDue + config.retainMs);
      } catch (err) {
        return { ok: false, retryable: true, reason: "store", message: message(err), counts };
      }

      try {
        const c = await commit(planned, nowMs);
        if (c.retry) {
          return {
            ok: false,
            retryable: true,
            reason: "sink",
            message: "a record is being written by another writer; retry",
            counts,
          };
        }
        return {
          ok: true,
          counts,
          inserted: c.inserted,
          duplicateRecords: c.duplicates,
          problems: planned.flatMap((p) => p.problems),
        };
      } catch (err) {
        // Nothing is lost: the spans are pending and the sweep writes them after the bound at the latest.
        return { ok: false, retryable: true, reason: "sink", message: message(err), counts };
      }
    },

    async holdEvents(events, nowMs) {
      const out: EventDecision[] = [];
      let traces: Map<string, string>;
      try {
        const size = await store.size();
        if (size.pendingSpans + size.heldEvents >= config.maxPending) {
          const msg = `pending spans and held events at the bound (${config.maxPending})`;
          return events.map(() => ({ action: "retry", message: msg }));
        }
        traces = await store.traceOfInferences(events.map((e) => e.data.inference_id.toLowerCase()));
      } catch (err) {
        return events.map(() => ({ action: "retry", message: message(err) }));
      }
      for (const e of events) {
        const id = e.data.inference_id.toLowerCase();
        try {
          const traceId = traces.get(id);
          let dueMs = nowMs + config.boundMs;
          if (traceId) {
            const state = await store.updateTrace(traceId, (cur) => ({ next: cur, result: cur }));
            if (state?.doneIds.includes(id)) {
              out.push({ action: "write" });
              continue;
            }
            if (state && state.pending.length > 0) dueMs = Math.max(dueMs, state.dueMs);
          }
          await store.updateEvent(id, (cur) => ({
            next: cur ?? {
              inferenceId: id,
              data: e.data,
              eventId: e.eventId,
              eventSource: e.eventSource,
              receivedMs: nowMs,
              dueMs,
            },
            result: undefined,
          }));
          out.push({ action: "held" });
        } catch (err) {
          out.push({ action: "retry", message: message(err) });
        }
      }
      return out;
    },

    async sweep(nowMs) {
      const result: SweepResult = { traces: 0, records: 0, events: 0, failed: false };
      try {
        const due = await store.dueTraces(nowMs, config.sweepLimit);
        const planned: Planned[] = [];
        for (const traceId of due) {
          const state = await store.updateTrace(traceId, (cur) => {
            // Nothing pending and the retention is over: forget the trace.
            if (cur && cur.pending.length === 0 && cur.dueMs <= nowMs)
              return { next: undefined, result: undefined };
            return { next: cur, result: cur };
          });
          if (!state || state.pending.length === 0 || state.dueMs > nowMs) continue;
          planned.push(await plan(state, true));
          result.traces++;
        }
        const c = await commit(planned, nowMs);
        result.records += c.inserted + c.duplicates;
        if (c.retry) result.failed = true;

        const dueEvents = await store.dueEvents(nowMs, config.sweepLimit);
        const toWrite: HeldEvent[] = [];
        const traces = await store.traceOfInferences(dueEvents);
        for (const id of dueEvents) {
          const traceId = traces.get(id);
          if (traceId) {
            const state = await store.updateTrace(traceId, (cur) => ({ next: cur, result: cur }));
            if (state && state.pending.length > 0 && state.dueMs > nowMs) {
              // Its spans are still assembling: wait for the trace's bound instead.
              await store.updateEvent(id, (cur) => ({
                next: cur ? { ...cur, dueMs: state.dueMs } : cur,
                result: undefined,
              }));
              continue;
            }
          }
          const held = await store.updateEvent(id, (cur) => ({ next: cur, result: cur }));
          if (held) toWrite.push(held);
        }
        if (toWrite.length > 0) {
          const outcomes = await sink.writeEvents(toWrite);
          for (let i = 0; i < toWrite.length; i++) {
            if (outcomes[i] === "retry") {
              result.failed = true;
              continue;
            }
            await store.updateEvent(toWrite[i]!.inferenceId, () => ({ next: undefined, result: undefined }));
            result.events++;
          }
        }
      } catch {
        result.failed = true;
      }
      return result;
    },
  };
}
