import crypto from "node:crypto";
import type { NextFunction, Request, RequestHandler, Response } from "express";
import { AppError, httpErrors, httpStatusForKind, isAppError } from "@budmetrics/errors";
import type { Logger } from "@budmetrics/logger";
import type { FastPath } from "./fast-path";
import { requestIdOf } from "./request-id";

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

/**
 * `APP_API_TOKEN` check: daprd sends the app token as the `dapr-api-token` header on every call it
 * makes to the app, except its health probe; compared in constant time.
 */
export function appTokenGuard(token: string | null): RequestHandler {
  if (!token) return (_req, _res, next) => next();
  const matches = tokenMatcher(token);
  return (req, res, next) => {
    if (TOKEN_EXEMPT_PATHS.has(req.path)) return next();
    if (matches(req.header("dapr-api-token"))) return next();
    sendError(res, httpErrors.create("AUTH_TOKEN_INVALID", "missing or wrong dapr-api-token header"));
  };
}

/** Every app's administrative routes live under this prefix (query app: stats, optimize, cache). */
export const ADMIN_PATH_PREFIX = "/admin/";

export function isAdminPath(pathname: string): boolean {
  return pathname.startsWith(ADMIN_PATH_PREFIX) || pathname === "/admin";
}

/**
 * What admin routes do when ADMIN_API_TOKEN is unset: "loopback" = answer requests from this machine
 * only (the embedded all-in-one on a laptop); "off" = answer none (split mode, where every request
 * arrives from the Dapr sidecar on loopback, so loopback says nothing about the caller).
 */
export type AdminWithoutToken = "loopback" | "off";

export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  return address === "::1" || /^(::ffff:)?127\./.test(address);
}

/**
 * The guard of `/admin/*` (after the app token, which still applies). ADMIN_API_TOKEN set: the request
 * must carry `Authorization: Bearer <token>` (constant-time compare) → else 401 ADMIN_TOKEN_INVALID.
 * Unset: 403 ADMIN_DISABLED, except from loopback when `withoutToken` is "loopback". The socket's
 * address is what counts, never a forwarding header.
 */
export function adminGuard(token: string | null, withoutToken: AdminWithoutToken): RequestHandler {
  const matches = tokenMatcher(token);
  return (req, res, next) => {
    if (!isAdminPath(req.path)) return next();
    if (token) {
      const auth = req.header("authorization");
      const bearer = auth && /^Bearer /i.test(auth) ? auth.slice(7).trim() : undefined;
      if (matches(bearer)) return next();
      sendError(
        res,
        httpErrors.create(
          "ADMIN_TOKEN_INVALID",
          "admin routes need the header Authorization: Bearer <ADMIN_API_TOKEN>",
        ),
      );
      return;
    }
    if (withoutToken === "loopback" && isLoopback(req.socket.remoteAddress)) return next();
    sendError(
      res,
      httpErrors.create(
        "ADMIN_DISABLED",
        withoutToken === "loopback"
          ? "admin routes answer requests from this machine only while ADMIN_API_TOKEN is unset"
          : "admin routes are off while ADMIN_API_TOKEN is unset",
      ),
    );
  };
}

/** Error body shared by every route: `{ error: { code, message, ...details } }`. */

/** Error body shared by every route: `{ error: { code, kind, message, ...details } }`. */
export function errorBody(err: AppError): { error: Record<string, unknown> } {
  return { error: err.toJSON() };
}

/**
 * An AppError as its answer: the status of its kind (503 with Retry-After) and its body. A 5xx answer
 * is code, kind, public words and the request id: its details (the engine's error type, a statement's
 * reason) stay in the log line written under the same request id.
 */
export function sendError(res: Response, err: AppError, requestId?: string): void {
  const status = httpStatusForKind(err.kind);
  if (status === 503) res.setHeader("Retry-After", "5");
  const body =
    status >= 500
      ? {
          error: {
            code: err.code,
            kind: err.kind,
            message: err.publicMessage,
            ...(requestId ? { request_id: requestId } : {}),
          },
        }
      : errorBody(err);
  res.status(status).json(body);
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
    const known = e ? hostError(e) : null;
    if (known) {
      sendError(res, known);
      return;
    }
    const requestId = requestIdOf(req);
    if (isAppError(err)) {
      if (httpStatusForKind(err.kind) >= 500) log.error({ err, path: req.path, requestId }, "request failed");
      sendError(res, err, requestId);
      return;
    }
    log.error({ err, path: req.path, requestId }, "unexpected error");
    sendError(res, httpErrors.create("INTERNAL", "internal error"), requestId);
  };
}

/** Body-parser failures as the host's errors (malformed JSON 400, too large 413, encodings 400 / 415). */
function hostError(e: BodyParserError): AppError | null {
  if (e.type === "entity.parse.failed")
    return httpErrors.create("REQUEST_MALFORMED_JSON", `malformed JSON body: ${e.message}`);
  if (e.type === "entity.too.large")
    return httpErrors.create("REQUEST_TOO_LARGE", `request body exceeds the limit of ${e.limit} bytes`);
  // A compressed body that does not inflate (content-encoding: gzip on bytes that are not gzip).
  if (e.status === 400 && typeof e.code === "string" && e.code.startsWith("Z_"))
    return httpErrors.create(
      "REQUEST_MALFORMED_BODY",
      `the body does not decode as its content-encoding says (${e.code})`,
    );
  if (e.type === "encoding.unsupported" || e.type === "charset.unsupported")
    return httpErrors.create("REQUEST_UNSUPPORTED_ENCODING", e.message);
  return null;
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
        // A health answer is public: an AppError's public words, never a raw error's text.
        const error = isAppError(err) ? err.publicMessage : "the check failed";
        return [name, { status: "down", error }] as const;
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
export {
  serverConfigSchema,
  redisConfigSchema,
  appTokenConfigSchema,
  adminTokenConfigSchema,
} from "./server-config";
export { runEntryPoint, startupFailure, EXIT_CONFIG, EXIT_FAILED } from "./entry-point";
export type { EntryPoint, EntryPointContext, Started } from "./entry-point";
export { assignRequestId, requestIdOf, REQUEST_ID_HEADER } from "./request-id";
