import type { Registry } from "prom-client";
import { ConfigError, loadConfig, type ConfigOf, type Schema } from "@budmetrics/config";
import { isAppError } from "@budmetrics/errors";
import { createLifecycle, type Lifecycle } from "@budmetrics/lifecycle";
import { createLogger, type Logger } from "@budmetrics/logger";
import type { AdminWithoutToken, MountedApp } from "./index";
import { assertPortFree, createHost, createRegistry, hostSettings, listen } from "./host";
import type { serverConfigSchema } from "./server-config";

type ServerSchema = ReturnType<typeof serverConfigSchema>;

export interface EntryPointContext<S extends Schema> {
  config: ConfigOf<S>;
  log: Logger;
  lifecycle: Lifecycle;
  registry: Registry;
}

export interface Started {
  apps: MountedApp[];
  /** Runs last at shutdown, after the server and the apps are closed (the ClickHouse client). */
  close?: () => Promise<void>;
  /** Fields of the "ready" log line. */
  fields?: Record<string, unknown>;
}

export interface EntryPoint<S extends ServerSchema> {
  /** Logger name and the prefix of start-up failure lines. */
  name: string;
  schema: S;
  checks?: ReadonlyArray<(c: ConfigOf<S>) => string | undefined>;
  env?: NodeJS.ProcessEnv;
  /** `/admin/*` while ADMIN_API_TOKEN is unset (host default: off). */
  adminWithoutToken?: AdminWithoutToken;
  /** Opens clients and builds the apps; the runner serves them. */
  start(ctx: EntryPointContext<S>): Promise<Started>;
}

/** Exit codes: 2 = the configuration or the surroundings need a change (a variable), 1 = anything else. */
export const EXIT_CONFIG = 2;
export const EXIT_FAILED = 1;

/**
 * The one process runner of the three entry points (collector, query, all-in-one): configuration
 * checked before anything starts, signal handlers, the parent watch under a package manager, one
 * server for the apps, the shutdown order, and start-up failures as one line on stderr — a bad
 * configuration or a conflict (data folder locked, port taken) names the variable to change and exits 2;
 * anything else is unexpected and keeps its stack (exit 1).
 */
export async function runEntryPoint<S extends ServerSchema>(ep: EntryPoint<S>): Promise<void> {
  const env = ep.env ?? process.env;
  try {
    const startedAt = Date.now();
    const config = loadConfig(ep.schema, env, ep.checks);
    // S extends the server schema; the generic ConfigOf<S> does not let the compiler see it.
    const server = config as unknown as ConfigOf<ServerSchema>;
    const log = createLogger({ level: server.LOG_LEVEL, name: ep.name });
    const lifecycle = createLifecycle({ log, deadlineMs: server.SHUTDOWN_DEADLINE_MS });
    lifecycle.installSignalHandlers();
    // `pnpm start` (npm_lifecycle_event set): pnpm does not pass SIGTERM on, so its exit is the signal.
    if (env.npm_lifecycle_event) lifecycle.watchParent();
    await assertPortFree(server.HOST, server.PORT);
    const registry = createRegistry();
    const started = await ep.start({ config, log, lifecycle, registry });
    const host = createHost({
      apps: started.apps,
      log,
      registry,
      ...hostSettings(server),
      adminWithoutToken: ep.adminWithoutToken ?? "off",
    });
    try {
      await listen(host, {
        host: server.HOST,
        port: server.PORT,
        log,
        lifecycle,
        apps: started.apps,
        drainTimeoutMs: server.DRAIN_TIMEOUT_MS,
      });
    } catch (err) {
      await started.close?.().catch(() => undefined);
      throw err;
    }
    if (started.close) lifecycle.onShutdown("close clickhouse", started.close, 3_000);
    log.info({ ...started.fields, startupMs: Date.now() - startedAt }, `${ep.name} ready`);
  } catch (err) {
    const { line, code } = startupFailure(ep.name, err);
    process.stderr.write(`${line}\n`);
    process.exit(code);
  }
}

/** The stderr line and exit code of a failed start. */
export function startupFailure(name: string, err: unknown): { line: string; code: number } {
  if (err instanceof ConfigError) return { line: err.message, code: EXIT_CONFIG };
  if (isAppError(err) && err.code === "STARTUP_CONFLICT") {
    return { line: `${name} cannot start: ${err.publicMessage}`, code: EXIT_CONFIG };
  }
  return {
    line: `${name} failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
    code: EXIT_FAILED,
  };
}
