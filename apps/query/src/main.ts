/**
 * Split mode: the query app alone, against a ClickHouse server (CLICKHOUSE_URL) — the Dapr app in the
 * Bud stack. The only file of this app that reads process.env and builds clients.
 */
import { mergeSchemas } from "@budmetrics/config";
import { clickhouseConfigSchema, openClickHouse } from "@budmetrics/clickhouse";
import { runEntryPoint, serverConfigSchema } from "@budmetrics/http";
import { composeQuery } from "./compose";
import { queryConfigSchema } from "./config";

void runEntryPoint({
  name: "budmetrics-query",
  schema: mergeSchemas(mergeSchemas(serverConfigSchema(9085), clickhouseConfigSchema), queryConfigSchema),
  async start({ config, log, registry }) {
    const ch = await openClickHouse(config, log);
    const app = await composeQuery(config, { ch, log, registry });
    return { apps: [app], close: () => ch.close(), fields: { mode: ch.mode } };
  },
});
