import express from "express";
import type { Registry } from "prom-client";
import type { ClickHouse } from "@budmetrics/clickhouse";
import type { Logger } from "@budmetrics/logger";
import { type MountedApp } from "@budmetrics/http";
import type { QueryConfig } from "./config";

export interface QueryDeps {
  ch: ClickHouse;
  log: Logger;
  config: QueryConfig;
  registry: Registry;
}

/** Builds the query app's routes without listening (tests and the standalone launcher mount it). */
export async function createQueryApp(deps: QueryDeps): Promise<MountedApp> {
  const log = deps.log.child({ app: "query" });
  const router = express.Router();
  let accepting = true;
  return {
    name: "query",
    router,
    health: {
      cache: async () => ({ status: "ok", backend: "memory" }),
    },
    async ready() {
      return accepting;
    },
    stopAccepting() {
      accepting = false;
      log.info("query app stopped accepting");
    },
    async drain() {},
    async close() {},
  };
}
