/**
 * Split mode: the collector alone, against a ClickHouse server (CLICKHOUSE_URL) — the Dapr app in the
 * Bud stack. The only file of this app that reads process.env and builds clients.
 */
import { mergeSchemas } from "@budmetrics/config";
import { clickhouseConfigSchema, openClickHouse } from "@budmetrics/clickhouse";
import { runEntryPoint, serverConfigSchema } from "@budmetrics/http";
import { composeCollector } from "./compose";
import { collectorConfigChecks, collectorConfigSchema } from "./config";

void runEntryPoint({
  name: "budmetrics-collector",
  schema: mergeSchemas(mergeSchemas(serverConfigSchema(9086), clickhouseConfigSchema), collectorConfigSchema),
  checks: collectorConfigChecks,
  async start({ config, log, registry }) {
    const ch = await openClickHouse(config, log);
    const app = await composeCollector(config, { ch, log, registry });
    return { apps: [app], close: () => ch.close(), fields: { mode: ch.mode } };
  },
});
