import { INFERENCE_FIELDS, type InferenceData, type QuarantineRow } from "@budmetrics/schema";
import type { Batcher } from "../ingest/batcher";
import type { RetentionHorizon } from "../ingest/ingest";
import type { AcceptedEvent, EventParser, ParsedEvent, RejectedEvent } from "../ingest/parse-event";
import type { PreparedRow, QuarantineSink, WriteOutcome } from "../ingest/ports";
import type { HeldEvent, InferenceRecord } from "./assemble";
import { uuid } from "./convert";
import type { RecordKind } from "./map";
import type { RecordOutcome, RecordSink } from "./otlp-ingest";

/**
 * The RecordSink of the OTLP path over the collector's exactly-once write: a record assembled from
 * spans becomes the inference data of the declaration (packages/schema inference.ts), is checked
 * with the same rules and written with the same line writer as a CloudEvent's data, and goes into
 * the same inference batcher — key = inference_id (the record id), time = request_arrival_time — so
 * the claims and the identity check cover both paths and each inference is stored, and counted in
 * every rollup tier, once. A held CloudEvent whose spans never came is written as the CloudEvent path
 * writes it.
 *
 * One bad record never fails the others: a value the declaration refuses (a status code outside
 * 100–599, a text over its bound, a lone surrogate) is left out of the row (the field is absent,
 * listed in `problems`); a forward time before the arrival time is set to the arrival time; a
 * record whose own time the tables cannot keep (outside 1970–2105), or whose row the engine refuses,
 * is kept in quarantine (reason code OTLP_RECORD_INVALID / EVENT_UNSTORABLE) and answered "refused".
 */

/** The UUID the rollups already use for "absent" (a blocked request has no endpoint, model…). */
export const ZERO_UUID = "00000000-0000-0000-0000-000000000000";

/** Where a span-only record's row says it came from (the CloudEvent's own id and source otherwise). */
export const OTLP_EVENT_SOURCE = "otlp";
/** The `event_type` and `channel` of a quarantined record. */
export const OTLP_RECORD_TYPE = "otlp_span_record";

/** A record → the inference data of the declaration (every field the record has a value for). */
export function toInferenceData(r: InferenceRecord): InferenceData {
  return {
    inference_id: r.inference_id ?? r.record_id,
    project_id: r.project_id ?? ZERO_UUID,
    endpoint_id: r.endpoint_id ?? ZERO_UUID,
    model_id: r.model_id ?? ZERO_UUID,
    is_success: r.is_success ?? false,
    // finishRecord has set both (handler times, else the gateway's request time, else the span start).
    request_arrival_time: r.request_arrival_time ?? r.timestamp,
    request_forward_time: r.request_forward_time ?? r.request_arrival_time ?? r.timestamp,
    // The handler's request_ip (or the CloudEvent's), else the client address the gateway span saw.
    request_ip: r.request_ip ?? r.client_ip,
    cost: r.cost,
    response_analysis: r.response_analysis,
    api_key_id: r.api_key_id,
    user_id: r.user_id,
    api_key_project_id: r.api_key_project_id,
    error_code: r.error_code,
    error_message: r.error_message,
    error_type: r.error_type,
    status_code: r.status_code,
    model_name: r.model_name,
    model_provider: r.model_provider,
    project_name: r.project_name,
    endpoint_name: r.endpoint_name,
    endpoint_type: r.endpoint_type,
    input_tokens: r.input_tokens,
    output_tokens: r.output_tokens,
    response_time_ms: r.response_time_ms,
    ttft_ms: r.ttft_ms,
    cached: r.cached,
    finish_reason: r.finish_reason,
    cluster_id: r.cluster_id,
    prompt_id: r.prompt_id,
    prompt_preview: r.prompt_preview,
    response_preview: r.response_preview,
    record_kind: r.kind,
    trace_id: r.trace_id,
    input_messages: r.input_messages,
    output: r.output,
    system_prompt: r.system_prompt,
    country_code: r.country_code,
    region: r.region,
    city: r.city,
    user_agent: r.user_agent,
    device_type: r.device_type,
    browser_name: r.browser_name,
    os_name: r.os_name,
    method: r.method,
    path: r.path,
    gateway_processing_ms: r.gateway_processing_ms,
    total_duration_ms: r.total_duration_ms,
    is_blocked: r.is_blocked,
    // The analytics attribute (a category such as rate_limit_exceeded), else the blocking event's text.
    block_reason: r.block_reason ?? r.block_reason_detail,
    rule_id: r.rule_id ?? (r.block_rule_id === null ? null : uuid(r.block_rule_id)),
    rule_name: r.rule_name,
    rule_type: r.rule_type,
    block_reason_detail: r.block_reason_detail,
    response_id: r.response_id,
  };
}

const REQUIRED = new Set(
  Object.entries(INFERENCE_FIELDS)
    .filter(([, f]) => "required" in f && f.required)
    .map(([k]) => k),
);

/** The top-level field a rejection names ("data.status_code" → status_code; "" when none). */
function fieldOf(r: RejectedEvent): string {
  const m = /^data\.([a-z0-9_]+)/.exec(r.field);
  return m ? m[1]! : "";
}

export type PreparedRecord =
  | { ok: true; event: AcceptedEvent; problems: string[] }
  | { ok: false; rejected: RejectedEvent; problems: string[] };

/**
 * Checks the data of a record with the CloudEvent rules, leaving out what they refuse in an
 * optional field (at most once per field), until it passes or a required field fails.
 */
export function prepareRecordData(
  parser: EventParser,
  data: InferenceData,
  ids: { id: string; source: string },
): PreparedRecord {
  const d = { ...data } as Record<string, unknown>;
  const problems: string[] = [];
  for (let attempt = 0; attempt <= Object.keys(INFERENCE_FIELDS).length; attempt++) {
    const parsed: ParsedEvent = parser.parseInferenceData(d, ids);
    if (parsed.ok) return { ok: true, event: parsed, problems };
    const field = fieldOf(parsed);
    if (parsed.code === "EVENT_RULE_VIOLATED" && field === "request_forward_time") {
      problems.push(`${parsed.reason}: set to request_arrival_time`);
      d.request_forward_time = d.request_arrival_time;
      continue;
    }
    if (field === "" || REQUIRED.has(field) || d[field] == null) {
      return { ok: false, rejected: parsed, problems };
    }
    problems.push(`${parsed.reason}: left out`);
    d[field] = null;
  }
  return {
    ok: false,
    rejected: parser.parseInferenceData(d, ids) as RejectedEvent,
    problems,
  };
}

export interface RecordSinkMetrics {
  /** Records by kind (inference, blocked, response, or "event" for a held CloudEvent) and outcome. */
  records(kind: RecordKind | "event", outcome: RecordOutcome, n: number): void;
  /** A value of a record left out (or corrected) so that the rest could be stored. */
  problems(n: number): void;
}

export interface RecordSinkDeps {
  /** The collector's inference batcher (group commit over the exactly-once write). */
  batcher: Pick<Batcher, "write">;
  parser: EventParser;
  quarantine: QuarantineSink;
  /**
   * What the raw table keeps (its TTL): a record older than that is refused as expired, as the
   * CloudEvent path refuses such an event — stored, its raw row would be dropped while the rollup
   * kept it.
   */
  horizon?: Pick<RetentionHorizon, "prepare" | "at">;
  now?: () => number;
  metrics?: RecordSinkMetrics;
  /** Logs the problems of one record (ids and field rules only, never values). */
  onProblems?: (recordId: string, problems: readonly string[]) => void;
}

export function createRecordSink(deps: RecordSinkDeps): RecordSink {
  const { batcher, parser, quarantine } = deps;

  function quarantineRow(rejected: RejectedEvent, code: string, reason: string): QuarantineRow {
    return {
      event_id: rejected.id,
      event_type: OTLP_RECORD_TYPE,
      event_source: rejected.source,
      reason_code: code,
      reason,
      field_path: rejected.field,
      raw_payload: rejected.raw,
      channel: "otlp",
    };
  }

  /**
   * Writes prepared rows (one unit of the batcher: committed together), quarantines what cannot be
   * stored, and maps the writer's outcomes to the sink's. Throws when nothing could be committed.
   */
  async function write(
    items: Array<
      | { row: PreparedRow; kind: RecordKind | "event"; raw: () => string; id: string; source: string }
      | { refused: QuarantineRow; kind: RecordKind | "event" }
    >,
  ): Promise<RecordOutcome[]> {
    await deps.horizon?.prepare();
    const oldest = deps.horizon?.at("inference", (deps.now ?? Date.now)());
    const rows: PreparedRow[] = [];
    const at: number[] = [];
    items.forEach((it, i) => {
      if (!("row" in it)) return;
      if (oldest !== undefined && it.row.timeMs < oldest) {
        items[i] = {
          kind: it.kind,
          refused: {
            event_id: it.id,
            event_type: OTLP_RECORD_TYPE,
            event_source: it.source,
            reason_code: "EVENT_EXPIRED",
            reason: `older than the inference table keeps (its retention ends at ${new Date(oldest).toISOString()})`,
            field_path: "",
            raw_payload: it.raw(),
            channel: "otlp",
          },
        };
        return;
      }
      rows.push(it.row);
      at.push(i);
    });
    const written: WriteOutcome[] = rows.length > 0 ? await batcher.write(rows) : [];
    const out: RecordOutcome[] = new Array<RecordOutcome>(items.length);
    const toQuarantine: Array<{ index: number; row: QuarantineRow }> = [];
    items.forEach((it, i) => {
      if ("refused" in it) toQuarantine.push({ index: i, row: it.refused });
    });
    written.forEach((o, j) => {
      const i = at[j]!;
      const it = items[i]! as Extract<(typeof items)[number], { row: PreparedRow }>;
      if (o === "unstorable") {
        toQuarantine.push({
          index: i,
          row: {
            event_id: it.id,
            event_type: OTLP_RECORD_TYPE,
            event_source: it.source,
            reason_code: "EVENT_UNSTORABLE",
            reason: "ClickHouse could not store a value of this record (its siblings were stored)",
            field_path: "",
            raw_payload: it.raw(),
            channel: "otlp",
          },
        });
      } else out[i] = o;
    });
    if (toQuarantine.length > 0) {
      try {
        await quarantine.write(toQuarantine.map((q) => q.row));
        for (const q of toQuarantine) out[q.index] = "refused";
      } catch {
        // Not kept yet, so not given up: written again by a resend or the next sweep.
        for (const q of toQuarantine) out[q.index] = "retry";
      }
    }
    if (deps.metrics) {
      const tally = new Map<string, number>();
      items.forEach((it, i) => {
        const key = `${it.kind}\u0000${out[i]}`;
        tally.set(key, (tally.get(key) ?? 0) + 1);
      });
      for (const [key, n] of tally) {
        const [kind, outcome] = key.split("\u0000") as [RecordKind | "event", RecordOutcome];
        deps.metrics.records(kind, outcome, n);
      }
    }
    return out;
  }

  return {
    async writeRecords(records) {
      let problemCount = 0;
      const items = records.map((r) => {
        const ids = { id: r.event_id ?? r.span_id, source: r.event_source ?? OTLP_EVENT_SOURCE };
        const prepared = prepareRecordData(parser, toInferenceData(r), ids);
        if (prepared.problems.length > 0) {
          problemCount += prepared.problems.length;
          deps.onProblems?.(r.record_id, prepared.problems);
        }
        if (!prepared.ok) {
          return {
            refused: quarantineRow(
              { ...prepared.rejected, id: r.record_id },
              "OTLP_RECORD_INVALID",
              `a record made from spans (trace ${r.trace_id}) cannot be stored: ${prepared.rejected.reason}`,
            ),
            kind: r.kind,
          };
        }
        const line = prepared.event.row.line;
        return {
          row: prepared.event.row,
          kind: r.kind,
          raw: () => line,
          id: r.record_id,
          source: ids.source,
        };
      });
      if (problemCount > 0) deps.metrics?.problems(problemCount);
      return write(items);
    },

    async writeEvents(events: readonly HeldEvent[]) {
      const items = events.map((e) => {
        const prepared = parser.parseInferenceData(e.data, { id: e.eventId, source: e.eventSource });
        if (!prepared.ok) {
          // Validated when it was received; only a change of the rules since could refuse it.
          return {
            refused: quarantineRow(prepared, prepared.code, prepared.reason),
            kind: "event" as const,
          };
        }
        const line = prepared.row.line;
        return {
          row: prepared.row,
          kind: "event" as const,
          raw: () => line,
          id: e.eventId,
          source: e.eventSource,
        };
      });
      return write(items);
    },
  };
}
