import { Redis } from "ioredis";
import type { ClickHouse } from "@budmetrics/clickhouse";
import type { ClaimStore } from "./ingest/ports";
import { ConfigError } from "@budmetrics/config";
import type { MountedApp } from "@budmetrics/http";
import type { Logger } from "@budmetrics/logger";
import type { Registry } from "prom-client";
import { createRedisClaimStore } from "./adapters/redis-claims";
import { createRedisPendingStore, createRedisSpanActivity } from "./adapters/redis-pending-store";
import type { CollectorDeps } from "./app";
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
 *
 * OTLP (COLLECTOR_OTLP_ENABLED not false): pending spans and held CloudEvents live in Redis in server
 * mode with REDIS_URL (shared by the replicas, kept across restarts), else in process memory
 * (embedded mode: one process; written out at shutdown).
 */
export async function composeCollector(
  config: CollectorConfig,
  shared: { ch: ClickHouse; log: Logger; registry: Registry },
): Promise<MountedApp> {
  const problems = collectorConfigChecks.map((check) => check(config)).filter((p): p is string => !!p);
  if (problems.length > 0) throw new ConfigError(problems);
  const log = shared.log.child({ app: "collector" });

  let claims: ClaimStore | undefined;
  let otlp: CollectorDeps["otlp"];
  let onClose: (() => Promise<void>) | undefined;
  const otlpOn = config.COLLECTOR_OTLP_ENABLED !== "false";
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
      if (otlpOn) {
        // One hash tag for every key: the store's compare-and-set script also runs on Redis Cluster.
        const prefix = `${config.COLLECTOR_OTLP_KEY_PREFIX}{${shared.ch.database}}:`;
        otlp = {
          store: createRedisPendingStore({ redis, prefix }),
          activity: createRedisSpanActivity({ redis, prefix, windowMs: config.COLLECTOR_OTLP_RETAIN_MS }),
          shared: true,
        };
        log.info("OTLP pending store in redis");
      }
      onClose = async () => {
        await redis.quit().catch(() => redis.disconnect());
      };
      log.info("collector claims in redis");
    } else {
      log.warn(
        "server mode without REDIS_URL: claims are per replica; run one collector replica or set REDIS_URL",
      );
      if (otlpOn) {
        log.warn(
          "server mode without REDIS_URL: OTLP pending spans are per replica and in memory: a request whose spans reach two replicas may be stored from part of them (once) — run one collector replica or set REDIS_URL",
        );
      }
    }
  }
  return createCollectorApp({
    ...shared,
    config,
    ...(claims ? { claims } : {}),
    ...(otlp ? { otlp } : {}),
    ...(onClose ? { onClose } : {}),
  });
}
