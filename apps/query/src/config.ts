import { defineSchema, type ConfigOf } from "@budmetrics/config";

export const queryConfigSchema = defineSchema({
  REDIS_URL: {
    type: "url",
    protocols: ["redis", "rediss"],
    default: null,
    doc: "Redis for the query cache (and collector claims in server mode). Unset = in-memory LRU cache",
  },
});

export type QueryConfig = ConfigOf<typeof queryConfigSchema>;
