import { randomUUID } from "node:crypto";
import type { DaprClient } from "@dapr/dapr";
import { CloudEvent, ValidationError } from "cloudevents";
import type { InferenceData, SampleData } from "@budmetrics/schema";
import { collectorConfigSchema } from "./config";
import { INFERENCE_EVENT_TYPE } from "./ingest/kinds";
import { createEventParser, type RejectedEvent } from "./ingest/parse-event";

/**
 * A typed publisher for platform services written in TypeScript: builds the CloudEvent the collector
 * stores, checks it with the collector's own parser before anything leaves the process, and publishes
 * it through the service's Dapr sidecar (@dapr/dapr's DaprClient).
 *
 *   import { DaprClient } from "@dapr/dapr";
 *   import { createMetricsPublisher } from "@budmetrics/collector";
 *   const metrics = createMetricsPublisher({ client: new DaprClient(), source: "my-gateway" });
 *   await metrics.publishInference(record);          // throws EventRejectedError / PublishFailedError
 *
 * Why not just `client.pubsub.publish(...)`: the cloudevents SDK fills a missing `id` with a random
 * UUID and does not look at `data` at all, so a retried publish would be a new event and a typo in a
 * field would surface only as a row in the collector's quarantine. Here the id of an inference event
 * is its `inference_id` (a retried publish is the same event; the collector stores it once), the
 * envelope is validated by the SDK and the payload by the same rules the collector applies, and a
 * failed publish throws instead of resolving to `{ error }` (what the Dapr SDK does).
 */

/** Where the collector subscribes by default (its COLLECTOR_PUBSUB_NAME and COLLECTOR_TOPIC). */
export const DEFAULT_PUBSUB_NAME = collectorConfigSchema.COLLECTOR_PUBSUB_NAME.default;
export const DEFAULT_TOPIC = collectorConfigSchema.COLLECTOR_TOPIC.default;
const DEFAULT_SAMPLE_TYPES: readonly string[] = collectorConfigSchema.COLLECTOR_SAMPLE_EVENT_TYPES.default;
/** The default CloudEvent type of a metric sample (one of COLLECTOR_SAMPLE_EVENT_TYPES' defaults). */
export const DEFAULT_SAMPLE_TYPE = "metric_sample";

export interface MetricsPublisherOptions {
  /** The service's Dapr client: the sidecar's address and API token are its concern. */
  client: Pick<DaprClient, "pubsub">;
  /** CloudEvent `source`: which service publishes (e.g. "budgateway"). Part of a sample's identity. */
  source: string;
  pubsubName?: string;
  topic?: string;
  /** CloudEvent type for samples; must be one of the collector's COLLECTOR_SAMPLE_EVENT_TYPES. */
  sampleType?: string;
}

export interface EventOptions {
  /** CloudEvent id. Inference: its inference_id. Sample: a new UUID — pass your own to make retries idempotent. */
  id?: string;
  /** CloudEvent time. Inference: its request_arrival_time. Sample: now. */
  time?: string | Date;
}

/** The event would be refused by the collector (or is not a valid CloudEvent): nothing was sent. */
export class EventRejectedError extends Error {
  override readonly name = "EventRejectedError";
  constructor(
    /** The collector's rejection code, or CLOUDEVENT_INVALID for the SDK's envelope rules. */
    readonly code: string,
    /** Dotted path of the offending field ("" for the whole event). */
    readonly field: string,
    readonly rule: string,
  ) {
    super(field ? `${field}: ${rule}` : rule);
  }
}

/** The sidecar did not take the event (unreachable, unknown pub/sub, the broker refused it). */
export class PublishFailedError extends Error {
  override readonly name = "PublishFailedError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export interface BulkPublishResult {
  /** Events the sidecar did not take, with its reason; `publishMany` them again (same ids) to retry. */
  failed: { event: CloudEvent<unknown>; error: string }[];
}

export interface MetricsPublisher {
  /** The checked CloudEvent for one inference (throws EventRejectedError). */
  inferenceEvent(data: InferenceData, opts?: EventOptions): CloudEvent<InferenceData>;
  /** The checked CloudEvent for one metric sample (throws EventRejectedError). */
  sampleEvent(data: SampleData, opts?: EventOptions): CloudEvent<SampleData>;
  publishInference(data: InferenceData, opts?: EventOptions): Promise<CloudEvent<InferenceData>>;
  publishSample(data: SampleData, opts?: EventOptions): Promise<CloudEvent<SampleData>>;
  /** Publishes an event built above again, unchanged (a retry after PublishFailedError). */
  publish(event: CloudEvent<unknown>): Promise<void>;
  /**
   * Many events, `concurrency` publishes in flight. Every event is checked first; one that would be
   * refused throws before anything is sent. Not the sidecar's bulk publish API: @dapr/dapr 3.18's
   * publishBulk answers `failedMessages: []` when the sidecar reports failed entries (it looks for
   * `entryID` where daprd writes `entryId`; dapr/js-sdk#703), so a failed bulk would read as success.
   */
  publishMany(events: readonly CloudEvent<unknown>[], concurrency?: number): Promise<BulkPublishResult>;
}

const CLOUDEVENTS_JSON = "application/cloudevents+json";

function describeSdkError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return typeof err === "string" ? err : JSON.stringify(err);
}

export function createMetricsPublisher(opts: MetricsPublisherOptions): MetricsPublisher {
  const pubsubName = opts.pubsubName ?? DEFAULT_PUBSUB_NAME;
  const topic = opts.topic ?? DEFAULT_TOPIC;
  const sampleType = opts.sampleType ?? DEFAULT_SAMPLE_TYPE;
  if (!opts.source)
    throw new TypeError("createMetricsPublisher: source is required (the publishing service)");
  // The collector's parser: what it accepts is what the collector stores, with the same messages.
  const parser = createEventParser({
    sampleTypes: [...new Set([...DEFAULT_SAMPLE_TYPES, sampleType])],
  });

  function build<T>(type: string, id: string, time: string | Date | undefined, data: T): CloudEvent<T> {
    let event: CloudEvent<T>;
    try {
      // strict: the SDK validates the envelope (specversion, id, source, type, time, attribute names).
      event = new CloudEvent<T>(
        {
          specversion: "1.0",
          id,
          source: opts.source,
          type,
          time: time === undefined ? undefined : new Date(time).toISOString(),
          datacontenttype: "application/json",
          data,
        },
        true,
      );
    } catch (err) {
      const rule = err instanceof ValidationError ? err.message : describeSdkError(err);
      throw new EventRejectedError("CLOUDEVENT_INVALID", "", rule);
    }
    check(event);
    return event;
  }

  function check(event: CloudEvent<unknown>): void {
    const parsed = parser.parseCloudEvent(JSON.parse(JSON.stringify(event)));
    if (!parsed.ok) {
      const r = parsed as RejectedEvent;
      throw new EventRejectedError(r.code, r.field, r.reason.slice(r.field ? r.field.length + 2 : 0));
    }
  }

  async function publish(event: CloudEvent<unknown>): Promise<void> {
    // The SDK resolves to { error } instead of rejecting (and waits for the sidecar first).
    const res = await opts.client.pubsub.publish(pubsubName, topic, event, { contentType: CLOUDEVENTS_JSON });
    if (res?.error) {
      throw new PublishFailedError(
        `publishing ${event.type} ${event.id} to ${pubsubName}/${topic} failed: ${describeSdkError(res.error)}`,
        { cause: res.error },
      );
    }
  }

  return {
    inferenceEvent: (data, o = {}) =>
      build(INFERENCE_EVENT_TYPE, o.id ?? data.inference_id, o.time ?? data.request_arrival_time, data),
    sampleEvent: (data, o = {}) => build(sampleType, o.id ?? randomUUID(), o.time ?? new Date(), data),
    async publishInference(data, o) {
      const event = this.inferenceEvent(data, o);
      await publish(event);
      return event;
    },
    async publishSample(data, o) {
      const event = this.sampleEvent(data, o);
      await publish(event);
      return event;
    },
    publish,
    async publishMany(events, concurrency = 16) {
      for (const e of events) check(e);
      const failed: BulkPublishResult["failed"] = [];
      let next = 0;
      const worker = async () => {
        while (next < events.length) {
          const event = events[next++]!;
          try {
            await publish(event);
          } catch (err) {
            failed.push({ event, error: describeSdkError(err) });
          }
        }
      };
      await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, events.length)) }, worker));
      return { failed };
    },
  };
}
