/**
 * components/ must declare what GET /dapr/subscribe serves, what the Redis pub/sub needs for
 * redelivery and dead letters, and delivery settings that let a bulk fill. Read with the same loaders
 * the sidecar model of the benchmark uses (test/support/dapr-sidecar), so what is checked here is
 * what is measured there.
 */
import { loadConfig } from "@budmetrics/config";
import {
  loadDeclarativeSubscription,
  loadInboundPolicy,
  loadPubsub,
} from "../../../test/support/dapr-sidecar";
import { collectorConfigSchema, daprSubscription } from "../src";

describe("components/", () => {
  const config = loadConfig(collectorConfigSchema, {});
  const served = daprSubscription(config)[0]!;
  const declared = loadDeclarativeSubscription();
  const pubsub = loadPubsub();
  const inbound = loadInboundPolicy(pubsub.name);

  it("subscription.yaml is the declarative twin of GET /dapr/subscribe", () => {
    expect(declared).toEqual({
      pubsubname: served.pubsubname,
      topic: served.topic,
      routes: served.routes,
      deadLetterTopic: served.deadLetterTopic,
      bulkSubscribe: served.bulkSubscribe,
      metadata: served.metadata,
    });
  });

  it("lets a bulk fill: concurrency = queueDepth ≥ maxMessagesCount (a bulk never holds more than concurrency)", () => {
    const max = served.bulkSubscribe.maxMessagesCount;
    expect(pubsub.concurrency).toBeGreaterThanOrEqual(max);
    expect(pubsub.queueDepth).toBe(pubsub.concurrency);
    // A full bulk must fit the collector's body limit (events of up to 4 KiB).
    expect(config.COLLECTOR_MAX_BODY_BYTES).toBeGreaterThanOrEqual(max * 4096);
  });

  it("pubsub-redis.yaml redelivers only after the collector's worst acknowledgement time", () => {
    expect(pubsub.name).toBe(served.pubsubname);
    expect(pubsub.consumerID).not.toBe("");
    expect(pubsub.maxLenApprox).toBeGreaterThan(0);
    // Redelivery needs both; a delivery may wait for the write in flight and then its own.
    const worstAckMs = config.COLLECTOR_INSERT_MIN_INTERVAL_MS + 2 * config.COLLECTOR_FLUSH_TIMEOUT_MS;
    expect(pubsub.redeliverIntervalMs).toBeGreaterThan(0);
    expect(pubsub.processingTimeoutMs).toBeGreaterThan(worstAckMs);
    expect(inbound.timeoutMs).toBeGreaterThan(worstAckMs);
    expect(inbound.timeoutMs).toBeLessThan(pubsub.processingTimeoutMs);
  });

  it("resiliency.yaml retries the pub/sub component's deliveries (the Redis pub/sub acknowledges a failed message otherwise)", () => {
    expect(inbound.retry).toMatchObject({ policy: "exponential" });
    expect(inbound.retry!.maxRetries).toBeGreaterThan(0);
    expect(served.deadLetterTopic).not.toBe("");
  });
});
