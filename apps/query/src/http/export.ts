/**
 * CSV and NDJSON exports of any answer, made from the JSON answer itself at the route boundary, so an
 * export holds exactly what the JSON answer holds (same periods, groups, values and number text).
 *
 * Asked with `?format=csv|ndjson` or `Accept: text/csv` / `application/x-ndjson`. Rows:
 * - analytics (`observability_metrics`): one per (period, group), newest period first as in JSON;
 *   NDJSON `{time_period, ...group ids, data}`; CSV `time_period`, the group ids, then a column per
 *   metric field (`latency.p95`), comparison entries as `latency.comparison.1.value`.
 * - anything with an `items` list (the inference list, usage, …): one per item; CSV columns are the
 *   item's fields, nested objects flattened with dots, lists as JSON text.
 * - any other answer: one row.
 * Times: analytics periods are already in the request's zone. Elsewhere UTC instants (`…Z`) are
 * rendered in `?timezone=` when given (same instant, the zone's offset).
 * The rows are written as a stream with backpressure, in chunks, never as one string.
 */
import { once } from "node:events";
import type { ServerResponse } from "node:http";
import { DateTime } from "luxon";
import { isValidZone } from "../analytics/time";
import { validation } from "../errors";

export type ExportFormat = "csv" | "ndjson";

const CONTENT_TYPES: Record<ExportFormat, string> = {
  csv: "text/csv; charset=utf-8",
  ndjson: "application/x-ndjson; charset=utf-8",
};

/** How /openapi.json documents the export on every endpoint. */
export const EXPORT_PARAMETERS = [
  {
    name: "format",
    in: "query",
    required: false,
    description: "json (default), csv or ndjson; also chosen by Accept: text/csv or application/x-ndjson",
    schema: { enum: ["json", "csv", "ndjson"] },
  },
  {
    name: "timezone",
    in: "query",
    required: false,
    description:
      "exports of lists: IANA zone in which UTC instants are written (analytics answers carry their own)",
    schema: { type: "string" },
  },
] as const;

export const EXPORT_CONTENT = {
  "text/csv": {
    schema: { type: "string", description: "one row per (period, group) or per item; header first" },
  },
  "application/x-ndjson": {
    schema: { type: "string", description: "one JSON object per line, rows as in CSV" },
  },
} as const;

/** The export asked for, or null for JSON. An explicit `?format=` wins over `Accept`. */
export function exportFormatOf(url: string, accept: string | undefined): ExportFormat | null {
  const q = url.indexOf("?");
  if (q !== -1) {
    const format = new URLSearchParams(url.slice(q + 1)).get("format");
    if (format === "csv" || format === "ndjson") return format;
    if (format === "json") return null;
    if (format !== null) throw validation(`format must be one of: json, csv, ndjson (got "${format}")`);
  }
  if (!accept) return null;
  const types = accept.split(",").map((t) => t.split(";")[0]!.trim().toLowerCase());
  for (const t of types) {
    if (t === "application/json" || t === "*/*") return null;
    if (t === "text/csv") return "csv";
    if (t === "application/x-ndjson" || t === "application/ndjson") return "ndjson";
  }
  return null;
}

/** `?timezone=` of an export (analytics answers carry their own zone and ignore it). */
export function exportZoneOf(url: string): string | null {
  const q = url.indexOf("?");
  const zone = q === -1 ? null : new URLSearchParams(url.slice(q + 1)).get("timezone");
  if (zone === null || zone === "" || zone === "UTC") return null;
  if (!isValidZone(zone)) throw validation(`timezone must be an IANA time zone name, got "${zone}"`);
  return zone;
}

type Row = Record<string, unknown>;

interface AnalyticsAnswer {
  object: "observability_metrics";
  items: Array<{ time_period: string; items: Row[] }>;
}

function isAnalytics(body: unknown): body is AnalyticsAnswer {
  return (
    typeof body === "object" &&
    body !== null &&
    (body as { object?: unknown }).object === "observability_metrics" &&
    Array.isArray((body as { items?: unknown }).items)
  );
}

const UTC_INSTANT = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

function inZone(v: unknown, zone: string): unknown {
  if (typeof v === "string" && UTC_INSTANT.test(v))
    return DateTime.fromISO(v, { zone: "utc" })
      .setZone(zone)
      .toISO({ suppressMilliseconds: !v.includes(".") });
  if (Array.isArray(v)) return v.map((x) => inZone(x, zone));
  if (v !== null && typeof v === "object")
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, inZone(x, zone)]));
  return v;
}

/** The answer's rows, as NDJSON writes them. */
export function* exportRows(body: unknown, zone: string | null): Generator<Row> {
  if (isAnalytics(body)) {
    for (const p of body.items) for (const g of p.items) yield { time_period: p.time_period, ...g };
    return;
  }
  const items = (body as { items?: unknown } | null)?.items;
  const rows: unknown[] = Array.isArray(items) ? items : [body];
  for (const r of rows) {
    const row = (r !== null && typeof r === "object" && !Array.isArray(r) ? r : { value: r }) as Row;
    yield zone ? (inZone(row, zone) as Row) : row;
  }
}

/** One CSV record's cells: nested objects by dotted path; the analytics `data` level is left out. */
export function flattenRow(row: Row, analytics: boolean): Map<string, unknown> {
  const out = new Map<string, unknown>();
  const walk = (prefix: string, v: unknown) => {
    if (Array.isArray(v)) {
      // Comparison entries are numbered by their period; other lists stay one cell of JSON text.
      if (analytics && prefix.endsWith(".comparison"))
        for (const e of v as Row[]) walk(`${prefix}.${String(e.period)}`, e);
      else out.set(prefix, JSON.stringify(v));
    } else if (v !== null && typeof v === "object") {
      for (const [k, x] of Object.entries(v)) walk(prefix ? `${prefix}.${k}` : k, x);
    } else out.set(prefix, v);
  };
  for (const [k, v] of Object.entries(row)) walk(analytics && k === "data" ? "" : k, v);
  return out;
}

function csvCell(v: unknown): string {
  if (v === null || v === undefined) return "";
  const s = typeof v === "string" ? v : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function* csvLines(body: unknown, zone: string | null): Generator<string> {
  const analytics = isAnalytics(body);
  const columns = new Map<string, number>();
  // First pass for the header: the union of every row's columns, in order of first appearance.
  for (const row of exportRows(body, zone))
    for (const k of flattenRow(row, analytics).keys()) if (!columns.has(k)) columns.set(k, columns.size);
  const names = [...columns.keys()];
  yield `${names.map(csvCell).join(",")}\r\n`;
  for (const row of exportRows(body, zone)) {
    const cells = flattenRow(row, analytics);
    yield `${names.map((n) => csvCell(cells.get(n))).join(",")}\r\n`;
  }
}

function* ndjsonLines(body: unknown, zone: string | null): Generator<string> {
  for (const row of exportRows(body, zone)) yield `${JSON.stringify(row)}\n`;
}

export function exportLines(body: unknown, format: ExportFormat, zone: string | null): Generator<string> {
  return format === "csv" ? csvLines(body, zone) : ndjsonLines(body, zone);
}

const CHUNK_CHARS = 64 * 1024;

/** Writes the export as a stream: chunks of ~64 KB, waiting for `drain` when the socket is full. */
export async function sendExport(
  res: ServerResponse,
  format: ExportFormat,
  body: unknown,
  opts: { zone: string | null; filename: string },
): Promise<void> {
  const lines = exportLines(body, format, opts.zone);
  res.statusCode = 200;
  res.setHeader("Content-Type", CONTENT_TYPES[format]);
  res.setHeader("Content-Disposition", `attachment; filename="${opts.filename}.${format}"`);
  res.setHeader("Vary", "Accept, Accept-Encoding");
  let chunk = "";
  for (const line of lines) {
    chunk += line;
    if (chunk.length < CHUNK_CHARS) continue;
    const ok = res.write(chunk);
    chunk = "";
    if (!ok) await Promise.race([once(res, "drain"), once(res, "close")]);
    if (res.destroyed) return;
  }
  res.end(chunk);
}
