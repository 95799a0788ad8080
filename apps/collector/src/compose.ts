import type { ClickHouse } from "@budmetrics/clickhouse";
import type { MountedApp } from "@budmetrics/http";
import type { Logger } from "@budmetrics/logger";
import type { Registry } from "prom-client";
import { createCollectorApp } from "./app";
import type { CollectorConfig } from "./config";

/**
 * Builds the collector's adapters from its config and returns the mounted app. Called by this app's
 * main (split mode) and by the standalone launcher (embedded mode), which share the ClickHouse
 * client, logger and metrics registry they pass in.
 */
export async function composeCollector(
  config: CollectorConfig,
  shared: { ch: ClickHouse; log: Logger; registry: Registry },
): Promise<MountedApp> {
  return createCollectorApp({ ...shared, config });
}
