import net from "node:net";

/**
 * The conversions the original service applies to span attributes (BudEcosystem/bud-runtime
 * services/budmetrics/scripts/migrate_clickhouse.py, the views that fill InferenceFact from
 * otel_traces). There every attribute is a string (the Collector's ClickHouse exporter stringifies
 * values) and every column is `toXOrNull(...)` / `nullIf(..., '')` of it; these functions give the
 * same answers in TypeScript, so a value the original drops is dropped here too. All return null
 * for "absent or not convertible", never throw.
 */

/** `nullIf(s, '')`. */
export function str(s: string): string | null {
  return s === "" ? null : s;
}

const UNSIGNED = /^\+?\d+$/;
const SIGNED = /^[+-]?\d+$/;

function uintOrNull(s: string, max: bigint): number | null {
  if (!UNSIGNED.test(s)) return null;
  const n = BigInt(s);
  return n <= max ? Number(n) : null;
}

/** `toUInt8OrNull`. */
export function u8(s: string): number | null {
  return uintOrNull(s, 0xffn);
}
/** `toUInt16OrNull`. */
export function u16(s: string): number | null {
  return uintOrNull(s, 0xffffn);
}
/** `toUInt32OrNull`. */
export function u32(s: string): number | null {
  return uintOrNull(s, 0xffff_ffffn);
}
/** `toUInt64OrNull`, as a number (exact up to 2^53; the values read are unix seconds). */
export function u64(s: string): number | null {
  return uintOrNull(s, 0xffff_ffff_ffff_ffffn);
}
/** `toInt32OrNull`. */
export function i32(s: string): number | null {
  if (!SIGNED.test(s)) return null;
  const n = BigInt(s);
  return n >= -(2n ** 31n) && n < 2n ** 31n ? Number(n) : null;
}

const FLOAT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** `toFloat64OrNull` for finite decimal text (inf/nan text is treated as absent). */
export function f64(s: string): number | null {
  if (!FLOAT.test(s)) return null;
  const n = Number(s);
  return Number.isFinite(n) ? n : null;
}

/** `toFloat32OrNull`: the nearest single-precision value, as a number. */
export function f32(s: string): number | null {
  const n = f64(s);
  return n === null ? null : Math.fround(n);
}

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** `toUUIDOrNull` on the canonical 36-character form (any case), lower-cased. */
export function uuid(s: string): string | null {
  return UUID.test(s) ? s.toLowerCase() : null;
}

/** `toIPv4OrNull`: dotted IPv4 only ("unknown", IPv6 → null). */
export function ipv4(s: string): string | null {
  return net.isIPv4(s) ? s : null;
}

const DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

/**
 * `parseDateTime64BestEffortOrNull(s)` with millisecond precision (sub-millisecond digits truncated)
 * for the forms the gateway writes: RFC 3339 with a zone (`…T06:17:13.145651862+00:00`) and
 * `YYYY-MM-DD HH:MM:SS.fff` without a zone, which is UTC (the server time zone of the original).
 * Returns epoch milliseconds.
 */
export function dateTimeMs(s: string): number | null {
  const m = DATE_TIME.exec(s.trim());
  if (!m) return null;
  const [, y, mo, d, h = "0", mi = "0", sec = "0", frac = "", zone = ""] = m;
  const ms = Number((frac + "000").slice(0, 3));
  let t = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(sec), ms);
  if (Number.isNaN(t)) return null;
  // Date.UTC rolls over out-of-range parts (month 13, hour 25); the original refuses them.
  const check = new Date(t);
  if (
    check.getUTCFullYear() !== Number(y) ||
    check.getUTCMonth() !== Number(mo) - 1 ||
    check.getUTCDate() !== Number(d) ||
    check.getUTCHours() !== Number(h) ||
    check.getUTCMinutes() !== Number(mi) ||
    check.getUTCSeconds() !== Number(sec)
  ) {
    return null;
  }
  if (zone && zone.toUpperCase() !== "Z") {
    const sign = zone[0] === "-" ? -1 : 1;
    const digits = zone.slice(1).replace(":", "");
    const offset = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4) || "0");
    t -= sign * offset * 60_000;
  }
  return t;
}

/** Epoch milliseconds → RFC 3339 UTC with milliseconds (`2026-01-07T06:17:13.145Z`). */
export function isoMs(ms: number): string {
  return new Date(ms).toISOString();
}

/** Span times (unix nanoseconds) → epoch milliseconds, truncated like `toDateTime64(ts, 3)`. */
export function nanosToMs(ns: bigint): number {
  return Number(ns / 1_000_000n);
}
