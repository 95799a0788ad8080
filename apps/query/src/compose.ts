import { Redis } from "ioredis";
import type { ClickHouse } from "@budmetrics/clickhouse";
import type { MountedApp } from "@budmetrics/http";
import type { Logger } from "@budmetrics/logger";
import type { Registry } from "prom-client";
import { createQueryApp } from "./app";
import { createMemoryCache } from "./cache/memory-cache";
import { createRedisCache } from "./cache/redis-cache";
import type { QueryConfig } from "./config";
import type { Cache } from "./ports";

/**
 * A Redis client for the cache that never makes a request wait: no offline queue (commands fail at
 * once while disconnected), no per-command retries, short connect timeout, reconnects in the
 * background. Errors are logged (rate-limited), never thrown into requests.
 */
export function createCacheRedis(url: string, log: Logger, timeoutMs: number): Redis {
  const redis = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: Math.max(500, timeoutMs * 4),
    commandTimeout: timeoutMs,
    retryStrategy: (attempt) => Math.min(attempt * 250, 2_000),
    lazyConnect: false,
  });
  let lastLog = 0;
  redis.on("error", (err: Error) => {
    if (Date.now() - lastLog > 10_000) {
      lastLog = Date.now();
      log.warn({ err: { message: err.message } }, "cache redis error; serving uncached");
    }
  });
  return redis;
}

export function createCache(config: QueryConfig, log: Logger): Cache {
  if (!config.REDIS_URL) return createMemoryCache({ maxEntries: config.QUERY_CACHE_MEMORY_MAX_ENTRIES });
  const redis = createCacheRedis(
    config.REDIS_URL,
    log.child({ component: "cache" }),
    config.QUERY_CACHE_TIMEOUT_MS,
  );
  return createRedisCache(redis, {
    prefix: config.QUERY_CACHE_KEY_PREFIX,
    timeoutMs: config.QUERY_CACHE_TIMEOUT_MS,
  });
}

/**
 * Builds the query's adapters from its config and returns the mounted app. Called by this app's
 * main (split mode) and by the standalone launcher (embedded mode), which share the ClickHouse
 * client, logger and metrics registry they pass in.
 */
export async function composeQuery(
  config: QueryConfig,
  shared: { ch: ClickHouse; log: Logger; registry: Registry },
): Promise<MountedApp> {
  return createQueryApp({ ...shared, config, cache: createCache(config, shared.log) });
}
