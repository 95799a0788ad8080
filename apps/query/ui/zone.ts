/** Time-zone arithmetic with Intl only (no date library in the bundle). */

function offsetMs(utcMs: number, tz: string): number {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone: tz,
    hourCycle: "h23",
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  }).formatToParts(new Date(utcMs));
  const get = (t: string) => Number(parts.find((p) => p.type === t)?.value ?? 0);
  const asUtc = Date.UTC(
    get("year"),
    get("month") - 1,
    get("day"),
    get("hour"),
    get("minute"),
    get("second"),
  );
  return asUtc - Math.floor(utcMs / 1000) * 1000;
}

/** A local date-time without offset (`2026-11-29T08:00`), read in `tz`, as epoch ms. */
export function zonedToUtcMs(local: string, tz: string): number {
  const guess = Date.parse(`${local.length === 16 ? `${local}:00` : local}Z`);
  const first = guess - offsetMs(guess, tz);
  return guess - offsetMs(first, tz);
}

/** `2026-11-29 08:00:01.234` in `tz`. */
export function formatInZone(iso: string, tz: string): string {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return iso;
  const local = new Date(ms + offsetMs(ms, tz)).toISOString();
  return `${local.slice(0, 10)} ${local.slice(11, 23)}`;
}

/** An instant as a `datetime-local` value in `tz`, to the minute (`2026-11-29T08:00`). */
export function toLocalInput(ms: number, tz: string): string {
  const local = formatInZone(new Date(ms).toISOString(), tz);
  return `${local.slice(0, 10)}T${local.slice(11, 16)}`;
}
