import { Redis } from "ioredis";
import type { ClickHouse } from "@budmetrics/clickhouse";
import type { ClaimStore } from "./ingest/ports";
import { ConfigError } from "@budmetrics/config";
import type { MountedApp } from "@budmetrics/http";
import type { Logger } from "@budmetrics/logger";
import type { Registry } from "prom-client";
import { createRedisClaimStore } from "./adapters/redis-claims";
import { createCollectorApp } from "./app";
import { collectorConfigChecks, type CollectorConfig } from "./config";

/**
 * Builds the collector's adapters from its config and returns the mounted app. Called by this app's
 * main (split mode) and by the standalone launcher (embedded mode), which share the ClickHouse
 * client, logger and metrics registry they pass in.
 *
 * Claims: embedded mode has one process per data folder, so in-process claims are exact. Server mode
 * may run replicas: with REDIS_URL the claims live in Redis; without it each replica only knows its
 * own claims (the table check still stops sequential duplicates; concurrent ones across replicas are
 * not covered — a warning says so).
 */
export async function composeCollector(
  config: CollectorConfig,
  shared: { ch: ClickHouse; log: Logger; registry: Registry },
): Promise<MountedApp> {
  const problems = collectorConfigChecks.map((check) => check(config)).filter((p): p is string => !!p);
  if (problems.length > 0) throw new ConfigError(problems);
  const log = shared.log.child({ app: "collector" });

  let claims: ClaimStore | undefined;
  let onClose: (() => Promise<void>) | undefined;
  if (shared.ch.mode === "server") {
    if (config.REDIS_URL) {
      const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 2, enableOfflineQueue: true });
      redis.on("error", (err) => log.warn({ err }, "redis error"));
      claims = createRedisClaimStore({
        redis,
        prefix: `${config.COLLECTOR_CLAIM_KEY_PREFIX}${shared.ch.database}:`,
        pendingTtlMs: config.COLLECTOR_CLAIM_PENDING_TTL_MS,
        committedTtlSeconds: config.COLLECTOR_CLAIM_COMMITTED_TTL_SECONDS,
      });
      onClose = async () => {
        await redis.quit().catch(() => redis.disconnect());
      };
      log.info("collector claims in redis");
    } else {
      log.warn(
        "server mode without REDIS_URL: claims are per replica; run one collector replica or set REDIS_URL",
      );
    }
  }
  return createCollectorApp({
    ...shared,
    config,
    ...(claims ? { claims } : {}),
    ...(onClose ? { onClose } : {}),
  });
}
