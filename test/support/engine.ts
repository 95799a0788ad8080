/**
 * A real embedded ClickHouse for one test file: a fresh data folder, a fresh database, every
 * migration applied. Jest runs each file in a worker process; the engine is closed in afterAll so
 * the next file in the same worker can open its own folder.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  clickhouseConfigSchema,
  createClickHouse,
  migrate,
  renderContextFrom,
  type ClickHouse,
  type ClickHouseConfig,
} from "@budmetrics/clickhouse";
import { loadConfig } from "@budmetrics/config";
import { createSilentLogger } from "@budmetrics/logger";

export interface TestEngine {
  ch: ClickHouse;
  config: ClickHouseConfig;
  dataDir: string;
  close(): Promise<void>;
}

export async function openTestEngine(
  name: string,
  env: Record<string, string> = {},
  opts: { migrate?: boolean } = {},
): Promise<TestEngine> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `bm-${name}-`));
  const config = loadConfig(clickhouseConfigSchema, {
    DATA_DIR: dataDir,
    CLICKHOUSE_DATABASE: `bm_${name.replace(/[^a-z0-9_]/gi, "_")}`,
    // Test data spans past years (DST cases): keep every row.
    RAW_DATA_RETENTION_DAYS: "0",
    METRICS_RETENTION_DAYS: "0",
    AGGREGATED_DATA_RETENTION_DAYS: "0",
    QUARANTINE_RETENTION_DAYS: "0",
    ...env,
  });
  const log = createSilentLogger();
  const ch = await createClickHouse(config, log);
  if (opts.migrate !== false) await migrate(ch, { ctx: renderContextFrom(config), log });
  return {
    ch,
    config,
    dataDir,
    async close() {
      await ch.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
