import http from "node:http";
import express from "express";
import { Registry, collectDefaultMetrics } from "prom-client";
import type { Logger } from "@budmetrics/logger";
import type { Lifecycle } from "@budmetrics/lifecycle";
import {
  appTokenGuard,
  errorHandler,
  healthReport,
  route,
  tokenMatcher,
  type HealthCheck,
  type MountedApp,
} from "./index";
import { withFastPaths, type FastPath } from "./fast-path";
import { DEFAULT_REQUESTS_PER_TURN, withTurnBudget } from "./turn-budget";

export interface HostOptions {
  apps: MountedApp[];
  log: Logger;
  registry: Registry;
  /** Extra checks for GET /health beyond the apps' own (merged by name). */
  health?: Record<string, HealthCheck>;
  /** APP_API_TOKEN: required in `dapr-api-token` on every app route (health and /metrics exempt). */
  appApiToken?: string | null;
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
  for (const a of opts.apps) app.use(a.router);
  app.use((req, res) => {
    res
      .status(404)
      .json({ error: { code: "ROUTE_NOT_FOUND", message: `no route for ${req.method} ${req.path}` } });
  });
  app.use(errorHandler(opts.log));
  const fastPaths = opts.apps.flatMap((a): FastPath[] => (a.fastPath ? [a.fastPath] : []));
  const matches = tokenMatcher(opts.appApiToken ?? null);
  const listener = withFastPaths(app, fastPaths, {
    log: opts.log,
    tokenOk: (req) => matches(headerValue(req.headers["dapr-api-token"])),
  });
  return withTurnBudget(listener, opts.requestsPerTurn ?? DEFAULT_REQUESTS_PER_TURN, opts.log);
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** The host options every entry point reads from its server config (serverConfigSchema). */
export function hostSettings(config: {
  APP_API_TOKEN: string | null;
  HTTP_REQUESTS_PER_TURN: number;
}): Pick<HostOptions, "appApiToken" | "requestsPerTurn"> {
  return { appApiToken: config.APP_API_TOKEN, requestsPerTurn: config.HTTP_REQUESTS_PER_TURN };
}

export function createRegistry(defaultMetrics = true): Registry {
  const registry = new Registry();
  if (defaultMetrics) collectDefaultMetrics({ register: registry });
  return registry;
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
    server.once("error", reject);
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
