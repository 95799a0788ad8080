/**
 * Embedded all-in-one: collector and query app in one process on one server (127.0.0.1:9085 by
 * default), because only one process may open an embedded engine's data folder. A composition root
 * only: it reads the environment, builds clients and mounts both apps' routers.
 */
import { openClickHouse } from "@budmetrics/clickhouse";
import { collectorConfigChecks, composeCollector } from "@budmetrics/collector";
import { composeQuery } from "@budmetrics/query";
import { runEntryPoint } from "@budmetrics/http";
import { standaloneConfigSchema } from "./config";

void runEntryPoint({
  name: "budmetrics",
  schema: standaloneConfigSchema,
  checks: collectorConfigChecks,
  // On a laptop, `curl 127.0.0.1:9085/admin/stats` works without a token; from elsewhere it needs one.
  adminWithoutToken: "loopback",
  async start({ config, log, registry }) {
    const ch = await openClickHouse(config, log);
    const collector = await composeCollector(config, { ch, log, registry });
    const query = await composeQuery(config, { ch, log, registry });
    return { apps: [collector, query], close: () => ch.close(), fields: { mode: ch.mode } };
  },
});
