import express, { type Request, type RequestHandler } from "express";
import type { IncomingEntry } from "../ingest/ingest";

/**
 * Bodies are read as bytes (any content type, gzip inflated, over-limit → 413 by the host's error
 * handler) and parsed exactly once here: JSON work is the ingestion bottleneck (docs/COLLECTOR.md).
 */
export function rawBody(limitBytes: number): RequestHandler {
  return express.raw({ type: () => true, limit: limitBytes });
}

export function bodyText(req: Request): string {
  const b: unknown = req.body;
  if (Buffer.isBuffer(b)) return b.toString("utf8");
  return "";
}

export type JsonResult = { ok: true; value: unknown } | { ok: false; message: string };

export function parseJson(text: string): JsonResult {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    return { ok: false, message: err instanceof Error ? err.message : String(err) };
  }
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** One entry of a Dapr bulk delivery: a CloudEvent object, or base64 of the raw message. */
export function bulkEntryToIncoming(entry: Record<string, unknown>): IncomingEntry {
  const event = entry.event;
  if (typeof event === "string") return { form: "base64", data: event };
  return { form: "event", value: event };
}

/** A bulk envelope: `{entries: [...]}` (Dapr's type com.dapr.event.sent.bulk). */
export function isBulkEnvelope(v: unknown): v is { entries: unknown[] } & Record<string, unknown> {
  return isRecord(v) && Array.isArray(v.entries);
}
