import { Tables, toChDateTime64 } from "@budmetrics/schema";
import type { ClickHouse } from "./client";
import { isAppError } from "@budmetrics/errors";
import { insertOutcome } from "./errors";

/**
 * Where one kind of event is stored, and how its identity is looked up:
 *   `inference_id` — by the id alone, in the id table (sorted by the id's bytes, fed by a view on the
 *                    raw table: migrations/0007), whatever time the event carries;
 *   `source_id_in_time` — (CloudEvent source, id) within the batch's time range, in the table itself.
 */
export interface EventTableTarget {
  table: string;
  columns: readonly string[];
  identity: { by: "inference_id" } | { by: "source_id_in_time"; timeColumn: string };
}

/** One row ready to write: its identity, its event time and its JSONEachRow line (serialised once). */
export interface StoredRow {
  /** inference_id for inferences; `${source}\u0001${id}` for samples. */
  key: string;
  /** Event time in epoch ms (bounds a time-window identity check). */
  timeMs: number;
  line: string;
}

/** What a failed insert left behind (see `insertOutcome`): free claims only on `failed`. */
export type InsertOutcome = "failed" | "unknown" | Promise<"succeeded" | "failed">;

/** The ClickHouse side of the collector's exactly-once write: look identities up, insert, classify. */
export interface ClickHouseEventTable {
  findStored(target: EventTableTarget, rows: readonly StoredRow[]): Promise<Set<string>>;
  insert(target: EventTableTarget, payload: Buffer, token?: string): Promise<void>;
  insertOutcome(err: unknown): InsertOutcome;
  /** The engine refused a value of a row (a parse or range error), not the statement or the service. */
  isRowDataError(err: unknown): boolean;
}

/**
 * Largest id list sent in one look-up. Over HTTP the list travels in the URL (`param_ids`, ≈39 bytes
 * per UUID), which ClickHouse caps at 1 MiB (http_max_uri_size): 5,000 ids stay far below it. The
 * embedded engine takes parameters in process.
 */
const LOOKUP_CHUNK = { embedded: 50_000, server: 5_000 } as const;

export function createClickHouseEventTable(ch: ClickHouse): ClickHouseEventTable {
  const db = ch.database;
  async function lookUp(target: EventTableTarget, chunk: readonly StoredRow[]): Promise<string[]> {
    const identity = target.identity;
    if (identity.by === "inference_id") {
      const rows = await ch.query<{ k: string }>(
        `SELECT toString(inference_id) AS k FROM ${db}.${Tables.inferenceIds} ` +
          "WHERE UUIDToNum(inference_id) IN (SELECT UUIDToNum(arrayJoin({ids:Array(UUID)})))",
        { ids: chunk.map((r) => r.key) },
      );
      return rows.map((r) => r.k);
    }
    let min = Infinity;
    let max = -Infinity;
    for (const r of chunk) {
      if (r.timeMs < min) min = r.timeMs;
      if (r.timeMs > max) max = r.timeMs;
    }
    const keys = chunk.map((r) => r.key);
    const rows = await ch.query<{ k: string }>(
      `SELECT concat(event_source, '\\x01', event_id) AS k FROM ${db}.${target.table} ` +
        `WHERE ${identity.timeColumn} BETWEEN {from:DateTime64(3, 'UTC')} AND {to:DateTime64(3, 'UTC')} ` +
        "AND event_id IN {ids:Array(String)} AND concat(event_source, '\\x01', event_id) IN {keys:Array(String)}",
      {
        from: toChDateTime64(min),
        to: toChDateTime64(max),
        ids: keys.map((k) => k.slice(k.indexOf("\u0001") + 1)),
        keys,
      },
    );
    return rows.map((r) => r.k);
  }
  return {
    async findStored(target, rows) {
      const found = new Set<string>();
      const size = LOOKUP_CHUNK[ch.mode];
      for (let i = 0; i < rows.length; i += size) {
        for (const k of await lookUp(target, rows.slice(i, i + size))) found.add(k);
      }
      return found;
    },
    insert: (target, payload, token) =>
      ch.insertJsonEachRow(target.table, payload, target.columns, {
        // Idempotent by token in the raw table and in every table its views feed (migrations/0012).
        ...(token
          ? {
              insertSettings: {
                insert_deduplication_token: token,
                deduplicate_blocks_in_dependent_materialized_views: 1,
              },
            }
          : {}),
      }),
    insertOutcome: (err) => insertOutcome(err, ch.mode),
    isRowDataError: (err) => isAppError(err) && err.details?.dataError === true,
  };
}

/**
 * The retention (TTL, in days) each table was created with, read from the engine: the setting only
 * applies when a table is created, so the table itself is the truth. 0 = keeps everything. In cluster
 * mode the shard-local table holds the TTL.
 */
export async function readRetentionDays(
  ch: ClickHouse,
  tables: readonly string[],
): Promise<Record<string, number>> {
  const names = tables.flatMap((t) => [t, `${t}_local`]);
  const rows = await ch.query<{ name: string; ddl: string }>(
    "SELECT name, create_table_query AS ddl FROM system.tables WHERE database = {db:String} AND name IN {names:Array(String)}",
    { db: ch.database, names },
  );
  const out: Record<string, number> = {};
  for (const t of tables) {
    const ddl = rows.find((r) => r.name === `${t}_local`)?.ddl ?? rows.find((r) => r.name === t)?.ddl ?? "";
    const m = /\bTTL\b[^,]*?toIntervalDay\((\d+)\)/.exec(ddl);
    out[t] = m ? Number(m[1]) : 0;
  }
  return out;
}
