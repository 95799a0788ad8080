import crypto from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";

/**
 * Every request gets an id, answered in the `x-request-id` header (5xx bodies carry it too, as
 * `error.request_id`) and logged as `requestId` on the lines about that request: an operator holding
 * an answer finds the log line with the detail the answer leaves out. A caller's own id is kept when
 * it is a plain token (≤ 128 of `A-Z a-z 0-9 . _ : @ -`), so ids can follow a request across services.
 */
export const REQUEST_ID_HEADER = "x-request-id";
const ID = Symbol("budmetrics.request-id");
const PLAIN = /^[A-Za-z0-9._:@-]{1,128}$/;

interface Carrier {
  [ID]?: string;
}

export function assignRequestId(req: IncomingMessage, res: ServerResponse): string {
  const given = req.headers[REQUEST_ID_HEADER];
  const value = Array.isArray(given) ? given[0] : given;
  const id = value !== undefined && PLAIN.test(value) ? value : crypto.randomUUID();
  (req as Carrier)[ID] = id;
  res.setHeader(REQUEST_ID_HEADER, id);
  return id;
}

/** The id assigned by the host (undefined for a request that did not come through one). */
export function requestIdOf(req: IncomingMessage): string | undefined {
  return (req as Carrier)[ID];
}
