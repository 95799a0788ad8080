/**
 * The service under test in its own process, as `pnpm start` runs it (collector and query app on one
 * server over the embedded engine), plus an IPC channel the reliability runner uses to look at the
 * engine it owns (only one process may open a data folder): `{type: "sql", id, sql}` → rows.
 * It can be SIGKILLed at any moment and started again on the same folder.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { clickhouseConfigSchema, createClickHouse, migrate, renderContextFrom } from "@budmetrics/clickhouse";
import { composeCollector } from "@budmetrics/collector";
import { loadConfig } from "@budmetrics/config";
import { createHost, createRegistry, hostSettings } from "@budmetrics/http";
import { createLogger } from "@budmetrics/logger";
import { composeQuery } from "@budmetrics/query";
import { standaloneConfigSchema } from "../../apps/standalone/src/config";

export type ToService = { type: "sql"; id: number; sql: string } | { type: "stop" };
export type FromService =
  | { type: "ready"; port: number }
  | { type: "rows"; id: number; rows: unknown[] }
  | { type: "error"; id: number; message: string };

async function main() {
  const config = loadConfig(standaloneConfigSchema, process.env);
  const log = createLogger({ level: process.env.LOG_LEVEL ?? "fatal", name: "reliability" });
  const ch = await createClickHouse(loadConfig(clickhouseConfigSchema, process.env), log);
  await migrate(ch, { ctx: renderContextFrom(config), log });
  const registry = createRegistry(false);
  const collector = await composeCollector(config, { ch, log, registry });
  const query = await composeQuery(config, { ch, log, registry });
  const server = http.createServer(
    createHost({
      apps: [collector, query],
      log,
      registry,
      ...hostSettings(config),
      adminWithoutToken: "loopback",
    }),
  );
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(config.PORT, "127.0.0.1", resolve));
  const send = (m: FromService) => process.send?.(m);
  process.on("message", (m: ToService) => {
    if (m.type === "stop") {
      void (async () => {
        collector.stopAccepting();
        await collector.drain();
        server.closeAllConnections();
        server.close();
        await collector.close();
        await query.close();
        await ch.close();
        process.exit(0);
      })();
      return;
    }
    const run = /^\s*(SELECT|WITH|SHOW)\b/i.test(m.sql)
      ? ch.query(m.sql, undefined, { timeoutMs: 120_000 })
      : ch.command(m.sql, undefined, { timeoutMs: 120_000 }).then(() => []);
    run.then(
      (rows) => send({ type: "rows", id: m.id, rows }),
      (err: unknown) =>
        send({ type: "error", id: m.id, message: err instanceof Error ? err.message : String(err) }),
    );
  });
  send({ type: "ready", port: (server.address() as AddressInfo).port });
}

main().catch((err) => {
  process.stderr.write(`service failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
