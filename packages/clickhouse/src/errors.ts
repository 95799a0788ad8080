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

/**
 * Errors that a row's own data caused (the engine could not parse or store a value): the writer splits
 * such a batch to find and quarantine the row, and stores its siblings. Any other error is about the
 * statement or the service, never a reason to drop a row.
 */
const DATA_ERROR_TYPES = new Set([
  "CANNOT_PARSE_TEXT",
  "CANNOT_PARSE_ESCAPE_SEQUENCE",
  "CANNOT_PARSE_QUOTED_STRING",
  "CANNOT_PARSE_INPUT_ASSERTION_FAILED",
  "CANNOT_PARSE_DATE",
  "CANNOT_PARSE_DATETIME",
  "CANNOT_PARSE_NUMBER",
  "CANNOT_PARSE_UUID",
  "CANNOT_PARSE_BOOL",
  "CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING",
  "INCORRECT_DATA",
  "TYPE_MISMATCH",
  "ARGUMENT_OUT_OF_BOUND",
  "CANNOT_CONVERT_TYPE",
  "TOO_LARGE_STRING_SIZE",
  "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE",
  "CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN",
  "DECIMAL_OVERFLOW",
]);

/**
 * The embedded engine (chdb) reports the numeric code only (`clickhouseCode`); names from ClickHouse's
 * src/Common/ErrorCodes.cpp for the codes this module classifies. Unnamed codes stay unclassified.
 */
const CODE_NAMES: Readonly<Record<number, string>> = {
  6: "CANNOT_PARSE_TEXT",
  25: "CANNOT_PARSE_ESCAPE_SEQUENCE",
  26: "CANNOT_PARSE_QUOTED_STRING",
  27: "CANNOT_PARSE_INPUT_ASSERTION_FAILED",
  38: "CANNOT_PARSE_DATE",
  41: "CANNOT_PARSE_DATETIME",
  53: "TYPE_MISMATCH",
  69: "ARGUMENT_OUT_OF_BOUND",
  70: "CANNOT_CONVERT_TYPE",
  72: "CANNOT_PARSE_NUMBER",
  102: "UNEXPECTED_PACKET_FROM_SERVER",
  117: "INCORRECT_DATA",
  131: "TOO_LARGE_STRING_SIZE",
  158: "TOO_MANY_ROWS",
  159: "TIMEOUT_EXCEEDED",
  173: "CANNOT_ALLOCATE_MEMORY",
  202: "TOO_MANY_SIMULTANEOUS_QUERIES",
  209: "SOCKET_TIMEOUT",
  210: "NETWORK_ERROR",
  234: "NO_REPLICA_HAS_PART",
  236: "ABORTED",
  241: "MEMORY_LIMIT_EXCEEDED",
  242: "TABLE_IS_READ_ONLY",
  252: "TOO_MANY_PARTS",
  279: "ALL_CONNECTION_TRIES_FAILED",
  307: "TOO_MANY_BYTES",
  321: "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE",
  349: "CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN",
  369: "ALL_REPLICAS_ARE_STALE",
  376: "CANNOT_PARSE_UUID",
  394: "QUERY_WAS_CANCELLED",
  396: "TOO_MANY_ROWS_OR_BYTES",
  407: "DECIMAL_OVERFLOW",
  441: "CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING",
  467: "CANNOT_PARSE_BOOL",
  999: "KEEPER_EXCEPTION",
};

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
  /** A row's own data caused it (the writer isolates that row); only for kind "rejected". */
  dataError?: true;
}

interface ErrorLike {
  type?: unknown;
  code?: unknown;
  clickhouseCode?: unknown;
  cause?: unknown;
}

function byType(type: string): Classified {
  if (RETRYABLE_TYPES.has(type)) return { kind: "unavailable", retryable: true, reason: type };
  if (LIMIT_TYPES.has(type)) return { kind: "limit", retryable: false, reason: type };
  if (DATA_ERROR_TYPES.has(type))
    return { kind: "rejected", retryable: false, reason: type, dataError: true };
  return { kind: "rejected", retryable: false, reason: type };
}

/**
 * By ClickHouse error `type` (server) or numeric code (embedded) and socket `code` only; never by
 * message text. An embedded error with a code this module does not name stays retryable: better a
 * redelivery than a dropped event.
 */
export function classifyClickHouseError(err: unknown): Classified {
  let current: unknown = err;
  for (let depth = 0; depth < 4 && current && typeof current === "object"; depth++) {
    const e = current as ErrorLike;
    if (typeof e.type === "string" && e.type.length > 0) return byType(e.type);
    if (typeof e.clickhouseCode === "number") {
      const name = CODE_NAMES[e.clickhouseCode];
      if (name) return byType(name);
      return { kind: "unavailable", retryable: true, reason: `CODE_${e.clickhouseCode}` };
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
    return commonErrors.create("CLICKHOUSE_TIMEOUT", `${what}: ${err.message}`, {
      cause: err,
      publicMessage: "ClickHouse did not answer in time; retry later",
    });
  }
  const c = classifyClickHouseError(err);
  // The engine's text (settings, columns, the statement) is for the log; clients get the words below.
  const message = `${what}: ${err instanceof Error ? err.message : String(err)}`;
  const details = { reason: c.reason, ...(c.dataError ? { dataError: true } : {}) };
  switch (c.kind) {
    case "unavailable":
      return commonErrors.create("CLICKHOUSE_UNAVAILABLE", message, {
        cause: err,
        details,
        publicMessage: "ClickHouse is unavailable; retry later",
      });
    case "limit":
      return commonErrors.create("CLICKHOUSE_QUERY_LIMIT", message, {
        cause: err,
        details,
        publicMessage: "the request needs more than a query may use (time, memory or rows): narrow it",
      });
    case "timeout":
      return commonErrors.create("CLICKHOUSE_TIMEOUT", message, {
        cause: err,
        details,
        publicMessage: "ClickHouse did not answer in time; retry later",
      });
    case "rejected":
      return commonErrors.create("CLICKHOUSE_REJECTED", message, {
        cause: err,
        details,
        publicMessage: "ClickHouse refused the statement",
      });
  }
}
