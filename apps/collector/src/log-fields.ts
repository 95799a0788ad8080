import { isAppError } from "@budmetrics/errors";

/**
 * What a log line may say about a write failure: the stable code, kind, retryability and the
 * ClickHouse error type or socket code — not the message, which for a rejected insert can quote
 * the offending row (logs carry ids, never payloads).
 */
export function errorFields(err: unknown): Record<string, unknown> {
  if (isAppError(err)) {
    const reason = err.details?.reason;
    return {
      code: err.code,
      kind: err.kind,
      retryable: err.retryable,
      ...(typeof reason === "string" ? { reason } : {}),
    };
  }
  return { code: "UNEXPECTED", errorName: err instanceof Error ? err.name : typeof err };
}
