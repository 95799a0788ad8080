/**
 * The migration job pauses ingestion for a migration that backfills: the collector Deployment is
 * scaled to 0, the job waits until its pods are gone, migrates, and restores the replica count — also
 * after a failure, and from the annotation a dead run left behind. Against a fake Kubernetes API here;
 * the last test runs the real CLI (embedded engine) end to end.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  backfills,
  createKubeApi,
  loadMigrations,
  PAUSED_REPLICAS_ANNOTATION,
  withDeploymentPaused,
  type RenderContext,
} from "@budmetrics/clickhouse";
import { createSilentLogger } from "@budmetrics/logger";
import { startFakeKube, type FakeDeployment, type FakeKube } from "./fake-kube";

const log = createSilentLogger();
const ttlDays = {
  RAW_DATA_RETENTION_DAYS: 90,
  METRICS_RETENTION_DAYS: 365,
  AGGREGATED_DATA_RETENTION_DAYS: 730,
  QUARANTINE_RETENTION_DAYS: 30,
};
const single: RenderContext = { database: "bm", cluster: null, ttlDays };
const cluster: RenderContext = { database: "bm", cluster: "prod", ttlDays };

const collector = (replicas: number, annotations?: Record<string, string>): FakeDeployment => ({
  metadata: { name: "bm-collector", namespace: "bud", ...(annotations ? { annotations } : {}) },
  spec: {
    replicas,
    selector: {
      matchLabels: { "app.kubernetes.io/instance": "bm", "app.kubernetes.io/component": "collector" },
    },
  },
});

describe("which migrations need ingestion paused", () => {
  it("exactly those with a backfill INSERT: 0006, 0007, 0008, 0014, 0018 and 0019 of the current set, in both modes", () => {
    for (const ctx of [single, cluster]) {
      expect(
        loadMigrations()
          .filter((m) => backfills(m, ctx))
          .map((m) => m.version),
      ).toEqual([6, 7, 8, 14, 18, 19]);
    }
  });
});

describe("withDeploymentPaused against a Kubernetes API", () => {
  let kube: FakeKube;
  afterEach(() => kube?.close());
  const opts = { namespace: "bud", deployment: "bm-collector", timeoutMs: 5_000, pollMs: 10, log };

  it("scales to 0, waits for the pods to go, runs, then restores the count and drops the annotation", async () => {
    kube = await startFakeKube({ deployment: collector(3), pods: ["c-1", "c-2", "c-3"], lingerPolls: 3 });
    const seen: { replicas?: number; pods: number; annotation?: string }[] = [];
    const result = await withDeploymentPaused(createKubeApi({ baseUrl: kube.url }), opts, async () => {
      seen.push({
        replicas: kube.deployment!.spec.replicas,
        pods: kube.pods.length,
        annotation: kube.deployment!.metadata.annotations?.[PAUSED_REPLICAS_ANNOTATION],
      });
      return "migrated";
    });
    expect(result).toBe("migrated");
    expect(seen).toEqual([{ replicas: 0, pods: 0, annotation: "3" }]);
    expect(kube.deployment!.spec.replicas).toBe(3);
    expect(kube.deployment!.metadata.annotations ?? {}).not.toHaveProperty(PAUSED_REPLICAS_ANNOTATION);
    const lists = kube.calls.filter((c) => c.startsWith("GET /api/v1/namespaces/bud/pods?"));
    expect(lists.length).toBe(4); // three that still saw pods, one that saw none
    expect(lists[0]).toContain(
      `labelSelector=${encodeURIComponent("app.kubernetes.io/instance=bm,app.kubernetes.io/component=collector")}`,
    );
  });

  it("restores the collector when the migration fails, and passes the error on", async () => {
    kube = await startFakeKube({ deployment: collector(2), pods: ["c-1"], lingerPolls: 0 });
    await expect(
      withDeploymentPaused(createKubeApi({ baseUrl: kube.url }), opts, async () => {
        throw new Error("statement 6 failed");
      }),
    ).rejects.toThrow("statement 6 failed");
    expect(kube.deployment!.spec.replicas).toBe(2);
    expect(kube.deployment!.metadata.annotations ?? {}).not.toHaveProperty(PAUSED_REPLICAS_ANNOTATION);
  });

  it("does not migrate while pods remain past the timeout, and restores the collector", async () => {
    kube = await startFakeKube({ deployment: collector(2), pods: ["c-1"], lingerPolls: 1_000_000 });
    let ran = false;
    await expect(
      withDeploymentPaused(createKubeApi({ baseUrl: kube.url }), { ...opts, timeoutMs: 100 }, async () => {
        ran = true;
      }),
    ).rejects.toThrow(/pod\(s\) still present after 100 ms \(c-1\)/);
    expect(ran).toBe(false);
    expect(kube.deployment!.spec.replicas).toBe(2);
  });

  it("restores the count a dead run recorded, not the 0 it left", async () => {
    kube = await startFakeKube({
      deployment: collector(0, { [PAUSED_REPLICAS_ANNOTATION]: "4" }),
      pods: [],
    });
    await withDeploymentPaused(createKubeApi({ baseUrl: kube.url }), opts, async () => undefined);
    expect(kube.deployment!.spec.replicas).toBe(4);
    expect(kube.patches[0]).toEqual({
      metadata: { annotations: { [PAUSED_REPLICAS_ANNOTATION]: "4" } },
      spec: { replicas: 0 },
    });
  });

  it("leaves a missing Deployment alone (first install) and still runs", async () => {
    kube = await startFakeKube({ deployment: null, pods: [] });
    expect(await withDeploymentPaused(createKubeApi({ baseUrl: kube.url }), opts, async () => 7)).toBe(7);
    expect(kube.calls).toEqual(["GET /apis/apps/v1/namespaces/bud/deployments/bm-collector"]);
  });
});

describe("pnpm migrate --pause-deployment (the Helm hook's command line)", () => {
  const tsx = path.resolve(__dirname, "../../node_modules/.bin/tsx");
  const cli = path.resolve(__dirname, "../../packages/clickhouse/src/migrate-cli.ts");

  function runCli(args: string[], env: Record<string, string>): Promise<{ code: number; out: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(tsx, [cli, ...args], {
        env: { PATH: process.env.PATH ?? "", HOME: os.tmpdir(), LOG_LEVEL: "silent", ...env },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      child.stdout.on("data", (d: Buffer) => (out += d.toString()));
      child.stderr.on("data", (d: Buffer) => (out += d.toString()));
      child.on("error", reject);
      child.on("close", (code) => resolve({ code: code ?? -1, out }));
    });
  }

  let kube: FakeKube;
  afterAll(() => kube?.close());

  it("pauses the collector only while a backfilling migration is pending", async () => {
    kube = await startFakeKube({ deployment: collector(2), pods: ["c-1", "c-2"], lingerPolls: 1 });
    const env = { DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), "bm-pause-cli-")) };
    const args = ["--pause-deployment", "bm-collector", "--namespace", "bud", "--kube-api", kube.url];

    const first = await runCli(args, env);
    expect(first.out).toContain(
      "0006_inference_model_rollups.sql, 0007_inference_ids.sql, 0008_inference_rollup.sql, 0014_rollup_granule.sql, 0018_inference_prompt_hours.sql, 0019_inference_events_by_time.sql backfill(s): pausing deployment bud/bm-collector",
    );
    expect(first.out).toContain(`applied ${loadMigrations().length} migration(s)`);
    expect(first.code).toBe(0);
    expect(kube.patches.map((p) => (p as { spec: { replicas: number } }).spec.replicas)).toEqual([0, 2]);
    expect(kube.deployment!.spec.replicas).toBe(2);

    // Nothing pending: the API is not even asked.
    const calls = kube.calls.length;
    const second = await runCli(args, env);
    expect(second.code).toBe(0);
    expect(second.out).toContain(`applied 0 migration(s), ${loadMigrations().length} already applied`);
    expect(kube.calls.length).toBe(calls);
  }, 120_000);
});
