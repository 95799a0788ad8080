/**
 * docker-compose.yml. Checked here without Docker: the services and their order (ClickHouse healthy →
 * migration job completed → apps → sidecars), each daprd beside its app with the chart's app id and
 * the app's port, the components it mounts exist and are components/ (the pub/sub only differs in
 * its Redis host and password, and passes the Dapr CRD schema), every variable the apps get is one
 * they read, pinned images. Where a Docker engine with the compose plugin exists (skipped here, with the
 * reason printed): the stack comes up, an event published through the collector's sidecar is read
 * back through the query app's sidecar, and the stack is removed.
 */
import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import YAML from "yaml";
import { processSchemas } from "../../scripts/chart-schema";
import { validateDaprResource } from "./dapr-schema";
import { CHART, dockerEngine, ROOT, skipNotice } from "./tools";

type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const compose: Doc = YAML.parse(fs.readFileSync(path.join(ROOT, "docker-compose.yml"), "utf8"), {
  merge: true,
});
const services: Record<string, Doc> = compose.services;
const values: Doc = YAML.parse(fs.readFileSync(path.join(CHART, "values.yaml"), "utf8"));
const flag = (args: string[], name: string) => args[args.indexOf(name) + 1];

describe("docker-compose.yml", () => {
  it("has the e2e topology: ClickHouse, Redis, the migration job, two apps, two sidecars", () => {
    expect(Object.keys(services).sort()).toEqual(
      ["clickhouse", "collector", "collector-dapr", "migrate", "query", "query-dapr", "redis"].sort(),
    );
  });

  it("migrates once ClickHouse is healthy, and starts the apps only after the migration job succeeded", () => {
    expect(services.migrate!.depends_on).toEqual({ clickhouse: { condition: "service_healthy" } });
    expect(services.migrate!.command.slice(0, 3)).toEqual([
      "node",
      "--enable-source-maps",
      "dist/migrate.js",
    ]);
    for (const app of ["collector", "query"]) {
      expect(services[app]!.depends_on.migrate).toEqual({ condition: "service_completed_successfully" });
      expect(services[app]!.depends_on.redis).toEqual({ condition: "service_healthy" });
      expect(services[app]!.command).toEqual(["node", "--enable-source-maps", `dist/${app}.js`]);
      expect(services[app]!.image).toBe(services.migrate!.image);
    }
  });

  it("runs each daprd in its app's network namespace with the chart's app id, the app's port and /healthz", () => {
    for (const app of ["collector", "query"] as const) {
      const sidecar = services[`${app}-dapr`]!;
      const args: string[] = sidecar.command;
      expect(sidecar.network_mode).toBe(`service:${app}`);
      expect(flag(args, "--app-id")).toBe(values[app].appId);
      expect(flag(args, "--app-port")).toBe(services[app]!.environment.PORT);
      expect(flag(args, "--app-protocol")).toBe("http");
      expect(flag(args, "--app-health-check-path")).toBe("/healthz");
      expect(args).toContain("--enable-app-health-check");
      // The token the sidecar sends is the one the app checks.
      expect(sidecar.environment.APP_API_TOKEN).toBe(services[app]!.environment.APP_API_TOKEN);
      expect(sidecar.depends_on).toEqual({ [app]: { condition: "service_healthy" } });
    }
    const collectorArgs: string[] = services["collector-dapr"]!.command;
    const shutdownS = Math.ceil(Number(processSchemas.collector.SHUTDOWN_DEADLINE_MS.default) / 1000);
    expect(Number(flag(collectorArgs, "--dapr-graceful-shutdown-seconds"))).toBeGreaterThanOrEqual(shutdownS);
    expect(flag(collectorArgs, "--dapr-block-shutdown-duration")).toBe(`${shutdownS}s`);
    expect(parseInt(services.collector!.stop_grace_period, 10)).toBeGreaterThan(2 * shutdownS);
  });

  it("mounts components/ (the pub/sub with this file's Redis), files that exist", () => {
    const mounts: string[] = services["collector-dapr"]!.volumes;
    const bySource: Record<string, string> = Object.fromEntries(
      mounts.map((m) => [m.split(":")[1], m.split(":")[0]!]),
    );
    expect(bySource).toEqual({
      "/components/pubsub-redis.yaml": "./deploy/compose/pubsub-redis.yaml",
      "/components/subscription.yaml": "./components/subscription.yaml",
      "/components/resiliency.yaml": "./components/resiliency.yaml",
    });
    for (const src of Object.values(bySource)) expect(fs.existsSync(path.join(ROOT, src))).toBe(true);
    expect(flag(services["collector-dapr"]!.command, "--resources-path")).toBe("/components");
  });

  it("its pub/sub is components/pubsub-redis.yaml but for the Redis host and password, and valid", () => {
    const read = (f: string) => YAML.parse(fs.readFileSync(path.join(ROOT, f), "utf8")) as Doc;
    const local = read("deploy/compose/pubsub-redis.yaml");
    const k8s = read("components/pubsub-redis.yaml");
    expect(validateDaprResource(local)).toEqual([]);
    const meta = (c: Doc) =>
      Object.fromEntries(
        (c.spec.metadata as Doc[])
          .filter((m) => !["redisHost", "redisPassword"].includes(m.name))
          .map((m) => [m.name, m.value]),
      );
    expect(meta(local)).toEqual(meta(k8s));
    expect({ ...local, spec: { ...local.spec, metadata: [] } }).toEqual({
      ...k8s,
      auth: undefined,
      spec: { ...k8s.spec, metadata: [] },
    });
    const host = (local.spec.metadata as Doc[]).find((m) => m.name === "redisHost")!.value as string;
    expect(host.split(":")[0]).toBe("redis");
    expect(services.redis).toBeDefined();
  });

  it("gives the apps only variables they read, and the same ClickHouse password as the server", () => {
    for (const svc of ["collector", "query", "migrate"] as const) {
      const schema = processSchemas[svc === "migrate" ? "migrate" : svc];
      for (const name of Object.keys(services[svc]!.environment))
        expect(`${svc}: ${name}`).toBe(`${svc}: ${name in schema ? name : "(not read)"}`);
      expect(services[svc]!.environment.CLICKHOUSE_PASSWORD).toBe(
        services.clickhouse!.environment.CLICKHOUSE_PASSWORD,
      );
    }
  });

  it("pins every image it pulls, and daprd to the Dapr line the e2e suite uses", () => {
    for (const [name, s] of Object.entries(services)) {
      if (s.image === services.migrate!.image) continue; // built here
      expect(`${name}: ${s.image}`).toMatch(/:\d+(\.\d+)+(-[a-z]+)?$/);
    }
    const e2e = fs.readFileSync(path.join(ROOT, "test/e2e/dapr-collector.e2e.test.ts"), "utf8");
    const e2eDaprd = /daprio\/daprd:(\d+\.\d+)\./.exec(e2e)![1];
    expect(services["collector-dapr"]!.image).toMatch(
      new RegExp(`^daprio/daprd:${e2eDaprd!.replace(".", "\\.")}\\.`),
    );
  });
});

function composeAvailable(): { ok: boolean; reason: string } {
  const engine = dockerEngine();
  if (!engine.ok) return engine;
  const v = spawnSync("docker", ["compose", "version"], { encoding: "utf8" });
  return v.status === 0 ? { ok: true, reason: "" } : { ok: false, reason: "no docker compose plugin" };
}
const composeOk = composeAvailable();
if (!composeOk.ok) {
  skipNotice(
    "test/deploy/compose.test.ts (docker compose up)",
    composeOk.reason,
    "The stack is started, fed one event through Dapr and queried where Docker with compose exists.",
  );
}
(composeOk.ok ? describe : describe.skip)("docker compose up (needs Docker with the compose plugin)", () => {
  const project = `bmtest${process.pid}`;
  const dc = (...args: string[]) =>
    spawnSync("docker", ["compose", "-p", project, ...args], {
      cwd: ROOT,
      encoding: "utf8",
      timeout: 900_000,
    });
  afterAll(() => {
    dc("down", "-v", "--remove-orphans");
  });

  it("stores an event published through Dapr and answers it through Dapr invocation", async () => {
    const up = dc("up", "-d", "--build", "--wait");
    expect(up.stderr).not.toMatch(/error/i);
    expect(up.status).toBe(0);
    const id = randomUUID();
    const now = new Date().toISOString();
    const event = {
      specversion: "1.0",
      id: `compose-${id}`,
      type: "add_observability_metrics",
      source: "compose-test",
      time: now,
      data: {
        inference_id: id,
        project_id: randomUUID(),
        endpoint_id: randomUUID(),
        model_id: randomUUID(),
        is_success: true,
        request_arrival_time: now,
        request_forward_time: now,
      },
    };
    const pub = await fetch("http://127.0.0.1:3501/v1.0/publish/pubsub-redis/budMetricsMessages", {
      method: "POST",
      headers: { "content-type": "application/cloudevents+json" },
      body: JSON.stringify(event),
    });
    expect(pub.status).toBe(204);
    let status = 0;
    for (let i = 0; i < 60 && status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 1_000));
      status = (
        await fetch(`http://127.0.0.1:3502/v1.0/invoke/budmetrics/method/observability/inferences/${id}`)
      ).status;
    }
    expect(status).toBe(200);
  }, 900_000);
});
