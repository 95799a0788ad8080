import crypto from "node:crypto";
import type { NextFunction, Request, RequestHandler, Response } from "express";
import { AppError, httpStatusForKind, isAppError } from "@budmetrics/errors";
import type { Logger } from "@budmetrics/logger";
import type { FastPath } from "./fast-path";

/** Paths reachable without the Dapr app token: the sidecar's health probe sends none. */
export const TOKEN_EXEMPT_PATHS = new Set(["/health", "/healthz", "/readyz", "/observability/health"]);

/** Constant-time check of a `dapr-api-token` value against APP_API_TOKEN (null token = no check). */
export function tokenMatcher(token: string | null): (got: string | undefined) => boolean {
  if (!token) return () => true;
  const expected = crypto.createHash("sha256").update(token).digest();
  return (got) => {
    if (got === undefined) return false;
    const digest = crypto.createHash("sha256").update(got).digest();
    return crypto.timingSafeEqual(digest, expected);
  };
}

/** `APP_API_TOKEN` check (BRIEF §4): constant-time compare of the `dapr-api-token` header. */
export function appTokenGuard(token: string | null): RequestHandler {
  if (!token) return (_req, _res, next) => next();
  const matches = tokenMatcher(token);
  return (req, res, next) => {
    if (TOKEN_EXEMPT_PATHS.has(req.path)) return next();
    if (matches(req.header("dapr-api-token"))) return next();
    res
      .status(401)
      .json({ error: { code: "AUTH_TOKEN_INVALID", message: "missing or wrong dapr-api-token header" } });
  };
}

/** Error body shared by every route: `{ error: { code, message, ...details } }`. */
export function errorBody(err: AppError): { error: Record<string, unknown> } {
  return { error: err.toJSON() };
}

interface BodyParserError extends Error {
  type?: string;
  status?: number;
  code?: string;
  limit?: number;
}

/**
 * The last middleware: maps errors to statuses at the edge only. Malformed JSON → 400, body over
 * the limit → 413, AppError by kind, anything else 500 (logged; never a payload in the log).
 */
export function errorHandler(log: Logger) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    if (res.headersSent) {
      res.end();
      return;
    }
    const e = err as BodyParserError;
    if (e && e.type === "entity.parse.failed") {
      res
        .status(400)
        .json({ error: { code: "REQUEST_MALFORMED_JSON", message: `malformed JSON body: ${e.message}` } });
      return;
    }
    if (e && e.type === "entity.too.large") {
      res.status(413).json({
        error: { code: "REQUEST_TOO_LARGE", message: `request body exceeds the limit of ${e.limit} bytes` },
      });
      return;
    }
    // A compressed body that does not inflate (content-encoding: gzip on bytes that are not gzip).
    if (e && e.status === 400 && typeof e.code === "string" && e.code.startsWith("Z_")) {
      res.status(400).json({
        error: {
          code: "REQUEST_MALFORMED_BODY",
          message: `the body does not decode as its content-encoding says (${e.code})`,
        },
      });
      return;
    }
    if (e && (e.type === "encoding.unsupported" || e.type === "charset.unsupported")) {
      res.status(415).json({ error: { code: "REQUEST_UNSUPPORTED_ENCODING", message: e.message } });
      return;
    }
    if (isAppError(err)) {
      const status = httpStatusForKind(err.kind);
      if (status === 503) res.setHeader("Retry-After", "5");
      if (status >= 500) log.error({ err, path: req.path }, "request failed");
      res.status(status).json(errorBody(err));
      return;
    }
    log.error({ err, path: req.path }, "unexpected error");
    res.status(500).json({ error: { code: "INTERNAL", message: "internal error" } });
  };
}

/** Wraps an async handler so a rejection reaches the error handler. */
export function route(
  fn: (req: Request, res: Response, next: NextFunction) => Promise<unknown>,
): (req: Request, res: Response, next: NextFunction) => void {
  return (req, res, next) => {
    fn(req, res, next).catch(next);
  };
}

export interface ComponentHealth {
  status: "ok" | "degraded" | "down";
  [k: string]: unknown;
}

export type HealthCheck = () => Promise<ComponentHealth>;

/** `{status, components}`; status is the worst component; 503 when anything required is down. */
export async function healthReport(checks: Record<string, HealthCheck>) {
  const entries = await Promise.all(
    Object.entries(checks).map(async ([name, check]) => {
      try {
        return [name, await check()] as const;
      } catch (err) {
        return [name, { status: "down", error: err instanceof Error ? err.message : String(err) }] as const;
      }
    }),
  );
  const components = Object.fromEntries(entries) as Record<string, ComponentHealth>;
  const statuses = Object.values(components).map((c) => c.status);
  const status = statuses.includes("down") ? "down" : statuses.includes("degraded") ? "degraded" : "ok";
  return { status, httpStatus: status === "down" ? 503 : 200, components };
}

/**
 * What an app hands the process that hosts it (its own main in split mode, the standalone
 * launcher in embedded mode). Shutdown calls: stopAccepting → drain → close.
 */
export interface MountedApp {
  name: string;
  /** Mounted at "/" on the host server. */
  router: import("express").Router;
  /**
   * Routes served ahead of the app-token check. Only for static files that carry no data (the explorer
   * page's shell and bundle): a browser cannot add a header when it opens a page, so the page asks for
   * the token and sends it with every API call it makes.
   */
  publicRouter?: import("express").Router;
  /** Named checks merged into GET /health. */
  health: Record<string, HealthCheck>;
  /** Answers served before the router (after the app-token check), e.g. in-process cache hits. */
  fastPath?: FastPath;
  /** Readiness: false while draining or when a required dependency is down. */
  ready(): Promise<boolean>;
  /** Step 1 of shutdown: refuse new work (RETRY / 503), readiness false. */
  stopAccepting(): void;
  /** Step 2: finish work in flight (flush batches). */
  drain(): Promise<void>;
  /** Step 3: release what the app created (not the ClickHouse client it was given). */
  close(): Promise<void>;
}
export { createHost, createRegistry, hostSettings, listen } from "./host";
export { jsonBody, rawBodyOf, type FastPath } from "./fast-path";
export { withTurnBudget } from "./turn-budget";
export { serverConfigSchema, redisConfigSchema, appTokenConfigSchema } from "./server-config";
