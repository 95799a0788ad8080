import { AppError, commonErrors } from "@budmetrics/errors";

/** ClickHouse error types that mean "try again later": overload, replicas, network inside the cluster. */
const RETRYABLE_TYPES = new Set([
  "TOO_MANY_SIMULTANEOUS_QUERIES",
  "TOO_MANY_PARTS",
  "NETWORK_ERROR",
  "SOCKET_TIMEOUT",
  "ALL_CONNECTION_TRIES_FAILED",
  "ALL_REPLICAS_ARE_STALE",
  "NO_REPLICA_HAS_PART",
  "TABLE_IS_READ_ONLY",
  "KEEPER_EXCEPTION",
  "ABORTED",
  "UNEXPECTED_PACKET_FROM_SERVER",
  "CANNOT_ALLOCATE_MEMORY",
  "SERVER_OVERLOADED",
  "DISTRIBUTED_TOO_MANY_PENDING_BYTES",
]);

/** Guardrails a query can hit: the request is too wide, not the service down. */
const LIMIT_TYPES = new Set([
  "TIMEOUT_EXCEEDED",
  "TOO_MANY_ROWS",
  "TOO_MANY_BYTES",
  "MEMORY_LIMIT_EXCEEDED",
  "TOO_MANY_ROWS_OR_BYTES",
  "QUERY_WAS_CANCELLED",
]);

const SOCKET_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ECONNABORTED",
  "UND_ERR_SOCKET",
]);

export interface Classified {
  kind: "unavailable" | "timeout" | "limit" | "rejected";
  retryable: boolean;
  /** ClickHouse error type or socket code, for metrics labels. */
  reason: string;
}

interface ErrorLike {
  type?: unknown;
  code?: unknown;
  cause?: unknown;
}

/** By ClickHouse error `type` and socket `code` only; never by message text. */
export function classifyClickHouseError(err: unknown): Classified {
  let current: unknown = err;
  for (let depth = 0; depth < 4 && current && typeof current === "object"; depth++) {
    const e = current as ErrorLike;
    if (typeof e.type === "string" && e.type.length > 0) {
      if (RETRYABLE_TYPES.has(e.type)) return { kind: "unavailable", retryable: true, reason: e.type };
      if (LIMIT_TYPES.has(e.type)) return { kind: "limit", retryable: false, reason: e.type };
      return { kind: "rejected", retryable: false, reason: e.type };
    }
    if (typeof e.code === "string" && SOCKET_CODES.has(e.code)) {
      return { kind: "unavailable", retryable: true, reason: e.code };
    }
    current = e.cause;
  }
  return { kind: "unavailable", retryable: true, reason: "unknown" };
}

export class DeadlineExceeded extends Error {
  readonly code = "DEADLINE_EXCEEDED";
  /**
   * @param settled embedded mode only: the call keeps running in-process after we stop waiting, and
   *   this tells how it ended. A server may still commit after the client gave up, so there it is unset.
   */
  constructor(
    ms: number,
    readonly settled?: Promise<"succeeded" | "failed">,
  ) {
    super(`ClickHouse call exceeded its ${ms} ms deadline`);
  }
}

/** Socket codes of a request that never reached the server. */
const NEVER_SENT = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"]);

/**
 * What a failed insert left behind: `failed` (nothing committed: the engine answered with an error,
 * or the request never left), a promise of the final outcome (embedded call still running past our
 * deadline), or `unknown` (a server may have committed: timeout or connection lost mid-request).
 * The writer frees its claims only on `failed`. Inserts are single blocks (batches ≪ 1M rows), so
 * an engine error means no row of the batch was committed.
 */
export function insertOutcome(
  err: unknown,
  mode: "embedded" | "server",
): "failed" | "unknown" | Promise<"succeeded" | "failed"> {
  let current: unknown = err;
  for (let depth = 0; depth < 6 && current && typeof current === "object"; depth++) {
    if (current instanceof DeadlineExceeded) return current.settled ?? "unknown";
    const e = current as ErrorLike;
    if (typeof e.type === "string" && e.type.length > 0) return "failed";
    if (typeof e.code === "string" && NEVER_SENT.has(e.code)) return "failed";
    current = e.cause;
  }
  // In process, a call that returned an error has ended, and ended without committing.
  return mode === "embedded" ? "failed" : "unknown";
}

/** Turns any failure of a ClickHouse call into an AppError with a stable code. */
export function toClickHouseAppError(err: unknown, what: string): AppError {
  if (err instanceof AppError) return err;
  if (err instanceof DeadlineExceeded) {
    return commonErrors.create("CLICKHOUSE_TIMEOUT", `${what}: ${err.message}`, { cause: err });
  }
  const c = classifyClickHouseError(err);
  const message = `${what}: ${err instanceof Error ? err.message : String(err)}`;
  const details = { reason: c.reason };
  switch (c.kind) {
    case "unavailable":
      return commonErrors.create("CLICKHOUSE_UNAVAILABLE", message, { cause: err, details });
    case "limit":
      return commonErrors.create("CLICKHOUSE_QUERY_LIMIT", message, { cause: err, details });
    case "timeout":
      return commonErrors.create("CLICKHOUSE_TIMEOUT", message, { cause: err, details });
    case "rejected":
      return commonErrors.create("CLICKHOUSE_REJECTED", message, { cause: err, details });
  }
}
