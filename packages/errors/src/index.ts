/**
 * One base error for the whole product. `code` is stable (clients and dashboards key on it),
 * `kind` decides the HTTP / Dapr answer at the edge, `retryable` decides whether a caller may try again.
 */
export type ErrorKind =
  | "validation"
  | "malformed"
  | "unauthorized"
  | "forbidden"
  | "unsupported"
  | "not_found"
  | "conflict"
  | "too_large"
  | "unavailable"
  | "timeout"
  | "limit"
  | "internal";

export interface ErrorSpec {
  readonly kind: ErrorKind;
  readonly retryable: boolean;
  /** One line for the catalogue: when this error is raised. */
  readonly doc: string;
}

export type Catalogue<C extends string = string> = Readonly<Record<C, ErrorSpec>>;

export interface AppErrorOptions {
  cause?: unknown;
  details?: Record<string, unknown>;
  /**
   * What a client may read, when `message` holds detail that is only for the log (an engine's error
   * text, setting and column names). Answers carry this; logs carry `message`.
   */
  publicMessage?: string;
}

export class AppError extends Error {
  readonly code: string;
  readonly kind: ErrorKind;
  readonly retryable: boolean;
  readonly details: Record<string, unknown> | undefined;
  /** The words a client gets: `message` unless it carries detail meant for the log only. */
  readonly publicMessage: string;

  constructor(code: string, spec: ErrorSpec, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "AppError";
    this.code = code;
    this.kind = spec.kind;
    this.retryable = spec.retryable;
    this.details = options.details;
    this.publicMessage = options.publicMessage ?? message;
  }

  /** The body of an error answer: code, kind and words a client may read (never engine text). */
  toJSON(): Record<string, unknown> {
    return { code: this.code, kind: this.kind, message: this.publicMessage, ...(this.details ?? {}) };
  }
}

/** Builds a typed `raise(code, message)` bound to one catalogue, so codes cannot drift from their specs. */
export function defineErrors<C extends string>(catalogue: Catalogue<C>) {
  return {
    catalogue,
    create(code: C, message: string, options?: AppErrorOptions): AppError {
      return new AppError(code, catalogue[code], message, options);
    },
    is(err: unknown, code: C): err is AppError {
      return err instanceof AppError && err.code === code;
    },
  };
}

export function isAppError(err: unknown): err is AppError {
  return err instanceof AppError;
}

/** HTTP status for an error kind; the only place kinds meet HTTP. */
export function httpStatusForKind(kind: ErrorKind): number {
  switch (kind) {
    case "validation":
      return 422;
    case "malformed":
      return 400;
    case "unauthorized":
      return 401;
    case "forbidden":
      return 403;
    case "unsupported":
      return 415;
    case "not_found":
      return 404;
    case "conflict":
      return 409;
    case "too_large":
      return 413;
    case "limit":
      return 422;
    case "unavailable":
      return 503;
    case "timeout":
      return 503;
    case "internal":
      return 500;
  }
}

/** Errors shared by every app: ClickHouse, cache and config failures. */
export const commonErrors = defineErrors({
  CONFIG_INVALID: { kind: "internal", retryable: false, doc: "environment configuration failed validation" },
  CLICKHOUSE_UNAVAILABLE: {
    kind: "unavailable",
    retryable: true,
    doc: "ClickHouse could not be reached or is overloaded",
  },
  CLICKHOUSE_TIMEOUT: { kind: "timeout", retryable: true, doc: "a ClickHouse call exceeded its deadline" },
  CLICKHOUSE_QUERY_LIMIT: {
    kind: "limit",
    retryable: false,
    doc: "a query hit a guardrail (time, memory, rows read, result size)",
  },
  CLICKHOUSE_REJECTED: {
    kind: "internal",
    retryable: false,
    doc: "ClickHouse rejected a statement (schema or SQL error)",
  },
  CHDB_MISSING: {
    kind: "internal",
    retryable: false,
    doc: "embedded mode was requested but the optional chdb package is not installed",
  },
  MIGRATION_FAILED: { kind: "internal", retryable: false, doc: "a migration statement failed" },
  MIGRATION_CHECKSUM_MISMATCH: {
    kind: "internal",
    retryable: false,
    doc: "an applied migration file was edited after it was applied",
  },
  STARTUP_CONFLICT: {
    kind: "conflict",
    retryable: false,
    doc: "start-up found its data folder or port held by another process (details.variable names the setting to change)",
  },
  SHUTTING_DOWN: {
    kind: "unavailable",
    retryable: true,
    doc: "the process is draining and takes no new work",
  },
});

/** Errors of the HTTP host itself (packages/http): before any app sees the request, or after none did. */
export const httpErrors = defineErrors({
  AUTH_TOKEN_INVALID: {
    kind: "unauthorized",
    retryable: false,
    doc: "APP_API_TOKEN is set and the dapr-api-token header is missing or different",
  },
  ADMIN_TOKEN_INVALID: {
    kind: "unauthorized",
    retryable: false,
    doc: "ADMIN_API_TOKEN is set and an /admin/* request lacks Authorization: Bearer <that token>",
  },
  ADMIN_DISABLED: {
    kind: "forbidden",
    retryable: false,
    doc: "ADMIN_API_TOKEN is unset: /admin/* answers none (split mode) or loopback only (embedded)",
  },
  REQUEST_MALFORMED_JSON: { kind: "malformed", retryable: false, doc: "the request body is not JSON" },
  REQUEST_MALFORMED_BODY: {
    kind: "malformed",
    retryable: false,
    doc: "the body does not decode as its content-encoding says",
  },
  REQUEST_TOO_LARGE: { kind: "too_large", retryable: false, doc: "the body is over the route's limit" },
  REQUEST_UNSUPPORTED_ENCODING: {
    kind: "unsupported",
    retryable: false,
    doc: "the body's content-encoding or charset is not one the host decodes",
  },
  ROUTE_NOT_FOUND: { kind: "not_found", retryable: false, doc: "no app serves this method and path" },
  INTERNAL: { kind: "internal", retryable: false, doc: "an unexpected error (logged; never a payload)" },
});
