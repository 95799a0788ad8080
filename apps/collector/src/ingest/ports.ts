import type { PreparedRow, WriteOutcome } from "@budmetrics/clickhouse";
import type { QuarantineRow } from "@budmetrics/schema";
import type { EventKind } from "./parse-event";

export type { PreparedRow, WriteOutcome };

/**
 * Where committed rows go. Implemented by the ClickHouse event writer (claims, existence check,
 * insert); outcomes are index-aligned with `rows`. Resolves only after the commit; throws an
 * AppError (with `retryable`) when nothing can be acknowledged.
 */
export interface RowSink {
  write(kind: EventKind, rows: readonly PreparedRow[]): Promise<{ outcomes: WriteOutcome[] }>;
}

/** Where rejected events are kept with their reason. Resolves after the commit. */
export interface QuarantineSink {
  write(rows: readonly QuarantineRow[]): Promise<void>;
}
