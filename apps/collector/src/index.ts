export { createCollectorApp } from "./app";
export type { CollectorDeps, CollectorApp } from "./app";
export { collectorConfigSchema, collectorConfigChecks } from "./config";
export type { CollectorConfig } from "./config";
export { composeCollector } from "./compose";
export { collectorErrors } from "./errors";
export { createRedisClaimStore } from "./adapters/redis-claims";
export { daprSubscription, DELIVERY_PATHS } from "./routes/subscription";
