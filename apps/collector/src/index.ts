export { createCollectorApp } from "./app";
export type { CollectorDeps, CollectorApp } from "./app";
export { collectorConfigSchema, collectorConfigChecks } from "./config";
export type { CollectorConfig } from "./config";
export { composeCollector } from "./compose";
export { collectorErrors } from "./errors";
export { createRedisClaimStore } from "./adapters/redis-claims";
export { daprSubscription, DELIVERY_PATHS } from "./routes/subscription";
export { createEventParser, INFERENCE_EVENT_TYPE } from "./ingest/parse-event";
export type { EventParser, ParsedEvent } from "./ingest/parse-event";
export { createMemoryClaimStore } from "./adapters/memory-claims";
export { createExactlyOnceWriter } from "./ingest/exactly-once";
export type { ExactlyOnceWriter, WriteResult } from "./ingest/exactly-once";
export { EVENT_KINDS, EVENT_KIND_NAMES } from "./ingest/kinds";
export type { EventKind, StorageTarget } from "./ingest/kinds";
export type { ClaimState, ClaimStore, EventTable, PreparedRow, WriteOutcome } from "./ingest/ports";
export {
  createMetricsPublisher,
  EventRejectedError,
  PublishFailedError,
  DEFAULT_PUBSUB_NAME,
  DEFAULT_TOPIC,
  DEFAULT_SAMPLE_TYPE,
} from "./publisher";
export type { MetricsPublisher, MetricsPublisherOptions, EventOptions, BulkPublishResult } from "./publisher";
