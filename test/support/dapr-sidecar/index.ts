export { createChannel, CLOSED, type Channel } from "./channel";
export {
  COMPONENTS_DIR,
  fetchSubscription,
  loadDeclarativeSubscription,
  loadInboundPolicy,
  loadPubsub,
  parseGoDurationMs,
  type InboundPolicy,
  type RedisPubsubSettings,
  type Subscription,
} from "./components";
export { backlog, publishAtRate, storedCloudEvent, xaddAll, type PublishTarget } from "./publisher";
export { compileMatch, createRouter } from "./routing";
export { startSidecar, type BulkInfo, type FlushPolicy, type Sidecar, type SidecarStats } from "./sidecar";
export { startPublishApi, type PublishApi } from "./publish-api";
