import express from "express";
import type { Registry } from "prom-client";
import type { ClickHouse } from "@budmetrics/clickhouse";
import type { Logger } from "@budmetrics/logger";
import { appTokenGuard, type MountedApp } from "@budmetrics/http";
import type { CollectorConfig } from "./config";

export interface CollectorDeps {
  ch: ClickHouse;
  log: Logger;
  config: CollectorConfig;
  registry: Registry;
}

/** Builds the collector's routes without listening (tests and the standalone launcher mount it). */
export async function createCollectorApp(deps: CollectorDeps): Promise<MountedApp> {
  const log = deps.log.child({ app: "collector" });
  const router = express.Router();
  router.use(appTokenGuard(deps.config.APP_API_TOKEN));
  let accepting = true;
  return {
    name: "collector",
    router,
    health: {
      clickhouse: async () => {
        const t0 = Date.now();
        const ping = await deps.ch.ping();
        return ping.ok
          ? { status: "ok", mode: deps.ch.mode, latencyMs: Date.now() - t0 }
          : { status: "down", mode: deps.ch.mode, error: ping.error };
      },
    },
    async ready() {
      return accepting && (await deps.ch.ping()).ok;
    },
    stopAccepting() {
      accepting = false;
      log.info("collector stopped accepting");
    },
    async drain() {},
    async close() {},
  };
}
