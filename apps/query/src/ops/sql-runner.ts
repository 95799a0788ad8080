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

/** One statement of a request, as `meta` reports it. */
export interface StatementRecord {
  label: string;
  ms: number;
  result_rows: number;
  /** Engine's estimate (EXPLAIN ESTIMATE: granules of the parts it would read); explain only. */
  rows_read?: number | null;
  /** rows_read × each table's average stored row size; explain only. */
  bytes_read?: number | null;
}

/** Per-request accumulator of engine time, so a request can report its steps. */
export interface ExecClock {
  executeMs: number;
  statements: number;
  resultRows: number;
  /**
   * Set by `?explain=1`: each statement is recorded with its SQL, so its read can be estimated once
   * the answer is made (the estimates stay out of the request's step timings).
   */
  explain?: Array<{ record: StatementRecord; query: BuiltQuery }>;
}

export function createSqlRunner(
  ch: ClickHouse,
  guard: Guardrails,
  metrics: QueryMetrics,
  clock?: ExecClock,
  /** Share of statements whose rows read are estimated (EXPLAIN ESTIMATE, after the answer). */
  rowsReadSampleRate = 0.1,
  /**
   * Those estimates while they run, for the owner to wait for before it closes the engine (a
   * statement still running when the embedded engine is closed holds its data folder open).
   */
  pending?: Set<Promise<unknown>>,
): SqlRunner {
  return {
    db: ch.database,
    async run<T>(label: string, q: BuiltQuery, opts: { maxResultRows?: number } = {}): Promise<T[]> {
      // Statement-level SETTINGS only: in embedded mode a per-call setting is SET on the shared
      // session and leaks into every later call (docs/ARCHITECTURE.md, "Two ways to run").
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
          const estimate = estimateRows(ch, q).then((n) => {
            if (n !== null) metrics.chRowsRead.inc({ statement: kind }, n / rowsReadSampleRate);
          });
          pending?.add(estimate);
          void estimate.finally(() => pending?.delete(estimate));
        }
        if (clock) {
          clock.executeMs += ms;
          clock.statements += 1;
          clock.resultRows += rows.length;
          clock.explain?.push({ record: { label, ms, result_rows: rows.length }, query: q });
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
            // Which limit, in the API's words: the engine's error type stays in the log (the cause).
            { cause: err, details: { limit: publicLimit(err.details?.reason) } },
          );
        }
        throw err;
      }
    },
  };
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

/** Rows (EXPLAIN ESTIMATE) and bytes (× each table's average stored row size) a SELECT would read. */
export async function estimateRead(
  ch: ClickHouse,
  q: BuiltQuery,
): Promise<{ rows_read: number | null; bytes_read: number | null }> {
  try {
    const est = await ch.query<{ table: string; rows: number | string }>(
      `EXPLAIN ESTIMATE ${q.query}`,
      q.query_params,
    );
    const tables = [...new Set(est.map((e) => e.table))];
    const sizes = await ch.query<{ table: string; row_bytes: number }>(
      "SELECT table, sum(bytes_on_disk) / greatest(sum(rows), 1) AS row_bytes FROM system.parts " +
        "WHERE database = {db:String} AND active AND table IN {tables:Array(String)} GROUP BY table",
      { db: ch.database, tables },
    );
    const rowBytes = new Map(sizes.map((s) => [s.table, Number(s.row_bytes)]));
    let rows = 0;
    let bytes = 0;
    for (const e of est) {
      rows += Number(e.rows);
      bytes += Number(e.rows) * (rowBytes.get(e.table) ?? 0);
    }
    return { rows_read: rows, bytes_read: Math.round(bytes) };
  } catch {
    return { rows_read: null, bytes_read: null };
  }
}

/** The guardrail an engine limit error stands for, as the API names it (docs/QUERY.md, guardrails). */
function publicLimit(engineType: unknown): "time" | "memory" | "rows_or_bytes" | "unknown" {
  switch (engineType) {
    case "TIMEOUT_EXCEEDED":
    case "QUERY_WAS_CANCELLED":
      return "time";
    case "MEMORY_LIMIT_EXCEEDED":
      return "memory";
    case "TOO_MANY_ROWS":
    case "TOO_MANY_BYTES":
    case "TOO_MANY_ROWS_OR_BYTES":
      return "rows_or_bytes";
    default:
      return "unknown";
  }
}
