import { defineSchema, mergeSchemas, type ConfigOf } from "@budmetrics/config";
import { redisConfigSchema } from "@budmetrics/http";

export const queryConfigSchema = mergeSchemas(redisConfigSchema, defineSchema({}));

export type QueryConfig = ConfigOf<typeof queryConfigSchema>;
