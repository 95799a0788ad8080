/**
 * Test harness: a collector mounted on the real host (token guard, error handler, /readyz,
 * /metrics) over a real embedded ClickHouse, listening on an ephemeral port.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { ClickHouse } from "@budmetrics/clickhouse";
import type { ClaimStore } from "../src";
import { loadConfig } from "@budmetrics/config";
import { createHost, createRegistry, type MountedApp } from "@budmetrics/http";
import { composeQuery, queryConfigSchema } from "@budmetrics/query";
import { createSilentLogger, type Logger } from "@budmetrics/logger";
import { Tables, toNumber } from "@budmetrics/schema";
import {
  collectorConfigSchema,
  createCollectorApp,
  type CollectorApp,
  type CollectorConfig,
  type CollectorDeps,
} from "../src";

export interface RunningCollector {
  app: CollectorApp;
  config: CollectorConfig;
  url: string;
  server: http.Server;
  post(
    path: string,
    body: unknown,
    headers?: Record<string, string>,
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read answers freely
  ): Promise<{ status: number; body: any; headers: Headers }>;
  stop(): Promise<void>;
}

export async function startCollector(
  ch: ClickHouse,
  env: Record<string, string> = {},
  extra: {
    claims?: ClaimStore;
    log?: Logger;
    otlp?: CollectorDeps["otlp"];
    /** Mount the query app too (same engine, as the embedded launcher does). */
    withQuery?: boolean;
  } = {},
): Promise<RunningCollector> {
  const config = loadConfig(collectorConfigSchema, { COLLECTOR_INSERT_MIN_INTERVAL_MS: "20", ...env });
  const registry = createRegistry(false);
  const { log = createSilentLogger(), withQuery, ...rest } = extra;
  const app = await createCollectorApp({ ch, log, config, registry, ...rest });
  const apps: MountedApp[] = [app];
  if (withQuery) apps.push(await composeQuery(loadConfig(queryConfigSchema, {}), { ch, log, registry }));
  const host = createHost({ apps, log, registry, appApiToken: config.APP_API_TOKEN });
  const server = http.createServer(host).listen(0, "127.0.0.1");
  await new Promise<void>((resolve) => server.once("listening", () => resolve()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    app,
    config,
    url,
    server,
    async post(path, body, headers = {}) {
      const res = await fetch(url + path, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: typeof body === "string" || Buffer.isBuffer(body) ? body : JSON.stringify(body),
      });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        /* not JSON */
      }
      return { status: res.status, body: parsed, headers: res.headers };
    },
    async stop() {
      app.stopAccepting();
      await app.drain();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await app.close();
      for (const a of apps.slice(1)) await a.close();
    },
  };
}

export async function countRows(ch: ClickHouse, table: string, where = "1"): Promise<number> {
  const rows = await ch.query<{ n: number | string }>(
    `SELECT count() AS n FROM ${ch.database}.${table} WHERE ${where}`,
  );
  return toNumber(rows[0]?.n);
}

export async function countInferences(
  ch: ClickHouse,
): Promise<{ raw: number; distinct: number; rollup: number }> {
  const [raw] = await ch.query<{ n: number; d: number }>(
    `SELECT count() AS n, uniqExact(inference_id) AS d FROM ${ch.database}.${Tables.inferenceEvents}`,
  );
  const [rollup] = await ch.query<{ n: number }>(
    `SELECT sum(request_count) AS n FROM ${ch.database}.${Tables.inferenceRollup} WHERE grain = '5m' AND level = 'dims'`,
  );
  return { raw: toNumber(raw?.n), distinct: toNumber(raw?.d), rollup: toNumber(rollup?.n) };
}

export function bulkEnvelope(entries: Array<{ entryId: string; event: unknown; contentType?: string }>) {
  return {
    id: "7a1c5d0e-6a7b-4c38-9f0e-1d2b3c4d5e6f",
    type: "com.dapr.event.sent.bulk",
    topic: "budMetricsMessages",
    pubsubname: "pubsub-redis",
    metadata: {},
    entries: entries.map((e) => ({
      entryId: e.entryId,
      event: e.event,
      contentType:
        e.contentType ??
        (typeof e.event === "string" ? "application/octet-stream" : "application/cloudevents+json"),
      metadata: {},
    })),
  };
}
