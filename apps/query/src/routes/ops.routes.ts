import type { ClickHouse } from "@budmetrics/clickhouse";
import { toNumber } from "@budmetrics/schema";
import { buildTableStatsQuery } from "../browse/queries";
import type { Endpoint } from "../http/endpoint";
import { emptyQuery, optimizeBody, OPTIMIZABLE_TABLES } from "../http/schemas";
import type { Cache } from "../ports";
import type { PerfTracker } from "../ops/perf";
import type { HotCache } from "../cache/hot-cache";

export function opsEndpoints(deps: {
  ch: ClickHouse;
  cache: Cache;
  hot: HotCache;
  perf: PerfTracker;
}): Endpoint[] {
  return [
    {
      method: "get",
      path: "/observability/health",
      tag: "operations",
      summary: "Health of the query app: ClickHouse and cache",
      query: emptyQuery,
      prepare() {
        return {
          async run() {
            const [ping, cache] = await Promise.all([deps.ch.ping(), deps.cache.health()]);
            const clickhouse = ping.ok
              ? { status: "ok", mode: deps.ch.mode }
              : { status: "down", error: ping.error };
            const status = !ping.ok ? "down" : cache.status !== "ok" ? "degraded" : "ok";
            return { body: { status, components: { clickhouse, cache } }, status: ping.ok ? 200 : 503 };
          },
        };
      },
    },
    {
      method: "get",
      path: "/admin/stats",
      tag: "operations",
      summary: "Rows, parts and sizes of every table (system.parts)",
      query: emptyQuery,
      prepare() {
        return {
          async run(rc) {
            const rows = await rc.sql.run<Record<string, unknown>>(
              "admin_stats",
              buildTableStatsQuery(rc.sql.db),
            );
            const tables = rows.map((r) => ({
              table: r.table,
              rows: toNumber(r.rows),
              parts: toNumber(r.parts),
              bytes_on_disk: toNumber(r.bytes_on_disk),
              compressed_bytes: toNumber(r.compressed_bytes),
              uncompressed_bytes: toNumber(r.uncompressed_bytes),
            }));
            return {
              body: {
                object: "database_stats",
                database: rc.sql.db,
                total_rows: tables.reduce((s, t) => s + t.rows, 0),
                total_bytes_on_disk: tables.reduce((s, t) => s + t.bytes_on_disk, 0),
                tables,
              },
            };
          },
        };
      },
    },
    {
      method: "post",
      path: "/admin/optimize",
      tag: "operations",
      summary: "Merge parts of the listed tables (all by default); FINAL merges everything",
      body: optimizeBody,
      prepare(input) {
        const b = input.body as { tables?: (typeof OPTIMIZABLE_TABLES)[number][]; final?: boolean };
        const tables = b.tables ?? [...OPTIMIZABLE_TABLES];
        return {
          async run() {
            const started = performance.now();
            const done: Array<{ table: string; duration_ms: number }> = [];
            for (const t of tables) {
              const t0 = performance.now();
              // Table names come from the allow-list of the schema (enum), never from free text.
              await deps.ch.command(
                `OPTIMIZE TABLE ${deps.ch.database}.${t}${b.final ? " FINAL" : ""}`,
                undefined,
                {
                  timeoutMs: 600_000,
                },
              );
              done.push({ table: t, duration_ms: Math.round(performance.now() - t0) });
            }
            return {
              body: {
                object: "optimize_result",
                final: b.final ?? false,
                tables: done,
                duration_ms: Math.round(performance.now() - started),
              },
            };
          },
        };
      },
    },
    {
      method: "get",
      path: "/admin/metrics/cache",
      tag: "operations",
      summary: "Cache hits, misses, hit rate, keys and errors",
      query: emptyQuery,
      prepare() {
        return {
          async run() {
            return {
              body: { object: "cache_stats", ...(await deps.cache.stats()), process_layer: deps.hot.stats() },
            };
          },
        };
      },
    },
    {
      method: "get",
      path: "/metrics/query-performance",
      tag: "operations",
      summary: "Recent slow requests with time split into plan / execute / serialise, and per-route p50/p95",
      query: emptyQuery,
      prepare() {
        return {
          async run() {
            return { body: deps.perf.report() };
          },
        };
      },
    },
  ];
}
