import { defineErrors } from "@budmetrics/errors";

/**
 * Every error code the collector raises or returns (shared ClickHouse codes live in commonErrors).
 * Event codes (EVENT_*) are also the `reason_code` of quarantine rows and the `code` an HTTP sender
 * gets back per entry.
 */
export const collectorErrors = defineErrors({
  EVENT_MALFORMED_JSON: {
    kind: "validation",
    retryable: false,
    doc: "an entry or raw payload is not valid JSON (or not valid base64)",
  },
  EVENT_ENVELOPE_INVALID: {
    kind: "validation",
    retryable: false,
    doc: "the CloudEvent envelope breaks CloudEvents 1.0 (missing id, source, type, bad time, …)",
  },
  EVENT_TYPE_UNKNOWN: {
    kind: "validation",
    retryable: false,
    doc: "the CloudEvent type is neither add_observability_metrics nor a configured sample type",
  },
  EVENT_SCHEMA_INVALID: {
    kind: "validation",
    retryable: false,
    doc: "the event data breaks the inference or metric-sample schema (field and rule named)",
  },
  EVENT_RULE_VIOLATED: {
    kind: "validation",
    retryable: false,
    doc: "the event data breaks a cross-field rule (request_forward_time before request_arrival_time)",
  },
  EVENT_EXPIRED: {
    kind: "validation",
    retryable: false,
    doc: "the event is older than its table keeps (the raw retention): refused and quarantined, never stored to be dropped",
  },
  EVENT_UNSTORABLE: {
    kind: "validation",
    retryable: false,
    doc: "ClickHouse refused a value of this event; its siblings were stored, this one is quarantined",
  },
  REQUEST_MALFORMED_JSON: { kind: "validation", retryable: false, doc: "the request body is not JSON" },
  REQUEST_SHAPE_INVALID: {
    kind: "validation",
    retryable: false,
    doc: "the request body is JSON but not an accepted shape (bulk envelope, {events}, CloudEvent, batch)",
  },
  REQUEST_ALL_INVALID: {
    kind: "validation",
    retryable: false,
    doc: "every entry of the request was invalid (each was quarantined; reasons per entry)",
  },
  SINK_QUEUE_FULL: {
    kind: "unavailable",
    retryable: true,
    doc: "the batch queue is at its row or byte bound: back-pressure, try again later",
  },
  SINK_FLUSH_TIMEOUT: {
    kind: "timeout",
    retryable: true,
    doc: "a batch was not committed within COLLECTOR_FLUSH_TIMEOUT_MS",
  },
  SINK_CLAIMED_ELSEWHERE: {
    kind: "unavailable",
    retryable: true,
    doc: "another writer holds an uncommitted claim on the event id; retry to learn the outcome",
  },
  SINK_SHUTTING_DOWN: {
    kind: "unavailable",
    retryable: true,
    doc: "the collector is draining for shutdown and takes no new events",
  },
  SINK_WRITE_FAILED: {
    kind: "unavailable",
    retryable: true,
    doc: "the batch could not be committed (ClickHouse unreachable or rejected it); nothing acknowledged",
  },
  CLAIMS_UNAVAILABLE: {
    kind: "unavailable",
    retryable: true,
    doc: "the claim store (Redis) could not be reached; nothing was written",
  },
  OTLP_PENDING_UNAVAILABLE: {
    kind: "unavailable",
    retryable: true,
    doc: "OTLP ingestion is on and the event could not be held for its spans (the pending store is full or unreachable); nothing was written",
  },
  OTLP_RECORD_INVALID: {
    kind: "validation",
    retryable: false,
    doc: "a record assembled from spans breaks the inference schema in a required field (its time outside 1970–2105): kept in quarantine, not stored",
  },
  QUARANTINE_WRITE_FAILED: {
    kind: "unavailable",
    retryable: true,
    doc: "an invalid event could not be stored in quarantine, so it is not dropped yet",
  },
});

export type CollectorErrorCode = keyof typeof collectorErrors.catalogue;
