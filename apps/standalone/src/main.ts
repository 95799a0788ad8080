/**
 * Embedded all-in-one: collector and query app in one process on one server (127.0.0.1:9085 by
 * default), because only one process may open a chdb data folder (a second one fails with "Cannot
 * lock file …/status"; docs/ARCHITECTURE.md, "Two ways to run"). This is a composition
 * root only: it reads the environment, builds clients and mounts both apps' routers.
 */
import { ConfigError, loadConfig } from "@budmetrics/config";
import { createClickHouse, migrate, renderContextFrom } from "@budmetrics/clickhouse";
import { composeCollector } from "@budmetrics/collector";
import { composeQuery } from "@budmetrics/query";
import { createHost, createRegistry, hostSettings, listen } from "@budmetrics/http";
import { createLifecycle } from "@budmetrics/lifecycle";
import { createLogger } from "@budmetrics/logger";
import { standaloneConfigSchema } from "./config";

async function main(): Promise<void> {
  const startedAt = Date.now();
  const config = loadConfig(standaloneConfigSchema, process.env);
  const log = createLogger({ level: config.LOG_LEVEL, name: "budmetrics" });
  const lifecycle = createLifecycle({ log, deadlineMs: config.SHUTDOWN_DEADLINE_MS });
  lifecycle.installSignalHandlers();

  const ch = await createClickHouse(config, log);
  const migrateOnStart =
    config.CLICKHOUSE_MIGRATE_ON_START === "true" ||
    (config.CLICKHOUSE_MIGRATE_ON_START === "auto" && ch.mode === "embedded");
  if (migrateOnStart) await migrate(ch, { ctx: renderContextFrom(config), log });

  const registry = createRegistry();
  const collector = await composeCollector(config, { ch, log, registry });
  const query = await composeQuery(config, { ch, log, registry });
  const apps = [collector, query];
  const app = createHost({ apps, log, registry, ...hostSettings(config) });
  await listen(app, {
    host: config.HOST,
    port: config.PORT,
    log,
    lifecycle,
    apps,
    drainTimeoutMs: config.DRAIN_TIMEOUT_MS,
  });
  lifecycle.onShutdown("close clickhouse", () => ch.close(), 3_000);
  log.info({ mode: ch.mode, startupMs: Date.now() - startedAt }, "budmetrics ready");
}

main().catch((err) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`budmetrics failed to start: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
