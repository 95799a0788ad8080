/**
 * The edge: one table of endpoints drives routing, validation, caching, timing and /openapi.json.
 * Handlers are two-phase so the cache is consulted before any statement runs:
 *   1. prepare(input)  → validated, normalised request (+ cache key and range end for the TTL);
 *   2. run()           → the answer object (use cases called with a per-request SqlRunner).
 * Every answer carries `Server-Timing` with its steps; `?explain=1` also adds a `meta` object (how
 * the answer was made: tiers per statement, rows and bytes read, cache, steps) and is never cached.
 */
import type { ServerResponse } from "node:http";
import type { Request, Response, Router } from "express";
import compression from "compression";
import zlib from "node:zlib";
import { isAppError, type AppError } from "@budmetrics/errors";
import { jsonBody, rawBodyOf, route, type FastPath } from "@budmetrics/http";
import type { Logger } from "@budmetrics/logger";
import type { BuiltQuery } from "../analytics/queries";
import type { Cache, SqlRunner } from "../ports";
import { hotKey, type HotCache, type HotEntry } from "../cache/hot-cache";
import { cacheKey, ttlFor } from "../cache/keys";
import type { QueryMetrics } from "../ops/metrics";
import type { PerfTracker } from "../ops/perf";
import type { ExecClock, StatementRecord } from "../ops/sql-runner";
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
  /** Milliseconds per step; a use case adds its own (plan, run, shape). */
  steps: Record<string, number>;
}

/** The tiers that served one part of a statement's range (`raw`, `dims_5m`, `model_1h`, `total_1d`, …). */
export interface PartRecord {
  tier: string;
  fromMs: number;
  toMs: number;
}

export interface Outcome {
  body: unknown;
  plan?: string;
  status?: number;
  /** Per statement label: the tiers that served each part of its range (for `meta`). */
  parts?: Record<string, PartRecord[]>;
}

export interface Prepared {
  /** Normalised request; present = cacheable. */
  cache?: { normalised: unknown; toMs: number };
  run(rc: RequestContext): Promise<Outcome>;
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
  /** The body of a 422 when the endpoint's callers read another form than `{error}`. */
  validationBody?(err: AppError): unknown;
  prepare(input: Input, nowMs: number): Prepared;
}

type Meta = Omit<Endpoint, "method" | "body" | "query" | "prepare">;

/**
 * A POST endpoint whose handler receives the body typed from its JSON schema (`T` is the schema's
 * `FromSchema` type, declared beside it): the edge validates the body against exactly this schema
 * before `prepare` runs, so the narrowing below is what validation established. Used by every
 * endpoint table (compat/endpoint.ts re-exports it).
 */
export function postEndpoint<T>(
  body: object,
  meta: Meta & { prepare(body: T, nowMs: number, input: Input): Prepared },
): Endpoint {
  const { prepare, ...rest } = meta;
  return { ...rest, method: "post", body, prepare: (input, nowMs) => prepare(input.body as T, nowMs, input) };
}

/** A GET endpoint whose handler receives the query string typed from its schema (coerced, then checked). */
export function getEndpoint<T>(
  query: object,
  meta: Meta & { prepare(query: T, nowMs: number, input: Input): Prepared },
): Endpoint {
  const { prepare, ...rest } = meta;
  return {
    ...rest,
    method: "get",
    query,
    prepare: (input, nowMs) => prepare(input.query as T, nowMs, input),
  };
}

export interface MountDeps {
  log: Logger;
  cache: Cache;
  hot: HotCache;
  metrics: QueryMetrics;
  perf: PerfTracker;
  validator: ReturnType<typeof createValidator>;
  sqlFor(clock: ExecClock): SqlRunner;
  /** Rows and bytes a statement would read (explain only). */
  estimateRead(q: BuiltQuery): Promise<{ rows_read: number | null; bytes_read: number | null }>;
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
    if (ep.body) deps.validator.precompile(ep.body, "body");
    if (ep.query) deps.validator.precompile(ep.query, "query");
    if (ep.params) deps.validator.precompile(ep.params, "path");
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
      const explain = req.query.explain === "1" || req.query.explain === "true";
      const clock: ExecClock = {
        executeMs: 0,
        statements: 0,
        resultRows: 0,
        ...(explain ? { explain: [] } : {}),
      };
      const steps: Record<string, number> = {};
      let t = started;
      const lap = (step: string) => {
        const now = performance.now();
        steps[step] = (steps[step] ?? 0) + (now - t);
        t = now;
      };
      let cacheState = "bypass";
      let status = 200;
      let plan: string | null = null;
      try {
        const input: Input = {
          body: ep.method === "post" ? (req.body ?? {}) : undefined,
          query: withoutExportParams({ ...(req.query as Record<string, unknown>) }, ep.query),
          params: req.params as Record<string, string>,
        };
        if (explain) delete input.query.explain;
        if (ep.query) deps.validator.check(ep.query, input.query, "query");
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
        lap("parse");
        if (key) {
          const hit = await deps.cache.get(key);
          lap("cache");
          deps.metrics.cacheEvents.inc({ event: hit === null ? "miss" : "hit" });
          // An explained request is always computed (its meta tells how); `cache` says whether a
          // plain one would have been served from the shared cache.
          if (hit !== null && explain) cacheState = "hit";
          else if (hit !== null) {
            cacheState = "hit";
            if (processKey) deps.hot.set(processKey, hit, { plan: null, route: ep.path }, ttl);
            res.setHeader("X-Cache", "HIT");
            res.setHeader("X-Cache-Layer", "shared");
            res.setHeader("Server-Timing", serverTiming(steps));
            await send(hit);
            return;
          } else cacheState = "miss";
        }
        const timedSteps = Object.keys(steps).length;
        const out = await prepared.run({ sql: deps.sqlFor(clock), nowMs, log: deps.log, steps });
        // A use case that times its own steps (plan, run, shape) covers the run; others are one step.
        if (Object.keys(steps).length === timedSteps) lap("run");
        else t = performance.now();
        steps.engine = clock.executeMs;
        plan = out.plan ?? null;
        status = out.status ?? 200;
        const text = JSON.stringify(out.body);
        lap("serialise");
        if (key && status === 200 && !explain && Buffer.byteLength(text) <= deps.maxCacheEntryBytes) {
          // Not awaited on the response path beyond the cache's own short timeout.
          await deps.cache.set(key, text, ttl);
          if (processKey) deps.hot.set(processKey, text, { plan, route: ep.path }, ttl);
          lap("cache");
        }
        if (plan) res.setHeader("X-Query-Plan", plan);
        if (key && !explain) res.setHeader("X-Cache", "MISS");
        res.setHeader("Server-Timing", serverTiming(steps));
        if (format && status === 200) {
          await send(out.body);
          return;
        }
        // The estimates run after the answer is made: `total` and the steps stay the answer's own.
        const answeredMs = performance.now() - started;
        const meta = explain
          ? explainMeta(cacheState, plan, out.parts ?? {}, await estimated(clock, deps), steps, answeredMs)
          : null;
        res
          .status(status)
          .type("application/json")
          .send(meta ? withMeta(text, meta) : text);
      } catch (err) {
        if (ep.validationBody && isAppError(err) && err.kind === "validation") {
          status = 422;
          res.status(422).json(ep.validationBody(err));
          return;
        }
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
          plan_ms: round((steps.parse ?? 0) + (steps.cache ?? 0) + (steps.plan ?? 0)),
          execute_ms: round((steps.run ?? 0) + (steps.shape ?? 0)),
          serialise_ms: round(steps.serialise ?? 0),
          engine_ms: round(clock.executeMs),
          steps_ms: roundAll(steps),
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

function roundAll(steps: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(steps).map(([k, v]) => [k, round(v)]));
}

/** `Server-Timing: parse;dur=0.4, plan;dur=0.1, …` (browsers' developer tools show it). */
function serverTiming(steps: Record<string, number>): string {
  return Object.entries(steps)
    .map(([k, v]) => `${k};dur=${round(v)}`)
    .join(", ");
}

/** How an answer was made, for `?explain=1` (docs/QUERY.md, "Explain"). */
export interface AnswerMeta {
  cache: string;
  plan: string | null;
  statements: Array<StatementRecord & { parts: Array<{ tier: string; from: string; to: string }> }>;
  rows_read: number | null;
  bytes_read: number | null;
  timings_ms: Record<string, number>;
}

/** The request's statements with the engine's estimate of what each read, taken after the answer. */
async function estimated(
  clock: ExecClock,
  deps: Pick<MountDeps, "estimateRead">,
): Promise<StatementRecord[]> {
  const out: StatementRecord[] = [];
  for (const { record, query } of clock.explain ?? [])
    out.push({ ...record, ...(await deps.estimateRead(query)) });
  return out;
}

function explainMeta(
  cache: string,
  plan: string | null,
  parts: Record<string, PartRecord[]>,
  records: StatementRecord[],
  steps: Record<string, number>,
  totalMs: number,
): AnswerMeta {
  const statements = records.map((s) => ({
    ...s,
    ms: round(s.ms),
    parts: (parts[s.label] ?? []).map((p) => ({
      tier: p.tier,
      from: new Date(p.fromMs).toISOString(),
      to: new Date(p.toMs).toISOString(),
    })),
  }));
  const sum = (f: (s: StatementRecord) => number | null | undefined) =>
    statements.length === 0 || statements.some((s) => f(s) == null)
      ? statements.length === 0
        ? 0
        : null
      : statements.reduce((n, s) => n + f(s)!, 0);
  return {
    cache,
    plan,
    statements,
    rows_read: sum((s) => s.rows_read),
    bytes_read: sum((s) => s.bytes_read),
    timings_ms: { ...roundAll(steps), total: round(totalMs) },
  };
}

/** The answer text with `meta` as its last field (answers are JSON objects). */
function withMeta(text: string, meta: AnswerMeta): string {
  return text.endsWith("}")
    ? `${text.slice(0, -1)}${text === "{}" ? "" : ","}"meta":${JSON.stringify(meta)}}`
    : text;
}
