import { DateTime, IANAZone } from "luxon";

export type Unit = "minute" | "hour" | "day" | "week" | "month" | "quarter" | "year";
export const UNITS: readonly Unit[] = ["minute", "hour", "day", "week", "month", "quarter", "year"];

export function isValidZone(zone: string): boolean {
  return IANAZone.isValidZone(zone);
}

const HAS_OFFSET = /T.*(Z|[+-]\d{2}(:?\d{2})?)$/i;

/**
 * ISO-8601 date or date-time to epoch ms. Text without an offset is read in `zone` (docs/QUERY.md, "Times").
 * Returns null when the text is not a date.
 */
export function parseDate(text: string, zone: string): number | null {
  const trimmed = text.trim();
  if (!/^\d{4}-\d{2}-\d{2}/.test(trimmed)) return null;
  const dt = HAS_OFFSET.test(trimmed)
    ? DateTime.fromISO(trimmed, { setZone: true })
    : DateTime.fromISO(trimmed, { zone });
  return dt.isValid ? dt.toMillis() : null;
}

export interface Buckets {
  /** Label (start) of each bucket, epoch ms, oldest first. The first may lie before `fromMs` (calendar buckets). */
  labels: number[];
  /**
   * Edges for the engine, epoch ms: edges[i] is where bucket i starts counting (edges[0] = fromMs),
   * edges[labels.length] = toMs. Bucket i holds times t with edges[i] <= t < edges[i+1].
   */
  edges: number[];
}

/**
 * Buckets over [fromMs, toMs) in `zone`. `aligned` = calendar buckets (start of hour/day/ISO week/
 * month/quarter/year in the zone, DST-aware); otherwise every `n` units starting at fromMs, added
 * in the zone's calendar (a day is 23 or 25 hours across DST; hours and minutes are absolute).
 * Stops with null once more than `maxBuckets` buckets would be needed.
 */
export function computeBuckets(
  fromMs: number,
  toMs: number,
  unit: Unit,
  n: number,
  zone: string,
  aligned: boolean,
  maxBuckets: number,
): Buckets | null {
  const from = DateTime.fromMillis(fromMs, { zone });
  const labels: number[] = [];
  const edges: number[] = [fromMs];
  const origin = aligned ? calendarStart(from, unit, n) : from;
  let start = origin;
  for (let k = 1; ; k++) {
    labels.push(start.toMillis());
    if (labels.length > maxBuckets) return null;
    const next = plusUnits(origin, unit, n * k);
    const nextMs = next.toMillis();
    if (nextMs >= toMs) {
      edges.push(toMs);
      break;
    }
    edges.push(nextMs);
    start = next;
  }
  return { labels, edges };
}

/** Calendar start of the bucket holding `dt`: n-minute / n-hour buckets on multiples of n in the zone's clock. */
function calendarStart(dt: DateTime, unit: Unit, n: number): DateTime {
  if (n > 1 && unit === "minute") return dt.startOf("hour").plus({ minutes: Math.floor(dt.minute / n) * n });
  if (n > 1 && unit === "hour") return dt.startOf("day").plus({ hours: Math.floor(dt.hour / n) * n });
  return dt.startOf(unit);
}

function plusUnits(dt: DateTime, unit: Unit, count: number): DateTime {
  switch (unit) {
    case "minute":
      return dt.plus({ minutes: count });
    case "hour":
      return dt.plus({ hours: count });
    case "day":
      return dt.plus({ days: count });
    case "week":
      return dt.plus({ weeks: count });
    case "month":
      return dt.plus({ months: count });
    case "quarter":
      return dt.plus({ quarters: count });
    case "year":
      return dt.plus({ years: count });
  }
}

/** Label text of a bucket: ISO-8601 with the zone's offset at that instant. */
export function formatInZone(ms: number, zone: string): string {
  const dt = DateTime.fromMillis(ms, { zone });
  return zone === "UTC"
    ? dt.toUTC().toISO({ suppressMilliseconds: true })!
    : dt.toISO({ suppressMilliseconds: true })!;
}
