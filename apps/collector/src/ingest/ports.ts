import type { QuarantineRow } from "@budmetrics/schema";
import type { EventKind, StorageTarget } from "./kinds";

/** One row ready to write: its identity, its event time and its JSONEachRow line (serialised once). */
export interface PreparedRow {
  /** The identity: inference_id for inferences; `${source}\u0001${id}` for samples. */
  key: string;
  /** Event time in epoch ms. */
  timeMs: number;
  line: string;
}

/**
 * inserted — this write committed the row; duplicate — the key was already stored (or appears earlier
 * in the same write and was committed by it); retry — another writer holds an uncommitted claim on the
 * key: answer RETRY, write nothing; unstorable — the engine refused a value of this row (its siblings
 * were stored): quarantine it, answer DROP.
 */
export type WriteOutcome = "inserted" | "duplicate" | "retry" | "unstorable";

/**
 * Claims stop a duplicate before it reaches the raw table: the rollup's materialized view sees every
 * insert, so the only place to drop a redelivered event is before the INSERT. Life of a key: claim
 * (pending, short TTL) → confirm after commit (committed, long TTL) or release on failure. A claim is
 * never kept across a failed write: that would lose the event on retry.
 */
export type ClaimState = "claimed" | "pending_elsewhere" | "committed";

export interface ClaimStore {
  /** Tries to claim each key. `claimed` = this caller now owns it and must confirm or release it. */
  claim(keys: readonly string[]): Promise<Map<string, ClaimState>>;
  /** The rows are committed: remember the keys as stored. */
  confirm(keys: readonly string[]): Promise<void>;
  /** The write failed: free the keys so a redelivery can write them. */
  release(keys: readonly string[]): Promise<void>;
  close?(): Promise<void>;
}

/** What a failed insert left behind: nothing (`failed`), maybe something (`unknown`), or later news. */
export type InsertOutcome = "failed" | "unknown" | Promise<"succeeded" | "failed">;

/** The table side of the exactly-once write (ClickHouse in production: packages/clickhouse event-table). */
export interface EventTable {
  /** The keys among `rows` that are already stored (the identity check). */
  findStored(target: StorageTarget, rows: readonly PreparedRow[]): Promise<Set<string>>;
  /**
   * Inserts a JSONEachRow payload; resolves only after the commit. With a token, inserting the same
   * payload again with the same token is idempotent in every table the insert writes (the raw table
   * and each table its views feed): what a table already has it skips, what it missed it takes.
   */
  insert(target: StorageTarget, payload: Buffer, token?: string): Promise<void>;
  insertOutcome(err: unknown): InsertOutcome;
  /** The engine refused a value of a row (its own data), not the statement or the service. */
  isRowDataError(err: unknown): boolean;
}

/**
 * Where committed rows go: the exactly-once write (claims, identity check, insert). Outcomes are
 * index-aligned with `rows`. Resolves only after the commit; throws an AppError (with `retryable`)
 * when nothing can be acknowledged.
 */
export interface RowSink {
  write(kind: EventKind, rows: readonly PreparedRow[]): Promise<{ outcomes: WriteOutcome[] }>;
}

/**
 * Batches being written, kept until they are committed: after a crash between the parts of one insert
 * (the raw table committed, a rollup not), each logged batch is inserted again with its token, which
 * completes it (EventTable.insert). The file adapter keeps it beside the embedded engine's data.
 */
export interface WriteAheadLog {
  append(entry: { token: string; kind: EventKind; payload: Buffer }): Promise<void>;
  remove(token: string): Promise<void>;
  pending(): Promise<Array<{ token: string; kind: EventKind; payload: Buffer }>>;
}

/** Where rejected events are kept with their reason. Resolves after the commit. */
export interface QuarantineSink {
  write(rows: readonly QuarantineRow[]): Promise<void>;
}
