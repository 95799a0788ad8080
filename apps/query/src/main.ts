/**
 * Split mode: the query alone, against a ClickHouse server (CLICKHOUSE_URL) — the Dapr app in the
 * Bud stack. The only file of this app that reads process.env and builds clients.
 */
import { ConfigError, loadConfig, mergeSchemas } from "@budmetrics/config";
import { clickhouseConfigSchema, createClickHouse, migrate, renderContextFrom } from "@budmetrics/clickhouse";
import { createHost, createRegistry, hostSettings, listen, serverConfigSchema } from "@budmetrics/http";
import { createLifecycle } from "@budmetrics/lifecycle";
import { createLogger } from "@budmetrics/logger";
import { composeQuery } from "./compose";
import { queryConfigSchema } from "./config";

const schema = mergeSchemas(
  mergeSchemas(serverConfigSchema(9085), clickhouseConfigSchema),
  queryConfigSchema,
);

async function main(): Promise<void> {
  const config = loadConfig(schema, process.env);
  const log = createLogger({ level: config.LOG_LEVEL, name: "budmetrics-query" });
  const lifecycle = createLifecycle({ log, deadlineMs: config.SHUTDOWN_DEADLINE_MS });
  lifecycle.installSignalHandlers();
  const ch = await createClickHouse(config, log);
  if (
    config.CLICKHOUSE_MIGRATE_ON_START === "true" ||
    (config.CLICKHOUSE_MIGRATE_ON_START === "auto" && ch.mode === "embedded")
  ) {
    await migrate(ch, { ctx: renderContextFrom(config), log });
  }
  const registry = createRegistry();
  const app = await composeQuery(config, { ch, log, registry });
  const host = createHost({ apps: [app], log, registry, ...hostSettings(config) });
  await listen(host, {
    host: config.HOST,
    port: config.PORT,
    log,
    lifecycle,
    apps: [app],
    drainTimeoutMs: config.DRAIN_TIMEOUT_MS,
  });
  lifecycle.onShutdown("close clickhouse", () => ch.close(), 3_000);
}

main().catch((err) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`query failed to start: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
