import express from "express";
import type { Registry } from "prom-client";
import type { ClickHouse } from "@budmetrics/clickhouse";
import type { Logger } from "@budmetrics/logger";
import { commonErrors } from "@budmetrics/errors";
import { sendError, type MountedApp } from "@budmetrics/http";
import type { QueryConfig } from "./config";
import type { Cache } from "./ports";
import { createMemoryCache } from "./cache/memory-cache";
import { createHotCache } from "./cache/hot-cache";
import { hotFastPath, mountEndpoints, type Endpoint } from "./http/endpoint";
import { buildOpenApi, DOCS_HTML } from "./http/openapi";
import { createValidator } from "./http/validate";
import { createQueryMetrics } from "./ops/metrics";
import { createPerfTracker } from "./ops/perf";
import { createSqlRunner, estimateRead } from "./ops/sql-runner";
import { createRetentionReader } from "./ops/retention";
import { analyticsEndpoints } from "./routes/analytics.routes";
import { browseEndpoints } from "./routes/browse.routes";
import { compatEndpoints } from "./compat/routes";
import { geoLookup } from "./compat/geo";
import { opsEndpoints } from "./routes/ops.routes";
import { warmUp } from "./analytics/warm-up";
import { defaultUiSource, uiRouter, type UiSource } from "./http/ui";

export interface QueryDeps {
  ch: ClickHouse;
  log: Logger;
  config: QueryConfig;
  registry: Registry;
  /** Injected by compose (Redis or memory); a memory LRU when absent. */
  cache?: Cache;
  /** Clock (tests pin "now"). */
  now?: () => number;
  /** Benchmark / diagnostics only: every analytics answer from raw rows (not reachable from config). */
  forceRaw?: boolean;
  /** Run a few questions at start so the first requests do not pay first-use costs (default true). */
  warmUp?: boolean;
  /** The explorer page's files; prebuilt beside the bundle or built from source when absent. */
  ui?: UiSource;
}

/** Longest the start-up warm-up may take; the questions left are skipped. */
const WARM_UP_BUDGET_MS = 3_000;

const API_VERSION = "1.0.0";

/** Builds the query app's routes without listening (tests and the standalone launcher mount it). */
export async function createQueryApp(deps: QueryDeps): Promise<MountedApp> {
  const log = deps.log.child({ app: "query" });
  const c = deps.config;
  const router = express.Router();
  const cache = deps.cache ?? createMemoryCache({ maxEntries: c.QUERY_CACHE_MEMORY_MAX_ENTRIES });
  const metrics = createQueryMetrics(deps.registry);
  const hot = createHotCache({
    maxBytes: c.QUERY_CACHE_HOT_MAX_BYTES,
    maxTtlSeconds: c.QUERY_CACHE_HOT_TTL_SECONDS,
    compressMinBytes: c.QUERY_COMPRESSION_MIN_BYTES,
  });
  const perf = createPerfTracker({ slowMs: c.QUERY_SLOW_MS });
  const guard = {
    maxExecutionSeconds: c.QUERY_MAX_EXECUTION_SECONDS,
    maxMemoryBytes: c.QUERY_MAX_MEMORY_BYTES,
    maxRowsToRead: c.QUERY_MAX_ROWS_TO_READ,
  };
  const limits = {
    maxBuckets: c.ANALYTICS_MAX_BUCKETS,
    maxResultRows: c.ANALYTICS_MAX_RESULT_ROWS,
    concurrencyLookbackMs: c.QUERY_CONCURRENCY_LOOKBACK_SECONDS * 1000,
    ...(deps.forceRaw ? { forceRaw: true } : {}),
  };
  const retention = createRetentionReader(deps.ch);
  const analytics = analyticsEndpoints({
    limits,
    maxRangeDays: c.ANALYTICS_MAX_RANGE_DAYS,
    nowSnapSeconds: c.QUERY_CACHE_RECENT_TTL_SECONDS,
    retention,
  });
  // The Bud stack's endpoints come first: where a path also exists in another table, the callers' shape wins.
  const compat = compatEndpoints({
    limits: {
      maxResultRows: c.ANALYTICS_MAX_RESULT_ROWS,
      maxBuckets: c.ANALYTICS_MAX_BUCKETS,
      maxDistinctIps: 100_000,
    },
    maxRangeDays: c.ANALYTICS_MAX_RANGE_DAYS,
    geoLookup,
    analytics: {
      limits,
      retention,
      native: analytics.find((e) => e.method === "post" && e.path === "/observability/analytics")!,
    },
  });
  const taken = new Set(compat.map((e) => `${e.method} ${e.path}`));
  const endpoints: Endpoint[] = [
    ...compat,
    ...[
      ...analytics,
      ...browseEndpoints({ maxRangeDays: c.ANALYTICS_MAX_RANGE_DAYS, previewChars: 200, geoLookup }),
      ...opsEndpoints({ ch: deps.ch, cache, hot, perf, log }),
    ].filter((e) => !taken.has(`${e.method} ${e.path}`)),
  ];
  // First-use costs paid before the first request (analytics/warm-up.ts); bounded, never fatal.
  if (deps.warmUp !== false) {
    const sql = createSqlRunner(deps.ch, guard, metrics, undefined, 0);
    await warmUp(sql, limits, (deps.now ?? Date.now)(), WARM_UP_BUDGET_MS).then(
      (r) => log.info({ questions: r.questions, durationMs: Math.round(r.ms) }, "query app warmed up"),
      (err: unknown) => log.warn({ err }, "query app warm-up failed"),
    );
  }
  let accepting = true;
  // Sampled rows-read estimates still running after their answers: close() waits for them.
  const estimates = new Set<Promise<unknown>>();
  router.use((req, res, next) => {
    if (!accepting && !req.path.endsWith("health")) {
      sendError(res, commonErrors.create("SHUTTING_DOWN", "the query app is shutting down"));
      return;
    }
    next();
  });
  mountEndpoints(router, endpoints, {
    log,
    cache,
    hot,
    metrics,
    perf,
    validator: createValidator(),
    sqlFor: (clock) =>
      createSqlRunner(deps.ch, guard, metrics, clock, c.QUERY_ROWS_READ_SAMPLE_RATE, estimates),
    estimateRead: (q) => estimateRead(deps.ch, q),
    ttl: {
      ttlSeconds: c.QUERY_CACHE_TTL_SECONDS,
      recentTtlSeconds: c.QUERY_CACHE_RECENT_TTL_SECONDS,
      horizonSeconds: c.QUERY_LATE_EVENT_HORIZON_SECONDS,
    },
    bodyLimitBytes: c.QUERY_BODY_LIMIT_BYTES,
    compressionMinBytes: c.QUERY_COMPRESSION_MIN_BYTES,
    maxCacheEntryBytes: c.QUERY_CACHE_MAX_ENTRY_BYTES,
    now: deps.now ?? Date.now,
  });
  const openapi = JSON.stringify(buildOpenApi(endpoints, API_VERSION));
  router.get("/openapi.json", (_req, res) => {
    res.type("application/json").send(openapi);
  });
  router.get("/docs", (_req, res) => {
    res.type("text/html").send(DOCS_HTML);
  });
  return {
    name: "query",
    router,
    publicRouter: uiRouter(deps.ui ?? defaultUiSource(), log),
    fastPath: hotFastPath(endpoints, {
      hot,
      metrics,
      bodyLimitBytes: c.QUERY_BODY_LIMIT_BYTES,
      accepting: () => accepting,
    }),
    health: {
      cache: () => cache.health(),
    },
    async ready() {
      return accepting;
    },
    stopAccepting() {
      accepting = false;
      log.info("query app stopped accepting");
    },
    async drain() {},
    async close() {
      hot.clear();
      await Promise.all(estimates);
      await cache.close();
    },
  };
}
