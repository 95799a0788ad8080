import type { AnalyticsQuery } from "./parse";
import { rollupServes } from "./queries";

/** Days each table keeps (its TTL as created; 0 = kept for ever). */
export interface Retention {
  rawDays: number;
  rollupDays: number;
}

/**
 * A statement about the data an answer could use, in the answer's `notes` (present only when there
 * is something to say). Codes are stable; `before` is the first instant that is fully covered.
 */
export interface CoverageNote {
  code: "RANGE_BEFORE_RAW_RETENTION" | "RANGE_BEFORE_ROLLUP_RETENTION";
  before: string;
  message: string;
  /** Requested metrics (as named in the request) with no data before `before`. */
  unavailable_metrics: string[];
}

const DAY_MS = 86_400_000;

/**
 * The first UTC midnight from which rows kept `days` days are complete at `nowMs`. The TTL drops a
 * row `days` days after its time (at the next merge, so older rows may linger): rounding up to a day
 * keeps the horizon the same for every request of a day and every grain, hence cacheable answers.
 */
export function retentionHorizonMs(days: number, nowMs: number): number | null {
  if (days <= 0) return null;
  return Math.ceil((nowMs - days * DAY_MS) / DAY_MS) * DAY_MS;
}

/**
 * What an analytics answer must say about a range that starts before the raw table's horizon (or the
 * rollups'): the periods before it are answered from what exists. Inference metrics served by the
 * rollups are complete there; what needs raw rows is not — `concurrent_requests` always, and every
 * inference metric when the request needs columns only the raw table has (api_key, prompt, prompt
 * data). Earlier comparison periods count as part of the range. Metric samples are not covered.
 */
export function coverageNotes(q: AnalyticsQuery, retention: Retention, nowMs: number): CoverageNote[] {
  const span = q.toMs - q.fromMs;
  const startMs = q.fromMs - q.comparisonPeriods * span;
  const inference = q.metrics.filter((m) => m.inference !== undefined);
  if (inference.length === 0) return [];
  const notes: CoverageNote[] = [];
  const rollupHorizon = retentionHorizonMs(retention.rollupDays, nowMs);
  if (rollupHorizon !== null && startMs < rollupHorizon) {
    const before = new Date(rollupHorizon).toISOString();
    notes.push({
      code: "RANGE_BEFORE_ROLLUP_RETENTION",
      before,
      message: `no inference data is kept before ${before} (rollups are kept ${retention.rollupDays} days): periods before it are empty`,
      unavailable_metrics: inference.map((m) => m.key),
    });
  }
  const rawHorizon = retentionHorizonMs(retention.rawDays, nowMs);
  if (rawHorizon !== null && startMs < rawHorizon) {
    const before = new Date(rawHorizon).toISOString();
    const rawOnly = !rollupServes(q.groupBy, q.filters, q.promptOnly || q.withoutPrompts === true);
    const unavailable = inference
      .filter((m) => rawOnly || m.inference === "concurrent_requests")
      .map((m) => m.key);
    const what =
      unavailable.length === 0
        ? "every requested metric is complete there"
        : rawOnly
          ? "this request needs raw rows (api_key, prompt or prompt data), so periods before it count only rows not yet dropped"
          : `${unavailable.join(", ")} needs raw rows and is incomplete there`;
    notes.push({
      code: "RANGE_BEFORE_RAW_RETENTION",
      before,
      message: `periods before ${before} are answered from the rollups only (raw rows are kept ${retention.rawDays} days): ${what}`,
      unavailable_metrics: unavailable,
    });
  }
  return notes;
}
