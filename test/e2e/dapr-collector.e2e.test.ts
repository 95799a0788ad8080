/**
 * End to end through the real Dapr sidecar: Redis (Streams pub/sub + claims), a ClickHouse server and
 * daprd in containers, the collector in this process in server mode. The sidecar loads the shipped
 * components/ files unchanged (the Redis container answers as `redis-master` with a password, and a
 * test-only secret store named `kubernetes` resolves the pub/sub's secretKeyRef). Events are published
 * the way platform services publish them, with @dapr/dapr's DaprClient, and the suite asserts the
 * stored rows, the dead-letter path (invalid → DROP → poisonMessages) and the retry path (RETRY →
 * the resiliency policy redelivers → stored once).
 *
 * Needs Docker. Where there is none (the development machines) the suite is skipped with a printed
 * reason; it never fails CI for lack of Docker.
 */
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import express from "express";
import { Redis } from "ioredis";
import { CommunicationProtocolEnum, DaprClient } from "@dapr/dapr";
// Types only at load time: the runtime import happens inside the suite, where Docker exists.
import type { StartedNetwork, StartedTestContainer } from "testcontainers";
import {
  clickhouseConfigSchema,
  createClickHouse,
  migrate,
  renderContextFrom,
  type ClickHouse,
} from "@budmetrics/clickhouse";
import { collectorConfigSchema, composeCollector } from "@budmetrics/collector";
import { loadConfig, mergeSchemas } from "@budmetrics/config";
import { createHost, createRegistry, type MountedApp } from "@budmetrics/http";
import { createSilentLogger } from "@budmetrics/logger";
import { Tables, toNumber } from "@budmetrics/schema";
import { createCatalogue, generateInferences, inferenceCloudEvent } from "../support/generate";

function dockerAvailable(): { ok: boolean; reason: string } {
  if (process.env.SKIP_E2E === "1") return { ok: false, reason: "SKIP_E2E=1" };
  const reasons: string[] = [];
  const sockets = ["/var/run/docker.sock", path.join(os.homedir(), ".docker/run/docker.sock")];
  if (!process.env.DOCKER_HOST && !sockets.some((s) => fs.existsSync(s))) {
    reasons.push("no Docker engine (no DOCKER_HOST, no /var/run/docker.sock)");
  }
  return { ok: reasons.length === 0, reason: reasons.join("; ") };
}

const docker = dockerAvailable();
if (!docker.ok) {
  console.warn(
    `\n*** SKIPPED test/e2e/dapr-collector.e2e.test.ts: ${docker.reason}.\n` +
      "*** This suite runs daprd, Redis and a ClickHouse server in containers; run it where Docker exists.\n",
  );
}
const describeWithDocker = docker.ok ? describe : describe.skip;

const DAPRD_IMAGE = process.env.E2E_DAPRD_IMAGE ?? "daprio/daprd:1.17.13";
const CLICKHOUSE_IMAGE = process.env.E2E_CLICKHOUSE_IMAGE ?? "clickhouse/clickhouse-server:25.8";
const REDIS_IMAGE = process.env.E2E_REDIS_IMAGE ?? "redis:7.4-alpine";
const APP_ID = "budmetrics-collector";
const APP_TOKEN = "e2e-app-token";
const REDIS_PASSWORD = "e2e-redis";

jest.setTimeout(240_000);

async function eventually<T>(fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 60_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: T = await fn();
  while (!ok(last)) {
    if (Date.now() > until) return last;
    await new Promise((r) => setTimeout(r, 500));
    last = await fn();
  }
  return last;
}

describeWithDocker("collector behind a real Dapr sidecar", () => {
  let network: StartedNetwork;
  let redisC: StartedTestContainer;
  let clickhouseC: StartedTestContainer;
  let daprd: StartedTestContainer;
  let ch: ClickHouse;
  let redis: Redis;
  let server: http.Server;
  let current: { app: MountedApp; handler: http.RequestListener };
  const apps: MountedApp[] = [];
  let dapr: DaprClient;
  const log = createSilentLogger();

  async function buildCollector(env: Record<string, string>) {
    const schema = mergeSchemas(clickhouseConfigSchema, collectorConfigSchema);
    const config = loadConfig(schema, env);
    const registry = createRegistry(false);
    const app = await composeCollector(config, { ch, log, registry });
    apps.push(app);
    return { app, handler: createHost({ apps: [app], log, registry }) };
  }

  beforeAll(async () => {
    const { GenericContainer, Network, TestContainers, Wait } = await import("testcontainers");
    network = await new Network().start();
    // The name and password the shipped pubsub-redis.yaml expects (redisHost redis-master:6379,
    // redisPassword from the secret budmetrics-redis / redis-password).
    redisC = await new GenericContainer(REDIS_IMAGE)
      .withNetwork(network)
      .withNetworkAliases("redis-master")
      .withCommand(["redis-server", "--requirepass", REDIS_PASSWORD])
      .withExposedPorts(6379)
      .withWaitStrategy(Wait.forLogMessage(/Ready to accept connections/))
      .start();
    clickhouseC = await new GenericContainer(CLICKHOUSE_IMAGE)
      .withNetwork(network)
      .withEnvironment({
        CLICKHOUSE_USER: "default",
        CLICKHOUSE_PASSWORD: "e2e",
        CLICKHOUSE_DEFAULT_ACCESS_MANAGEMENT: "1",
      })
      .withExposedPorts(8123)
      .withWaitStrategy(Wait.forHttp("/ping", 8123).forStatusCode(200))
      .start();

    const env = {
      CLICKHOUSE_URL: `http://${clickhouseC.getHost()}:${clickhouseC.getMappedPort(8123)}`,
      CLICKHOUSE_PASSWORD: "e2e",
      CLICKHOUSE_DATABASE: "budmetrics_e2e",
      REDIS_URL: `redis://:${REDIS_PASSWORD}@${redisC.getHost()}:${redisC.getMappedPort(6379)}`,
      APP_API_TOKEN: APP_TOKEN,
    };
    const chConfig = loadConfig(clickhouseConfigSchema, env);
    ch = await createClickHouse(chConfig, log);
    await migrate(ch, { ctx: renderContextFrom(chConfig), log });
    redis = new Redis(env.REDIS_URL);

    current = await buildCollector(env);
    const front = express();
    front.use((req, res) => current.handler(req, res));
    server = http.createServer(front);
    await new Promise<void>((resolve) => server.listen(0, "0.0.0.0", resolve));
    const appPort = (server.address() as { port: number }).port;
    await TestContainers.exposeHostPorts(appPort);

    // Components: every file of the repo's components/ as it is, plus a test-only secret store named
    // `kubernetes` (the store the shipped pub/sub reads its password from) backed by a local file.
    const componentsDir = fs.mkdtempSync(path.join(os.tmpdir(), "bm-e2e-components-"));
    const repoComponents = path.resolve(__dirname, "../../components");
    for (const f of fs.readdirSync(repoComponents).filter((f) => f.endsWith(".yaml"))) {
      fs.copyFileSync(path.join(repoComponents, f), path.join(componentsDir, f));
    }
    fs.writeFileSync(
      path.join(componentsDir, "secrets.json"),
      JSON.stringify({ "budmetrics-redis": { "redis-password": REDIS_PASSWORD } }),
    );
    fs.writeFileSync(
      path.join(componentsDir, "zz-e2e-secretstore.yaml"),
      [
        "apiVersion: dapr.io/v1alpha1",
        "kind: Component",
        "metadata:",
        "  name: kubernetes",
        "spec:",
        "  type: secretstores.local.file",
        "  version: v1",
        "  metadata:",
        '    - { name: secretsFile, value: "/components/secrets.json" }',
        '    - { name: multiValued, value: "true" }',
        "",
      ].join("\n"),
    );
    daprd = await new GenericContainer(DAPRD_IMAGE)
      .withNetwork(network)
      .withEnvironment({ APP_API_TOKEN: APP_TOKEN })
      .withCopyDirectoriesToContainer([{ source: componentsDir, target: "/components" }])
      .withCommand([
        "./daprd",
        "--app-id",
        APP_ID,
        "--app-port",
        String(appPort),
        "--app-channel-address",
        "host.testcontainers.internal",
        "--dapr-http-port",
        "3500",
        "--resources-path",
        "/components",
        "--enable-app-health-check",
        "--app-health-check-path",
        "/healthz",
        "--log-level",
        "info",
      ])
      .withExposedPorts(3500)
      .withWaitStrategy(Wait.forHttp("/v1.0/healthz/outbound", 3500).forStatusCode(204))
      .start();
    dapr = new DaprClient({
      daprHost: daprd.getHost(),
      daprPort: String(daprd.getMappedPort(3500)),
      communicationProtocol: CommunicationProtocolEnum.HTTP,
    });
  });

  afterAll(async () => {
    for (const a of apps) {
      a.stopAccepting();
      await a.drain();
      await a.close();
    }
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    await redis?.quit();
    await ch?.close();
    await daprd?.stop();
    await clickhouseC?.stop();
    await redisC?.stop();
    await network?.stop();
  });

  const catalogue = createCatalogue(99);
  const data = [
    ...generateInferences({
      seed: 99,
      count: 60,
      startMs: Date.UTC(2026, 4, 1),
      endMs: Date.UTC(2026, 4, 2),
      catalogue,
    }),
  ];

  /** As platform services publish: a structured CloudEvent through the sidecar's publish API. */
  async function publish(event: object) {
    const res = await dapr.pubsub.publish("pubsub-redis", "budMetricsMessages", event, {
      contentType: "application/cloudevents+json",
    });
    // The SDK reports a failed publish as a value, not an exception.
    expect(res.error).toBeUndefined();
  }
  async function countIds(ids: string[]): Promise<{ n: number; d: number }> {
    const [r] = await ch.query<{ n: number | string; d: number | string }>(
      `SELECT count() AS n, uniqExact(inference_id) AS d FROM ${ch.database}.${Tables.inferenceEvents} WHERE inference_id IN {ids:Array(UUID)}`,
      { ids },
    );
    return { n: toNumber(r?.n), d: toNumber(r?.d) };
  }

  it("stores every published inference exactly once, also when published twice", async () => {
    const batch = data.slice(0, 40);
    for (const d of batch) await publish(inferenceCloudEvent(d));
    for (const d of batch.slice(0, 10)) await publish(inferenceCloudEvent(d)); // redelivery by the publisher
    const ids = batch.map((d) => d.inference_id);
    const counts = await eventually(
      () => countIds(ids),
      (c) => c.n >= 40,
    );
    expect(counts).toEqual({ n: 40, d: 40 });
    await new Promise((r) => setTimeout(r, 3_000));
    expect(await countIds(ids)).toEqual({ n: 40, d: 40 });
  });

  it("drops an invalid event to the dead-letter topic and keeps it in quarantine", async () => {
    const bad = {
      ...inferenceCloudEvent(data[40]!),
      id: "e2e-invalid-1",
      data: { ...data[40]!, status_code: 1000 },
    };
    const before = await redis.xlen("poisonMessages").catch(() => 0);
    await publish(bad);
    const dead = await eventually(
      () => redis.xlen("poisonMessages").catch(() => 0),
      (n) => n > before,
    );
    expect(dead).toBeGreaterThan(before);
    const rows = await ch.query<{ field_path: string }>(
      `SELECT field_path FROM ${ch.database}.${Tables.quarantine} WHERE event_id = 'e2e-invalid-1'`,
    );
    expect(rows.map((r) => r.field_path)).toContain("data.status_code");
  });

  it("retries an event answered RETRY until it is stored, once", async () => {
    const closing = current.app;
    closing.stopAccepting(); // every delivery now answers RETRY
    const d = data[50]!;
    await publish(inferenceCloudEvent(d));
    await new Promise((r) => setTimeout(r, 3_000));
    expect(await countIds([d.inference_id])).toEqual({ n: 0, d: 0 });
    current = await buildCollector({
      CLICKHOUSE_URL: `http://${clickhouseC.getHost()}:${clickhouseC.getMappedPort(8123)}`,
      CLICKHOUSE_PASSWORD: "e2e",
      CLICKHOUSE_DATABASE: "budmetrics_e2e",
      REDIS_URL: `redis://:${REDIS_PASSWORD}@${redisC.getHost()}:${redisC.getMappedPort(6379)}`,
      APP_API_TOKEN: APP_TOKEN,
    });
    // The shipped resiliency policy retries with exponential back-off (0.5 s × 1.5^n, at most 30 s).
    const counts = await eventually(
      () => countIds([d.inference_id]),
      (c) => c.n >= 1,
      120_000,
    );
    expect(counts).toEqual({ n: 1, d: 1 });
  });
});

if (!docker.ok) {
  // Jest needs at least one test in a file; this one records the skip in the report.
  it.skip(`dapr e2e suite skipped: ${docker.reason}`, () => undefined);
}
