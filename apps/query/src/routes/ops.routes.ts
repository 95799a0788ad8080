import type { ClickHouse } from "@budmetrics/clickhouse";
import { toNumber } from "@budmetrics/schema";
import { buildTableStatsQuery } from "../browse/queries";
import type { Endpoint } from "../http/endpoint";
import { emptyQuery, optimizeBody, OPTIMIZABLE_TABLES } from "../http/schemas";
import type { Cache } from "../ports";
import type { PerfTracker } from "../ops/perf";
import type { HotCache } from "../cache/hot-cache";
import type { Logger } from "@budmetrics/logger";
import { createOptimizer } from "../ops/optimize";

export function opsEndpoints(deps: {
  ch: ClickHouse;
  cache: Cache;
  hot: HotCache;
  perf: PerfTracker;
  log: Logger;
}): Endpoint[] {
  const optimizer = createOptimizer(deps.ch, deps.log.child({ component: "optimize" }));
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
      summary:
        "Merge parts of the listed tables (all by default); FINAL merges everything. One run at a time (409 " +
        "ADMIN_OPTIMIZE_RUNNING), one partition at a time so ingestion and health keep answering",
      responses: { "409": "another optimize is running (ADMIN_OPTIMIZE_RUNNING)" },
      body: optimizeBody,
      prepare(input) {
        const b = input.body as { tables?: (typeof OPTIMIZABLE_TABLES)[number][]; final?: boolean };
        const tables = b.tables ?? [...OPTIMIZABLE_TABLES];
        return {
          async run() {
            return { body: await optimizer.run(tables, b.final ?? false) };
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
