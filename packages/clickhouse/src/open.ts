import type { Logger } from "@budmetrics/logger";
import { createClickHouse, type ClickHouse } from "./client";
import type { ClickHouseConfig } from "./config";
import { migrate, renderContextFrom } from "./migrations";

/**
 * What every entry point does first: open the engine (embedded or server) and, when
 * CLICKHOUSE_MIGRATE_ON_START says so (auto = embedded only), apply pending migrations.
 */
export async function openClickHouse(config: ClickHouseConfig, log: Logger): Promise<ClickHouse> {
  const ch = await createClickHouse(config, log);
  const migrateOnStart =
    config.CLICKHOUSE_MIGRATE_ON_START === "true" ||
    (config.CLICKHOUSE_MIGRATE_ON_START === "auto" && ch.mode === "embedded");
  try {
    if (migrateOnStart) await migrate(ch, { ctx: renderContextFrom(config), log });
  } catch (err) {
    await ch.close().catch(() => undefined);
    throw err;
  }
  return ch;
}
