/**
 * The edge: one table of endpoints drives routing, validation, caching, timing and /openapi.json.
 * Handlers are two-phase so the cache is consulted before any statement runs:
 *   1. prepare(input)  → validated, normalised request (+ cache key and range end for the TTL);
 *   2. run()           → the answer object (use cases called with a per-request SqlRunner).
 */
import type { ServerResponse } from "node:http";
import type { Request, Response, Router } from "express";
import compression from "compression";
import zlib from "node:zlib";
import { jsonBody, rawBodyOf, route, type FastPath } from "@budmetrics/http";
import type { Logger } from "@budmetrics/logger";
import type { Cache, SqlRunner } from "../ports";
import { hotKey, type HotCache, type HotEntry } from "../cache/hot-cache";
import { cacheKey, ttlFor } from "../cache/keys";
import type { QueryMetrics } from "../ops/metrics";
import type { PerfTracker } from "../ops/perf";
import type { ExecClock } from "../ops/sql-runner";
import type { createValidator } from "./validate";
import { exportFormatOf, exportZoneOf, sendExport } from "./export";

export interface Input {
  body: unknown;
  query: Record<string, unknown>;
  params: Record<string, string>;
}

export interface RequestContext {
  sql: SqlRunner;
  nowMs: number;
  log: Logger;
}

export interface Prepared {
  /** Normalised request; present = cacheable. */
  cache?: { normalised: unknown; toMs: number };
  run(rc: RequestContext): Promise<{ body: unknown; plan?: string; status?: number }>;
}

export interface Endpoint {
  method: "get" | "post";
  /** Express path (`:id` params). */
  path: string;
  summary: string;
  description?: string;
  tag: string;
  body?: object;
  query?: object;
  params?: object;
  /** Statuses documented besides 200 / 422. */
  responses?: Record<string, string>;
  prepare(input: Input, nowMs: number): Prepared;
}

export interface MountDeps {
  log: Logger;
  cache: Cache;
  hot: HotCache;
  metrics: QueryMetrics;
  perf: PerfTracker;
  validator: ReturnType<typeof createValidator>;
  sqlFor(clock: ExecClock): SqlRunner;
  ttl: { ttlSeconds: number; recentTtlSeconds: number; horizonSeconds: number };
  bodyLimitBytes: number;
  compressionMinBytes: number;
  maxCacheEntryBytes: number;
  now(): number;
}

export function mountEndpoints(router: Router, endpoints: readonly Endpoint[], deps: MountDeps): void {
  const json = jsonBody({
    limit: deps.bodyLimitBytes,
    type: ["application/json", "application/*+json"],
  });
  const compress = compression({
    threshold: deps.compressionMinBytes,
    brotli: { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 4 } },
  });
  for (const ep of endpoints) {
    const handler = route(async (req: Request, res: Response) => {
      const started = performance.now();
      // CSV / NDJSON: the same answer, rewritten on the way out (export.ts).
      const format = exportFormatOf(req.originalUrl, req.headers.accept);
      const send = (json: string | unknown) =>
        format
          ? sendExport(res, format, typeof json === "string" ? JSON.parse(json) : json, {
              zone: exportZoneOf(req.originalUrl),
              filename: exportName(ep.path),
            })
          : res.type("application/json").send(json);
      const processKey = hotKey(ep.method.toUpperCase(), req.originalUrl, rawBodyOf(req));
      const hotHit = processKey ? deps.hot.get(processKey) : undefined;
      if (hotHit && !format) {
        serveHot(hotHit, req.headers["accept-encoding"], res, deps, started);
        return;
      }
      const clock: ExecClock = { executeMs: 0, statements: 0, resultRows: 0 };
      let cacheState = "bypass";
      let status = 200;
      let plan: string | null = null;
      let planMs = 0;
      let executeMs = 0;
      let serialiseMs = 0;
      try {
        const input: Input = {
          body: ep.method === "post" ? (req.body ?? {}) : undefined,
          query: withoutExportParams(req.query as Record<string, unknown>, ep.query),
          params: req.params as Record<string, string>,
        };
        if (ep.query) {
          input.query = coerceBySchema(ep.query, input.query);
          deps.validator.check(ep.query, input.query, "query");
        }
        if (ep.body) deps.validator.check(ep.body, input.body, "body");
        if (ep.params) deps.validator.check(ep.params, input.params, "path");
        const nowMs = deps.now();
        const prepared = ep.prepare(input, nowMs);
        let key: string | null = null;
        let ttl = 0;
        if (prepared.cache) {
          ttl = ttlFor(prepared.cache.toMs, nowMs, deps.ttl);
          if (ttl > 0) key = cacheKey(`${ep.method}:${ep.path}`, prepared.cache.normalised);
        }
        planMs = performance.now() - started;
        if (key) {
          const hit = await deps.cache.get(key);
          deps.metrics.cacheEvents.inc({ event: hit === null ? "miss" : "hit" });
          if (hit !== null) {
            cacheState = "hit";
            if (processKey) deps.hot.set(processKey, hit, { plan: null, route: ep.path }, ttl);
            res.setHeader("X-Cache", "HIT");
            res.setHeader("X-Cache-Layer", "shared");
            await send(hit);
            return;
          }
          cacheState = "miss";
        }
        const t1 = performance.now();
        const out = await prepared.run({ sql: deps.sqlFor(clock), nowMs, log: deps.log });
        const t2 = performance.now();
        executeMs = t2 - t1;
        plan = out.plan ?? null;
        status = out.status ?? 200;
        const text = JSON.stringify(out.body);
        serialiseMs = performance.now() - t2;
        if (key && status === 200 && Buffer.byteLength(text) <= deps.maxCacheEntryBytes) {
          // Not awaited on the response path beyond the cache's own short timeout.
          await deps.cache.set(key, text, ttl);
          if (processKey) deps.hot.set(processKey, text, { plan, route: ep.path }, ttl);
        }
        if (plan) res.setHeader("X-Query-Plan", plan);
        if (key) res.setHeader("X-Cache", "MISS");
        if (status === 200) await send(out.body);
        else res.status(status).type("application/json").send(text);
      } catch (err) {
        status = -1;
        throw err;
      } finally {
        const totalMs = performance.now() - started;
        const finalStatus = status === -1 ? res.statusCode : status;
        deps.metrics.httpSeconds.observe(
          {
            route: ep.path,
            method: ep.method.toUpperCase(),
            status: String(status === -1 ? "error" : finalStatus),
            cache: cacheState,
          },
          totalMs / 1000,
        );
        deps.perf.record({
          at: new Date().toISOString(),
          route: `${ep.method.toUpperCase()} ${ep.path}`,
          total_ms: round(totalMs),
          plan_ms: round(planMs),
          execute_ms: round(executeMs),
          serialise_ms: round(serialiseMs),
          engine_ms: round(clock.executeMs),
          statements: clock.statements,
          result_rows: clock.resultRows,
          cache: cacheState,
          plan,
          status: status === -1 ? 0 : finalStatus,
        });
      }
    });
    if (ep.method === "post") router.post(ep.path, compress, json, handler);
    else router.get(ep.path, compress, handler);
  }
}

/** A hit of the in-process layer: the stored bytes in the best encoding the client accepts. */
function serveHot(
  e: HotEntry,
  acceptEncoding: string | undefined,
  res: ServerResponse,
  deps: Pick<MountDeps, "hot" | "metrics">,
  started: number,
): void {
  const { body, encoding } = deps.hot.encoded(e, acceptEncoding);
  res.setHeader("Content-Type", "application/json; charset=utf-8");
  res.setHeader("X-Cache", "HIT");
  res.setHeader("X-Cache-Layer", "process");
  res.setHeader("Vary", "Accept-Encoding");
  if (e.plan) res.setHeader("X-Query-Plan", e.plan);
  if (encoding) res.setHeader("Content-Encoding", encoding);
  res.setHeader("Content-Length", body.length);
  res.end(body);
  deps.metrics.cacheEvents.inc({ event: "hot_hit" });
  deps.metrics.httpSeconds.observe(
    { route: e.route, method: res.req.method ?? "GET", status: "200", cache: "hot_hit" },
    (performance.now() - started) / 1000,
  );
}

/**
 * The in-process layer served ahead of express (FastPath): an exact repeat of a cached GET or POST is
 * answered in tens of microseconds. Everything else — misses, other routes, a draining app — goes on to
 * the router, which serves hits the host could not pre-read the same way.
 */
export function hotFastPath(
  endpoints: readonly Endpoint[],
  deps: Pick<MountDeps, "hot" | "metrics" | "bodyLimitBytes"> & { accepting(): boolean },
): FastPath {
  return {
    postPaths: new Set(
      endpoints.filter((e) => e.method === "post" && !e.path.includes(":")).map((e) => e.path),
    ),
    maxBodyBytes: deps.bodyLimitBytes,
    handle(req, res, body) {
      if (!deps.hot.enabled || !deps.accepting()) return false;
      if (wantsExport(req.url ?? "/", req.headers.accept)) return false;
      const started = performance.now();
      const key = hotKey(req.method, req.url ?? "/", body);
      const e = key ? deps.hot.get(key) : undefined;
      if (!e) return false;
      serveHot(e, req.headers["accept-encoding"], res, deps, started);
      return true;
    },
  };
}

/** Exports (and malformed `?format=`, answered 422 by the router) never take the fast path. */
function wantsExport(url: string, accept: string | undefined): boolean {
  try {
    return exportFormatOf(url, accept) !== null;
  } catch {
    return true;
  }
}

/** `?format=` (and `?timezone=` unless the endpoint has its own) belong to the export, not to the endpoint. */
function withoutExportParams(
  q: Record<string, unknown>,
  schema: object | undefined,
): Record<string, unknown> {
  const own = (schema as { properties?: Record<string, unknown> } | undefined)?.properties ?? {};
  const drop = ["format", "timezone"].filter((k) => k in q && !(k in own));
  if (drop.length === 0) return q;
  return Object.fromEntries(Object.entries(q).filter(([k]) => !drop.includes(k)));
}

/** The download's name: the path's last fixed segment (`analytics`, `list`). */
function exportName(path: string): string {
  return (
    path
      .split("/")
      .filter((p) => p && !p.startsWith(":"))
      .pop() ?? "export"
  );
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

/** Query strings are text: numbers and booleans are converted where the schema says so. */
function coerceBySchema(schema: object, q: Record<string, unknown>): Record<string, unknown> {
  const props = (schema as { properties?: Record<string, { type?: string }> }).properties ?? {};
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(q)) {
    const t = props[k]?.type;
    if (typeof v === "string" && (t === "integer" || t === "number") && /^-?\d+(\.\d+)?$/.test(v))
      out[k] = Number(v);
    else if (typeof v === "string" && t === "boolean" && (v === "true" || v === "false"))
      out[k] = v === "true";
    else out[k] = v;
  }
  return out;
}
