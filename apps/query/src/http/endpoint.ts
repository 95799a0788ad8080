/**
 * The edge: one table of endpoints drives routing, validation, caching, timing and /openapi.json.
 * Handlers are two-phase so the cache is consulted before any statement runs:
 *   1. prepare(input)  → validated, normalised request (+ cache key and range end for the TTL);
 *   2. run()           → the answer object (use cases called with a per-request SqlRunner).
 */
import express, { type Request, type Response, type Router } from "express";
import compression from "compression";
import zlib from "node:zlib";
import { route } from "@budmetrics/http";
import type { Logger } from "@budmetrics/logger";
import type { Cache, SqlRunner } from "../ports";
import type { HotCache } from "../cache/hot-cache";
import { cacheKey, ttlFor } from "../cache/keys";
import type { QueryMetrics } from "../ops/metrics";
import type { PerfTracker } from "../ops/perf";
import type { ExecClock } from "../ops/sql-runner";
import type { createValidator } from "./validate";

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
  const json = express.json({
    limit: deps.bodyLimitBytes,
    type: ["application/json", "application/*+json"],
    // The exact body text keys the in-process cache layer.
    verify: (req, _res, buf) => {
      (req as RawBodyRequest).rawBody = buf;
    },
  });
  const compress = compression({
    threshold: deps.compressionMinBytes,
    brotli: { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 4 } },
  });
  for (const ep of endpoints) {
    const handler = route(async (req: Request, res: Response) => {
      const started = performance.now();
      const raw = (req as RawBodyRequest).rawBody;
      const hotKey =
        ep.method === "get"
          ? `GET ${req.originalUrl}`
          : raw
            ? `POST ${req.path}\n${raw.toString("latin1")}`
            : null;
      const hotHit = hotKey ? deps.hot.get(hotKey) : undefined;
      if (hotHit) {
        const { body, encoding } = deps.hot.encoded(hotHit, req.header("accept-encoding"));
        res.setHeader("Content-Type", "application/json; charset=utf-8");
        res.setHeader("X-Cache", "HIT");
        res.setHeader("X-Cache-Layer", "process");
        res.setHeader("Vary", "Accept-Encoding");
        if (hotHit.plan) res.setHeader("X-Query-Plan", hotHit.plan);
        if (encoding) res.setHeader("Content-Encoding", encoding);
        res.setHeader("Content-Length", body.length);
        res.end(body);
        deps.metrics.cacheEvents.inc({ event: "hot_hit" });
        deps.metrics.httpSeconds.observe(
          { route: ep.path, method: ep.method.toUpperCase(), status: "200", cache: "hot_hit" },
          (performance.now() - started) / 1000,
        );
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
          query: req.query as Record<string, unknown>,
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
            if (hotKey) deps.hot.set(hotKey, hit, null, ttl);
            res.setHeader("X-Cache", "HIT");
            res.setHeader("X-Cache-Layer", "shared");
            res.type("application/json").send(hit);
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
          if (hotKey) deps.hot.set(hotKey, text, plan, ttl);
        }
        if (plan) res.setHeader("X-Query-Plan", plan);
        if (key) res.setHeader("X-Cache", "MISS");
        res.status(status).type("application/json").send(text);
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

interface RawBodyRequest extends Request {
  rawBody?: Buffer;
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
