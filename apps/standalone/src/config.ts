import { mergeSchemas } from "@budmetrics/config";
import { clickhouseConfigSchema } from "@budmetrics/clickhouse";
import { collectorConfigSchema } from "@budmetrics/collector";
import { serverConfigSchema } from "@budmetrics/http";
import { queryConfigSchema } from "@budmetrics/query";

/** Everything the all-in-one process reads: server, ClickHouse, collector and query settings. */
export const standaloneConfigSchema = mergeSchemas(
  mergeSchemas(serverConfigSchema(9085), clickhouseConfigSchema),
  mergeSchemas(collectorConfigSchema, queryConfigSchema),
);
