import { defineSchema, mergeSchemas, type ConfigOf } from "@budmetrics/config";
import { redisConfigSchema } from "@budmetrics/http";

export const collectorConfigSchema = mergeSchemas(
  redisConfigSchema,
  defineSchema({
    APP_API_TOKEN: {
      type: "string",
      default: null,
      secret: true,
      doc: "when set, every request but health must carry this value in the dapr-api-token header",
    },
  }),
);

export type CollectorConfig = ConfigOf<typeof collectorConfigSchema>;
