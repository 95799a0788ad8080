import type { ClickHouse } from "@budmetrics/clickhouse";
import type { MountedApp } from "@budmetrics/http";
import type { Logger } from "@budmetrics/logger";
import type { Registry } from "prom-client";
import { createQueryApp } from "./app";
import type { QueryConfig } from "./config";

/**
 * Builds the query's adapters from its config and returns the mounted app. Called by this app's
 * main (split mode) and by the standalone launcher (embedded mode), which share the ClickHouse
 * client, logger and metrics registry they pass in.
 */
export async function composeQuery(
  config: QueryConfig,
  shared: { ch: ClickHouse; log: Logger; registry: Registry },
): Promise<MountedApp> {
  return createQueryApp({ ...shared, config });
}
