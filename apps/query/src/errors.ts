import { defineErrors } from "@budmetrics/errors";

/** Every error code the query app raises itself (ClickHouse codes come from @budmetrics/errors). */
export const queryErrors = defineErrors({
  QUERY_VALIDATION_FAILED: {
    kind: "validation",
    retryable: false,
    doc: "the request body or query string broke a rule of the endpoint's schema",
  },
  QUERY_RANGE_INVALID: { kind: "validation", retryable: false, doc: "to_date is not after from_date" },
  QUERY_RANGE_TOO_LONG: {
    kind: "validation",
    retryable: false,
    doc: "the date range is longer than ANALYTICS_MAX_RANGE_DAYS",
  },
  QUERY_TOO_MANY_BUCKETS: {
    kind: "validation",
    retryable: false,
    doc: "the range and interval give more buckets than ANALYTICS_MAX_BUCKETS",
  },
  QUERY_RESULT_TOO_LARGE: {
    kind: "limit",
    retryable: false,
    doc: "the answer would hold more rows than ANALYTICS_MAX_RESULT_ROWS",
  },
  QUERY_TOO_EXPENSIVE: {
    kind: "limit",
    retryable: false,
    doc: "a statement hit a guardrail (time, memory, rows read): narrow the request",
  },
  QUERY_CURSOR_INVALID: {
    kind: "validation",
    retryable: false,
    doc: "a pagination cursor could not be decoded",
  },
  INFERENCE_NOT_FOUND: { kind: "not_found", retryable: false, doc: "no inference has this id" },
  ADMIN_OPTIMIZE_RUNNING: {
    kind: "conflict",
    retryable: true,
    doc: "POST /admin/optimize while another optimize of this process is still running",
  },
  GEO_DATABASE_UNAVAILABLE: {
    kind: "internal",
    retryable: false,
    doc: "the bundled IP location database could not be loaded (geography answers need it)",
  },
});

export type QueryErrorCode = keyof typeof queryErrors.catalogue;

export function validation(message: string, details?: Record<string, unknown>) {
  return queryErrors.create("QUERY_VALIDATION_FAILED", message, details ? { details } : undefined);
}
