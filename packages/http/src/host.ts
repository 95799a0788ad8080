import http from "node:http";
import net from "node:net";
import express from "express";
import { Registry, collectDefaultMetrics } from "prom-client";
import { commonErrors, type AppError } from "@budmetrics/errors";
import type { Logger } from "@budmetrics/logger";
import type { Lifecycle } from "@budmetrics/lifecycle";
import { httpErrors } from "@budmetrics/errors";
import {
  adminGuard,
  appTokenGuard,
  isAdminPath,
  type AdminWithoutToken,
  errorHandler,
  healthReport,
  route,
  sendError,
  tokenMatcher,
  type HealthCheck,
  type MountedApp,
} from "./index";
import { withFastPaths, type FastPath } from "./fast-path";
import { assignRequestId } from "./request-id";
import { DEFAULT_REQUESTS_PER_TURN, withTurnBudget } from "./turn-budget";

export interface HostOptions {
  apps: MountedApp[];
  log: Logger;
  registry: Registry;
  /** Extra checks for GET /health beyond the apps' own (merged by name). */
  health?: Record<string, HealthCheck>;
  /** APP_API_TOKEN: required in `dapr-api-token` on every app route (health and /metrics exempt). */
  appApiToken?: string | null;
  /** ADMIN_API_TOKEN: required as `Authorization: Bearer …` on `/admin/*` (adminGuard). */
  adminApiToken?: string | null;
  /** `/admin/*` while ADMIN_API_TOKEN is unset: loopback only, or off (the default). */
  adminWithoutToken?: AdminWithoutToken;
  /** HTTP_REQUESTS_PER_TURN: requests dispatched per event-loop turn (0 = unbounded). */
  requestsPerTurn?: number;
}

/**
 * One HTTP server for one or more apps: the apps' fast paths, then their routers, GET /health (every
 * component), /healthz (liveness), /readyz (readiness), /metrics (Prometheus) and the error handler,
 * behind a per-turn dispatch budget (turn-budget.ts). Returns the request listener for http.createServer.
 */
export function createHost(opts: HostOptions): http.RequestListener {
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);
  const checks: Record<string, HealthCheck> = { ...(opts.health ?? {}) };
  for (const a of opts.apps) Object.assign(checks, a.health);

  app.get(
    "/health",
    route(async (_req, res) => {
      const report = await healthReport(checks);
      res.status(report.httpStatus).json({
        status: report.status,
        apps: opts.apps.map((a) => a.name),
        components: report.components,
      });
    }),
  );
  app.get("/healthz", (_req, res) => {
    res.json({ status: "ok" });
  });
  app.get(
    "/readyz",
    route(async (_req, res) => {
      const states = await Promise.all(opts.apps.map(async (a) => [a.name, await a.ready()] as const));
      const ready = states.every(([, ok]) => ok);
      res.status(ready ? 200 : 503).json({ ready, apps: Object.fromEntries(states) });
    }),
  );
  app.get(
    "/metrics",
    route(async (_req, res) => {
      res.setHeader("Content-Type", opts.registry.contentType);
      res.send(await opts.registry.metrics());
    }),
  );
  for (const a of opts.apps) if (a.publicRouter) app.use(a.publicRouter);
  app.use(appTokenGuard(opts.appApiToken ?? null));
  app.use(adminGuard(opts.adminApiToken ?? null, opts.adminWithoutToken ?? "off"));
  for (const a of opts.apps) app.use(a.router);
  app.use((req, res) => {
    sendError(res, httpErrors.create("ROUTE_NOT_FOUND", `no route for ${req.method} ${req.path}`));
  });
  app.use(errorHandler(opts.log));
  const fastPaths = opts.apps.flatMap((a): FastPath[] => (a.fastPath ? [a.fastPath] : []));
  const matches = tokenMatcher(opts.appApiToken ?? null);
  const listener = withFastPaths(app, fastPaths, {
    log: opts.log,
    // Admin requests always go through the router and its guard.
    tokenOk: (req) => !isAdminPath(req.url ?? "/") && matches(headerValue(req.headers["dapr-api-token"])),
  });
  const budgeted = withTurnBudget(listener, opts.requestsPerTurn ?? DEFAULT_REQUESTS_PER_TURN, opts.log);
  return (req, res) => {
    assignRequestId(req, res);
    budgeted(req, res);
  };
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** The host options every entry point reads from its server config (serverConfigSchema). */
export function hostSettings(config: {
  APP_API_TOKEN: string | null;
  ADMIN_API_TOKEN: string | null;
  HTTP_REQUESTS_PER_TURN: number;
}): Pick<HostOptions, "appApiToken" | "adminApiToken" | "requestsPerTurn"> {
  return {
    appApiToken: config.APP_API_TOKEN,
    adminApiToken: config.ADMIN_API_TOKEN,
    requestsPerTurn: config.HTTP_REQUESTS_PER_TURN,
  };
}

export function createRegistry(defaultMetrics = true): Registry {
  const registry = new Registry();
  if (defaultMetrics) collectDefaultMetrics({ register: registry });
  return registry;
}

/**
 * Fails with STARTUP_CONFLICT when HOST:PORT cannot be bound, before anything else starts (an
 * embedded engine would otherwise open its folder and migrate, only to give it up). A port taken
 * between this check and the real listen is still reported the same way by listen().
 */
export async function assertPortFree(host: string, port: number): Promise<void> {
  if (port === 0) return;
  const probe = net.createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once("error", (err) => reject(listenConflict(err, host, port) ?? err));
    probe.listen({ port, host, exclusive: true }, () => resolve());
  });
  await new Promise<void>((resolve) => probe.close(() => resolve()));
}

/** A listen failure the operator fixes by changing PORT or HOST (serverConfigSchema), as STARTUP_CONFLICT. */
function listenConflict(err: unknown, host: string, port: number): AppError | null {
  const code = (err as NodeJS.ErrnoException).code;
  const conflict = (variable: string, message: string) =>
    commonErrors.create("STARTUP_CONFLICT", message, { details: { variable }, cause: err });
  switch (code) {
    case "EADDRINUSE":
      return conflict(
        "PORT",
        `port ${port} on ${host} is already in use: stop the process that holds it or set PORT to a free port`,
      );
    case "EACCES":
      return conflict(
        "PORT",
        `port ${port} on ${host} needs privileges this process lacks: set PORT above 1023`,
      );
    case "EADDRNOTAVAIL":
    case "ENOTFOUND":
      return conflict("HOST", `cannot listen on ${host}: set HOST to an address of this machine`);
    default:
      return null;
  }
}

/** Listens and registers the shutdown order: stop accepting → drain → close server → close apps. */
export async function listen(
  app: http.RequestListener,
  opts: {
    host: string;
    port: number;
    log: Logger;
    lifecycle: Lifecycle;
    apps: MountedApp[];
    drainTimeoutMs: number;
  },
): Promise<http.Server> {
  const server = http.createServer(app);
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err) => reject(listenConflict(err, opts.host, opts.port) ?? err));
    // A deep accept backlog: a thousand dashboards connecting at once must not be refused by the kernel.
    server.listen({ port: opts.port, host: opts.host, backlog: 4096 }, () => resolve());
  });
  const address = server.address();
  opts.log.info({ address }, "listening");
  opts.lifecycle.onShutdown("stop accepting", () => opts.apps.forEach((a) => a.stopAccepting()), 1_000);
  opts.lifecycle.onShutdown(
    "drain",
    async () => {
      await Promise.all(opts.apps.map((a) => a.drain()));
    },
    opts.drainTimeoutMs,
  );
  opts.lifecycle.onShutdown(
    "close http server",
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
    3_000,
  );
  opts.lifecycle.onShutdown(
    "close apps",
    async () => {
      await Promise.all(opts.apps.map((a) => a.close()));
    },
    3_000,
  );
  return server;
}
