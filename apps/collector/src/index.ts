export { createCollectorApp } from "./app";
export type { CollectorDeps } from "./app";
export { collectorConfigSchema } from "./config";
export type { CollectorConfig } from "./config";
export { composeCollector } from "./compose";
