import { INFERENCE_EVENT_TYPE } from "../ingest/parse-event";

/** Where the sidecar delivers: inferences by rule, everything else (samples, unknown types) by default. */
export const DELIVERY_PATHS = {
  inference: "/dapr/events/inference",
  default: "/dapr/events",
} as const;

export interface SubscriptionConfig {
  COLLECTOR_PUBSUB_NAME: string;
  COLLECTOR_TOPIC: string;
  COLLECTOR_DEAD_LETTER_TOPIC: string;
  COLLECTOR_BULK_MAX_MESSAGES: number;
  COLLECTOR_BULK_MAX_AWAIT_MS: number;
}

/**
 * The programmatic subscription served at GET /dapr/subscribe (docs/COLLECTOR.md, "Dapr"): routes by CloudEvent
 * type (CEL, first match wins, the default catches the rest so nothing is dropped unrouted), bulk
 * subscribe on, a dead-letter topic for DROPped events. Metadata values are strings: the runtime
 * parses them itself. components/subscription.yaml declares the same thing.
 */
export function daprSubscription(c: SubscriptionConfig) {
  return [
    {
      pubsubname: c.COLLECTOR_PUBSUB_NAME,
      topic: c.COLLECTOR_TOPIC,
      routes: {
        rules: [{ match: `event.type == "${INFERENCE_EVENT_TYPE}"`, path: DELIVERY_PATHS.inference }],
        default: DELIVERY_PATHS.default,
      },
      deadLetterTopic: c.COLLECTOR_DEAD_LETTER_TOPIC,
      bulkSubscribe: {
        enabled: true,
        maxMessagesCount: c.COLLECTOR_BULK_MAX_MESSAGES,
        maxAwaitDurationMs: c.COLLECTOR_BULK_MAX_AWAIT_MS,
      },
      metadata: { rawPayload: "false" },
    },
  ];
}
