import { withQuerySettings, type ClickHouse } from "@budmetrics/clickhouse";
import type { Logger } from "@budmetrics/logger";
import { queryErrors } from "../errors";

export interface OptimizeResult {
  object: "optimize_result";
  final: boolean;
  tables: Array<{ table: string; partitions: number; duration_ms: number }>;
  duration_ms: number;
}

export interface Optimizer {
  /** Rejects with ADMIN_OPTIMIZE_RUNNING (409) while another run is in progress. */
  run(tables: readonly string[], final: boolean): Promise<OptimizeResult>;
  readonly running: boolean;
}

/**
 * POST /admin/optimize with its load bounded, so health and ingestion keep answering:
 * 1. one run per process at a time (a second is refused, not queued: a caller that retries sees
 *    the first one finish);
 * 2. one table at a time, and within a table one partition at a time: the embedded engine runs one
 *    statement at a time, so an OPTIMIZE of a whole table held every insert and health check for
 *    its whole duration; per partition, statements queued meanwhile run between two partitions;
 * 3. each statement with `max_threads = 1` (statement-level SETTINGS, never the session's).
 * Table names come from the endpoint's allow-list; partition ids from system.parts, checked below.
 */
export function createOptimizer(ch: ClickHouse, log: Logger): Optimizer {
  let running = false;
  const db = ch.database;

  async function partitionsOf(table: string, final: boolean): Promise<string[]> {
    const rows = await ch.query<{ partition_id: string; parts: number | string }>(
      `SELECT partition_id, count() AS parts FROM system.parts
       WHERE database = {db:String} AND table = {table:String} AND active
       GROUP BY partition_id ORDER BY partition_id`,
      { db, table },
    );
    // Without FINAL a partition of one part has nothing to merge.
    return rows.filter((r) => final || Number(r.parts) > 1).map((r) => r.partition_id);
  }

  async function optimizeTable(table: string, final: boolean) {
    const t0 = performance.now();
    const partitions = await partitionsOf(table, final);
    for (const id of partitions) {
      if (!/^[A-Za-z0-9_-]+$/.test(id)) throw new Error(`unexpected partition id ${JSON.stringify(id)}`);
      await ch.command(
        withQuerySettings(`OPTIMIZE TABLE ${db}.${table} PARTITION ID '${id}'${final ? " FINAL" : ""}`, {
          max_threads: 1,
        }),
        undefined,
        { timeoutMs: 600_000 },
      );
      // Let what queued behind this statement reach the engine before the next partition.
      await new Promise((resolve) => setImmediate(resolve));
    }
    return { table, partitions: partitions.length, duration_ms: Math.round(performance.now() - t0) };
  }

  return {
    get running() {
      return running;
    },
    async run(tables, final) {
      if (running) {
        throw queryErrors.create(
          "ADMIN_OPTIMIZE_RUNNING",
          "an optimize is already running in this process: wait for it to finish, then try again",
        );
      }
      running = true;
      const started = performance.now();
      try {
        const done = [];
        for (const t of tables) done.push(await optimizeTable(t, final));
        const result: OptimizeResult = {
          object: "optimize_result",
          final,
          tables: done,
          duration_ms: Math.round(performance.now() - started),
        };
        log.info({ final, tables: done.length, durationMs: result.duration_ms }, "optimize finished");
        return result;
      } finally {
        running = false;
      }
    },
  };
}
