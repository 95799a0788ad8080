import { createClickHouseEventTable, type ClickHouse } from "@budmetrics/clickhouse";
import { isAppError } from "@budmetrics/errors";
import { QUARANTINE_COLUMNS, Tables, type QuarantineRow } from "@budmetrics/schema";
import { createExactlyOnceWriter, type WriteResult } from "../ingest/exactly-once";
import type { EventKind } from "../ingest/kinds";
import type { ClaimStore, QuarantineSink, RowSink, WriteAheadLog } from "../ingest/ports";

/** Counts ClickHouse failures by error code (CLICKHOUSE_UNAVAILABLE, CLICKHOUSE_TIMEOUT, …). */
export type ClickHouseErrorHook = (code: string, operation: "insert" | "quarantine") => void;

/**
 * The row sink over ClickHouse: the exactly-once write (ingest/exactly-once.ts) on the ClickHouse
 * event table. Errors are already AppErrors with kind and retryable (translated in
 * packages/clickhouse); this adapter only reports them.
 */
export function createClickHouseRowSink(deps: {
  ch: ClickHouse;
  claims: ClaimStore;
  /** Batches in flight, replayed after a crash (embedded mode keeps it beside the engine's data). */
  wal?: WriteAheadLog;
  onError?: ClickHouseErrorHook;
  /** Where each committed write's time went (claims, identity check, insert; milliseconds). */
  onPhases?: (kind: EventKind, phasesMs: WriteResult["phasesMs"]) => void;
}): RowSink & { recover(): Promise<{ replayed: number; dropped: number }> } {
  const writer = createExactlyOnceWriter({
    table: createClickHouseEventTable(deps.ch),
    claims: deps.claims,
    ...(deps.wal ? { wal: deps.wal } : {}),
  });
  return {
    recover: () => writer.recover(),
    async write(kind, rows) {
      try {
        const result = await writer.write(kind, rows);
        deps.onPhases?.(kind, result.phasesMs);
        return result;
      } catch (err) {
        deps.onError?.(isAppError(err) ? err.code : "UNKNOWN", "insert");
        throw err;
      }
    },
  };
}

export function createClickHouseQuarantineSink(deps: {
  ch: ClickHouse;
  onError?: ClickHouseErrorHook;
}): QuarantineSink {
  return {
    async write(rows: readonly QuarantineRow[]) {
      if (rows.length === 0) return;
      const payload = Buffer.from(rows.map((r) => JSON.stringify(r)).join("\n") + "\n");
      try {
        await deps.ch.insertJsonEachRow(Tables.quarantine, payload, QUARANTINE_COLUMNS);
      } catch (err) {
        deps.onError?.(isAppError(err) ? err.code : "UNKNOWN", "quarantine");
        throw err;
      }
    },
  };
}
