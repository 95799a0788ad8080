import { Counter, Histogram, type Registry } from "prom-client";

/** Prometheus instruments of the query app, registered on the injected registry. */
export function createQueryMetrics(registry: Registry) {
  const httpSeconds = new Histogram({
    name: "budmetrics_query_http_request_duration_seconds",
    help: "Query app request latency by route and status",
    labelNames: ["route", "method", "status", "cache"],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const chSeconds = new Histogram({
    name: "budmetrics_query_clickhouse_duration_seconds",
    help: "ClickHouse statement time by statement kind and outcome",
    labelNames: ["statement", "outcome"],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const chResultRows = new Counter({
    name: "budmetrics_query_clickhouse_result_rows_total",
    help: "Rows returned by ClickHouse statements",
    labelNames: ["statement"],
    registers: [registry],
  });
  const chRowsRead = new Counter({
    name: "budmetrics_query_clickhouse_rows_read_estimated_total",
    help: "Rows ClickHouse reads, estimated: EXPLAIN ESTIMATE (granule precision) of a sample of statements (QUERY_ROWS_READ_SAMPLE_RATE), scaled to all",
    labelNames: ["statement"],
    registers: [registry],
  });
  const cacheEvents = new Counter({
    name: "budmetrics_query_cache_events_total",
    help: "Query cache lookups and failures",
    labelNames: ["event"],
    registers: [registry],
  });
  return { httpSeconds, chSeconds, chResultRows, chRowsRead, cacheEvents };
}

export type QueryMetrics = ReturnType<typeof createQueryMetrics>;
