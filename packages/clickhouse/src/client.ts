import fs from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { createClient, type ClickHouseClient } from "@clickhouse/client";
import { AppError, commonErrors } from "@budmetrics/errors";
import type { Logger } from "@budmetrics/logger";
import type { ClickHouseConfig } from "./config";
import { DeadlineExceeded, toClickHouseAppError } from "./errors";

export type ClickHouseMode = "embedded" | "server";

/**
 * The one ClickHouse surface of the product, the same in both modes. There is deliberately no
 * per-call `settings` argument: in embedded mode the client turns per-call settings into `SET` on
 * the shared session and they leak into every later call. Per-query limits go into the SQL as a
 * `SETTINGS` clause (see `withQuerySettings`), which applies to that statement only in both modes.
 */
export interface ClickHouse {
  readonly mode: ClickHouseMode;
  readonly database: string;
  /** Embedded mode: the engine's data folder (the process owns it; its own files may live beside). */
  readonly dataDir?: string;
  /** SELECT returning JSONEachRow rows. Values reach the engine as bound `{name:Type}` parameters. */
  query<T = Record<string, unknown>>(
    sql: string,
    params?: Record<string, unknown>,
    opts?: CallOptions,
  ): Promise<T[]>;
  /** DDL or any statement without a result. */
  command(sql: string, params?: Record<string, unknown>, opts?: CallOptions): Promise<void>;
  /**
   * Inserts a JSONEachRow payload (one object per line) into `table` of this database.
   * Resolves only after the engine has committed the rows. Never trust an insert summary for row
   * counts (chdb reports zero); count rows before sending.
   */
  insertJsonEachRow(
    table: string,
    payload: Buffer,
    columns: readonly string[],
    opts?: CallOptions,
  ): Promise<void>;
  ping(): Promise<{ ok: true } | { ok: false; error: string; detail: string }>;
  close(): Promise<void>;
}

export interface CallOptions {
  /** Overrides CLICKHOUSE_REQUEST_TIMEOUT_MS for this call. */
  timeoutMs?: number;
  queryId?: string;
  /**
   * Inserts only: settings of this INSERT statement (its own SETTINGS clause in both modes, never
   * the session's), e.g. an insert deduplication token.
   */
  insertSettings?: Readonly<Record<string, number | string>>;
}

/** Settings applied once per session (embedded) or on every request by the client (server). */
export const SESSION_SETTINGS = {
  date_time_input_format: "best_effort",
  date_time_output_format: "iso",
  output_format_json_quote_64bit_integers: 0,
  output_format_decimal_trailing_zeros: 0,
} as const;

/**
 * Statement-level settings of every insert. `optimize_on_insert = 0`: the engine would otherwise
 * collapse equal sorting keys inside each inserted block (and each block the views write) — wasted
 * work here, since the writer deduplicates a batch before sending it and the views' output is already
 * grouped by key; merges and FINAL still collapse as before. Measured on the full schema: a 20k-row
 * insert 592 → 454 ms (median of 8, one run). Never a session setting: per-call settings leak into the
 * shared session in embedded mode.
 *
 * The other two keep "acknowledged only after the rows are committed" true whatever the server's
 * profile says. `async_insert = 0`: a server whose default profile turns asynchronous inserts on
 * (the Bud stack's ClickHouse sets async_insert = 1, wait_for_async_insert = 0) would otherwise answer
 * before the rows are written. `distributed_foreground_insert = 1`: in cluster mode the writer inserts
 * into the Distributed table, which by default answers once the rows are queued on the receiving node
 * and sends them to the shards later; with it the insert returns after every shard has them, so the
 * existence check and the rollups see them at once. Both are ignored where they do not apply.
 */
export const INSERT_SETTINGS = {
  optimize_on_insert: 0,
  async_insert: 0,
  distributed_foreground_insert: 1,
} as const;

/** Appends a statement-level SETTINGS clause: the way to give one query its own limits in both modes. */
export function withQuerySettings(sql: string, settings: Record<string, number | string>): string {
  const entries = Object.entries(settings);
  if (entries.length === 0) return sql;
  const parts = entries.map(([k, v]) => {
    if (!/^[a-z_][a-z0-9_]*$/.test(k)) throw new Error(`invalid setting name ${k}`);
    const value = typeof v === "number" ? String(v) : `'${v.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
    return `${k} = ${value}`;
  });
  return `${sql.trimEnd()}\nSETTINGS ${parts.join(", ")}`;
}

interface ChdbConnectionLike {
  chdb: {
    rawInsert(p: {
      table: string;
      values: Buffer;
      format: "JSONEachRow";
      columns?: readonly string[];
      settings?: Readonly<Record<string, number | string>>;
    }): Promise<unknown>;
  };
}

function loadChdbConnection(): { createChdbConnection: (o: { path: string }) => unknown } {
  try {
    // Loaded lazily: chdb is an optional dependency (~570 MB) that server-mode images leave out.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require("chdb/connection");
  } catch (err) {
    throw commonErrors.create(
      "CHDB_MISSING",
      "CLICKHOUSE_URL is not set, so the embedded engine is needed, but the optional package chdb is not installed " +
        "(run `pnpm install` without --no-optional, or set CLICKHOUSE_URL to a ClickHouse server)",
      { cause: err },
    );
  }
}

/**
 * The engine locks `<dataDir>/status` and writes its process id there. A live process under that id
 * (other than this one) holds the folder: refused as STARTUP_CONFLICT naming DATA_DIR. A status file
 * left by a killed process names a dead id and is no conflict. Where /proc exists, an id reused by a
 * process that is not node is not taken for the holder either.
 */
export function assertDataDirFree(dataDir: string, cause?: unknown): void {
  const holder = dataDirHolder(dataDir);
  if (holder === null) return;
  throw commonErrors.create(
    "STARTUP_CONFLICT",
    `the data folder ${dataDir} is in use by process ${holder}: stop that process or set DATA_DIR to another folder`,
    { details: { variable: "DATA_DIR" }, ...(cause === undefined ? {} : { cause }) },
  );
}

function dataDirHolder(dataDir: string): number | null {
  let text: string;
  try {
    text = fs.readFileSync(path.join(dataDir, "status"), "utf8");
  } catch {
    return null;
  }
  const pid = Number(/^PID:\s*(\d+)/m.exec(text)?.[1]);
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return null;
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: alive but another user's; ESRCH: gone.
    if ((err as NodeJS.ErrnoException).code !== "EPERM") return null;
  }
  try {
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8");
    if (!/node|budmetrics|chdb/i.test(cmdline)) return null;
  } catch (err) {
    // Gone since the check; without /proc (macOS) the live id is all there is to go by.
    if ((err as NodeJS.ErrnoException).code === "ENOENT" && fs.existsSync("/proc/self")) return null;
  }
  return pid;
}

export async function createClickHouse(config: ClickHouseConfig, log: Logger): Promise<ClickHouse> {
  const chLog = log.child({ component: "clickhouse" });
  const database = config.CLICKHOUSE_DATABASE;
  const timeoutMs = config.CLICKHOUSE_REQUEST_TIMEOUT_MS;
  let client: ClickHouseClient;
  let rawInsert: ChdbConnectionLike["chdb"]["rawInsert"] | undefined;
  let mode: ClickHouseMode;
  let dataDir: string | undefined;

  if (config.CLICKHOUSE_URL) {
    mode = "server";
    client = createClient({
      url: config.CLICKHOUSE_URL,
      username: config.CLICKHOUSE_USER,
      password: config.CLICKHOUSE_PASSWORD,
      // The database may not exist yet; statements name it explicitly.
      request_timeout: timeoutMs + 5_000,
      max_open_connections: config.CLICKHOUSE_MAX_OPEN_CONNECTIONS,
      application: config.CLICKHOUSE_APPLICATION,
      compression: { request: false, response: true },
      clickhouse_settings: { ...SESSION_SETTINGS },
    });
  } else {
    mode = "embedded";
    dataDir = path.resolve(config.DATA_DIR);
    fs.mkdirSync(dataDir, { recursive: true });
    const { createChdbConnection } = loadChdbConnection();
    // Checked before opening: the engine prints its own lock error to stderr when it fails.
    assertDataDirFree(dataDir);
    let connection: unknown;
    try {
      connection = createChdbConnection({ path: dataDir });
    } catch (err) {
      assertDataDirFree(dataDir, err);
      throw err;
    }
    client = createClient({ connection } as unknown as Parameters<typeof createClient>[0]);
    const ext = (connection as ChdbConnectionLike).chdb;
    rawInsert = ext.rawInsert.bind(ext);
    // Session settings exactly once, before any other call (later SETs would leak into every call).
    for (const [k, v] of Object.entries(SESSION_SETTINGS)) {
      await client.command({ query: `SET ${k} = ${typeof v === "number" ? v : `'${v}'`}` });
    }
    chLog.info({ dataDir }, "embedded clickhouse opened");
  }

  async function guarded<T>(
    what: string,
    opts: CallOptions | undefined,
    fn: (signal: AbortSignal) => Promise<T>,
  ) {
    const ms = opts?.timeoutMs ?? timeoutMs;
    const ac = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const call = fn(ac.signal);
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        ac.abort();
        // In process the call cannot be cancelled and goes on; its outcome stays knowable.
        const settled =
          mode === "embedded"
            ? call.then(
                () => "succeeded" as const,
                () => "failed" as const,
              )
            : undefined;
        reject(new DeadlineExceeded(ms, settled));
      }, ms);
    });
    try {
      return await Promise.race([call, deadline]);
    } catch (err) {
      throw toClickHouseAppError(err, what);
    } finally {
      clearTimeout(timer);
    }
  }

  const ch: ClickHouse = {
    mode,
    database,
    ...(dataDir ? { dataDir } : {}),
    query<T>(sql: string, params?: Record<string, unknown>, opts?: CallOptions) {
      return guarded("query", opts, async (signal) => {
        const rs = await client.query({
          query: sql,
          format: "JSONEachRow",
          ...(params ? { query_params: params } : {}),
          ...(mode === "server" ? { abort_signal: signal } : {}),
          ...(opts?.queryId ? { query_id: opts.queryId } : {}),
        });
        return (await rs.json()) as T[];
      });
    },
    command(sql: string, params?: Record<string, unknown>, opts?: CallOptions) {
      return guarded("command", opts, async (signal) => {
        await client.command({
          query: sql,
          ...(params ? { query_params: params } : {}),
          ...(mode === "server" ? { abort_signal: signal } : {}),
        });
      });
    },
    insertJsonEachRow(table, payload, columns, opts) {
      const qualified = `${database}.${table}`;
      const settings = { ...INSERT_SETTINGS, ...opts?.insertSettings };
      return guarded(`insert into ${table}`, opts, async (signal) => {
        if (rawInsert) {
          // Zero-copy handover; the engine parses JSONEachRow on its own threads.
          await rawInsert({
            table: qualified,
            values: payload,
            format: "JSONEachRow",
            columns,
            settings,
          });
          return;
        }
        const cols = columns.map((c) => `\`${c}\``).join(", ");
        const result = await client.exec({
          query: `${withQuerySettings(`INSERT INTO ${qualified} (${cols})`, settings)} FORMAT JSONEachRow`,
          values: Readable.from([payload]),
          abort_signal: signal,
        });
        result.stream.destroy();
      });
    },
    async ping() {
      try {
        await guarded("ping", { timeoutMs: Math.min(timeoutMs, 2_000) }, async () => {
          const rows = await ch.query<{ ok: number }>("SELECT 1 AS ok");
          if (rows[0]?.ok !== 1) throw new Error("unexpected ping answer");
        });
        return { ok: true };
      } catch (err) {
        // `error` may reach a health answer: public words only; `detail` (engine text) is for logs and CLIs.
        const detail = err instanceof Error ? err.message : String(err);
        const error = err instanceof AppError ? err.publicMessage : "ClickHouse did not answer the ping";
        return { ok: false, error, detail };
      }
    },
    async close() {
      await client.close();
    },
  };
  return ch;
}
