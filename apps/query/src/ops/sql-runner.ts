/** ClickHouse adapter of the SqlRunner port: guardrails in the SQL, timing, limit errors mapped to 422. */
import { withQuerySettings, type ClickHouse } from "@budmetrics/clickhouse";
import { isAppError } from "@budmetrics/errors";
import type { BuiltQuery } from "../analytics/queries";
import { queryErrors } from "../errors";
import type { SqlRunner } from "../ports";
import type { QueryMetrics } from "./metrics";

export interface Guardrails {
  maxExecutionSeconds: number;
  maxMemoryBytes: number;
  maxRowsToRead: number;
}

/** Per-request accumulator of engine time, so a request can report plan / execute / serialise. */
export interface ExecClock {
  executeMs: number;
  statements: number;
  resultRows: number;
}

export function createSqlRunner(
  ch: ClickHouse,
  guard: Guardrails,
  metrics: QueryMetrics,
  clock?: ExecClock,
  /** Share of statements whose rows read are estimated (EXPLAIN ESTIMATE, after the answer). */
  rowsReadSampleRate = 0.1,
): SqlRunner {
  return {
    db: ch.database,
    async run<T>(label: string, q: BuiltQuery, opts: { maxResultRows?: number } = {}): Promise<T[]> {
      // Statement-level SETTINGS only: per-call settings would leak in embedded mode (BRIEF §2).
      const sql = withQuerySettings(q.query, {
        max_execution_time: guard.maxExecutionSeconds,
        timeout_overflow_mode: "throw",
        max_memory_usage: guard.maxMemoryBytes,
        max_rows_to_read: guard.maxRowsToRead,
        read_overflow_mode: "throw",
        ...(opts.maxResultRows ? { max_result_rows: opts.maxResultRows, result_overflow_mode: "throw" } : {}),
      });
      const started = performance.now();
      const kind = label.split(".").pop() ?? label;
      try {
        const rows = await ch.query<T>(sql, q.query_params, {
          timeoutMs: guard.maxExecutionSeconds * 1000 + 5_000,
        });
        const ms = performance.now() - started;
        metrics.chSeconds.observe({ statement: kind, outcome: "ok" }, ms / 1000);
        metrics.chResultRows.inc({ statement: kind }, rows.length);
        if (rowsReadSampleRate > 0 && Math.random() < rowsReadSampleRate) {
          // Off the request path, for a sample of statements: the engine's estimate of rows read
          // (granule precision), scaled by 1/rate so the counter estimates the total.
          void estimateRows(ch, q).then((n) => {
            if (n !== null) metrics.chRowsRead.inc({ statement: kind }, n / rowsReadSampleRate);
          });
        }
        if (clock) {
          clock.executeMs += ms;
          clock.statements += 1;
          clock.resultRows += rows.length;
        }
        return rows;
      } catch (err) {
        metrics.chSeconds.observe(
          { statement: kind, outcome: "error" },
          (performance.now() - started) / 1000,
        );
        if (isAppError(err) && err.code === "CLICKHOUSE_QUERY_LIMIT") {
          throw queryErrors.create(
            "QUERY_TOO_EXPENSIVE",
            "The request hit a query limit (time, memory, rows read or result size): narrow your request " +
              "(shorter range, coarser interval, fewer groups or more filters)",
            { cause: err, details: { reason: err.details?.reason ?? null } },
          );
        }
        throw err;
      }
    },
  };
}

/** A runner for one request: same guardrails, its own clock. */
export function withClock(
  base: { ch: ClickHouse; guard: Guardrails; metrics: QueryMetrics },
  clock: ExecClock,
) {
  return createSqlRunner(base.ch, base.guard, base.metrics, clock);
}

/** Rows the engine expects to read for a SELECT (EXPLAIN ESTIMATE: parts × granules, no data read). */
export async function estimateRows(ch: ClickHouse, q: BuiltQuery): Promise<number | null> {
  try {
    const rows = await ch.query<{ rows: number | string }>(`EXPLAIN ESTIMATE ${q.query}`, q.query_params);
    return rows.reduce((n, r) => n + Number(r.rows), 0);
  } catch {
    return null;
  }
}
