/**
 * Dates as the Bud stack's Python callers send them (pydantic `model_dump(mode="json")`, `isoformat()`,
 * browser `toISOString()`): ISO-8601 with 0–9 fraction digits, `Z`, `±HH:MM` or no offset, `T` or a
 * space between date and time. A time without an offset is UTC, as in the original service's containers.
 */
import { DateTime } from "luxon";
import { queryErrors, validation } from "../errors";

const DATE_START = /^\d{4}-\d{2}-\d{2}/;

export function parseCallerDate(text: string): number | null {
  const t = text.trim();
  if (!DATE_START.test(t)) return null;
  const iso = t.length > 10 && t[10] === " " ? `${t.slice(0, 10)}T${t.slice(11)}` : t;
  const dt = DateTime.fromISO(iso, { zone: "UTC", setZone: true });
  return dt.isValid ? dt.toMillis() : null;
}

/** The rollups' and raw tables' DateTime columns cover 1970..2106: dates outside are refused. */
const MIN_MS = 0;
const MAX_MS = Date.parse("2106-01-01T00:00:00Z");

export function requireDate(text: string, field: string): number {
  const ms = parseCallerDate(text);
  if (ms === null) throw validation(`${field} must be an ISO-8601 date or date-time`, { field });
  if (ms < MIN_MS || ms > MAX_MS) {
    throw validation(`${field} must lie between 1970-01-01 and 2105-12-31 (UTC)`, { field });
  }
  return ms;
}

export interface CallerRange {
  fromMs: number;
  /** Inclusive end (the original filters `BETWEEN from AND to`). */
  toMs: number;
  /** to_date was null or absent: the range ends now. */
  toIsNow: boolean;
}

export interface RangeRules {
  maxRangeDays: number;
  /** The original refuses `to_date` more than one day ahead on these endpoints. */
  futureLimit?: boolean;
}

/**
 * from/to with the original's rules: `to_date < from_date` → 422 "to_date must be after from_date"
 * (equal dates are accepted), a range longer than `maxRangeDays` → 422, and where the original has it,
 * `to_date` more than one day after now → 422. A null `to_date` means now.
 */
export function callerRange(
  fromText: string,
  toText: string | null | undefined,
  nowMs: number,
  rules: RangeRules,
): CallerRange {
  const fromMs = requireDate(fromText, "from_date");
  const toIsNow = toText === null || toText === undefined;
  const toMs = toIsNow ? nowMs : requireDate(toText, "to_date");
  if (!toIsNow) {
    if (toMs < fromMs) throw queryErrors.create("QUERY_RANGE_INVALID", "to_date must be after from_date");
    if (rules.futureLimit && toMs > nowMs + 86_400_000) {
      throw validation("to_date cannot be more than 1 day in the future", { field: "to_date" });
    }
  }
  if (toMs - fromMs > rules.maxRangeDays * 86_400_000) {
    throw queryErrors.create("QUERY_RANGE_TOO_LONG", `Date range cannot exceed ${rules.maxRangeDays} days`);
  }
  return { fromMs, toMs: Math.max(toMs, fromMs), toIsNow };
}

/** ISO-8601 UTC with milliseconds and `Z` (pydantic reads it as an aware datetime). */
export function isoUtc(ms: number): string {
  return new Date(ms).toISOString();
}

/** The original's naive ISO text of a stored time (`2026-03-14T10:00:00`), for fields callers show as local. */
export function naiveIso(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19);
}

/** `date.isoformat()` of the original's Date buckets (`2026-03-14`). */
export function isoDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}
