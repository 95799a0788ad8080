/**
 * The chart rendered by helm (3 and 4, as installed by scripts/install-helm.sh; skipped with the
 * reason printed where there is no helm binary): `helm lint --strict`, the Dapr resources equal to
 * components/ for the default values and valid against the Dapr CRD schemas, each container's
 * environment exactly what its process reads, Dapr annotations, shutdown times derived from the
 * apps' budgets, the migration hook and its pause of the collector, autoscaling, and the variants
 * (cluster mode, an existing pub/sub, existing Secrets, monitoring and network policies).
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import YAML from "yaml";
import { chartDerived, processSchemas } from "../../scripts/chart-schema";
import { validateDaprResource } from "./dapr-schema";
import { CHART, helmBinaries, ROOT, skipNotice } from "./tools";

type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const helms = helmBinaries();
if (helms.length === 0) {
  skipNotice(
    "test/deploy/helm-chart.test.ts",
    "no helm binary (run scripts/install-helm.sh, as .ci/run does, or put helm on PATH)",
    "helm lint and the rendered-chart checks run where helm exists; the static chart checks ran regardless.",
  );
}

/** The values an install must set (the chart README's command, with inline secrets). */
const REQUIRED = [
  "--set",
  "clickhouse.url=http://clickhouse:8123",
  "--set",
  "redis.url=redis://:pw@redis-master:6379/0",
  "--set",
  "appToken.value=test-token",
];

const components: Doc[] = fs
  .readdirSync(path.join(ROOT, "components"))
  .filter((f) => f.endsWith(".yaml"))
  .flatMap((f) =>
    YAML.parseAllDocuments(fs.readFileSync(path.join(ROOT, "components", f), "utf8")).map(
      (d) => d.toJS() as Doc,
    ),
  );

/** What components/ and the chart must agree on (the chart adds its labels). */
function daprEssence(d: Doc): Doc {
  const out: Doc = {
    apiVersion: d.apiVersion,
    kind: d.kind,
    name: d.metadata.name,
    spec: structuredClone(d.spec),
  };
  if (d.kind === "Component") {
    out.spec.metadata = Object.fromEntries(
      (d.spec.metadata as Doc[]).map((m) => [m.name, m.value ?? m.secretKeyRef]),
    );
  }
  out.scopes = d.scopes ?? [];
  out.auth = d.auth ?? null;
  return out;
}

const seconds = (ms: number) => Math.ceil(ms / 1000);

if (helms.length === 0) {
  describe.skip("helm/budmetrics rendered by helm (needs a helm binary)", () => {
    it("lints and renders", () => undefined);
  });
}

for (const { bin, version } of helms)
  describe(`helm/budmetrics rendered by helm ${version}`, () => {
    const helm = (args: string[]) => spawnSync(bin, args, { cwd: ROOT, encoding: "utf8" });
    function render(...args: string[]): Doc[] {
      const r = helm(["template", "bm", CHART, "--namespace", "bud", ...REQUIRED, ...args]);
      if (r.status !== 0) throw new Error(`helm template failed: ${r.stderr}`);
      return YAML.parseAllDocuments(r.stdout, { uniqueKeys: true })
        .map((d) => {
          if (d.errors.length > 0) throw new Error(`rendered YAML: ${d.errors[0]!.message}`);
          return d.toJS() as Doc | null;
        })
        .filter((d): d is Doc => d !== null);
    }
    const find = (docs: Doc[], kind: string, name?: string) =>
      docs.filter((d) => d.kind === kind && (name === undefined || d.metadata.name === name));
    const one = (docs: Doc[], kind: string, name?: string) => {
      const found = find(docs, kind, name);
      expect(`${kind} ${name ?? ""}: ${found.length}`).toBe(`${kind} ${name ?? ""}: 1`);
      return found[0]!;
    };
    /** Every variable a container sees: its ConfigMap's keys and its env entries, with values. */
    function containerEnv(docs: Doc[], container: Doc): Record<string, string> {
      const env: Record<string, string> = {};
      for (const from of container.envFrom ?? []) {
        Object.assign(env, one(docs, "ConfigMap", from.configMapRef.name).data);
      }
      for (const e of container.env ?? []) {
        env[e.name] = e.value ?? `secret:${e.valueFrom.secretKeyRef.name}/${e.valueFrom.secretKeyRef.key}`;
      }
      return env;
    }
    const deployment = (docs: Doc[], app: string) => one(docs, "Deployment", `bm-budmetrics-${app}`);
    const containerOf = (d: Doc) => d.spec.template.spec.containers[0];

    const docs = render();

    it("lints clean with --strict", () => {
      const r = helm(["lint", "--strict", CHART, ...REQUIRED]);
      expect(`${r.stdout}${r.stderr}`).toContain("0 chart(s) failed");
      expect(r.status).toBe(0);
    });

    it("refuses to render without the required values, naming them", () => {
      const r = helm(["template", "bm", CHART]);
      expect(r.status).not.toBe(0);
      expect(r.stderr).toMatch(/clickhouse\.url|redis\.url|appToken\.value/);
      const bad = helm([
        "template",
        "bm",
        CHART,
        ...REQUIRED,
        "--set",
        "collector.config.COLLECTOR_BATCH_ROWS=1",
      ]);
      expect(bad.status).not.toBe(0);
      expect(bad.stderr).toContain("COLLECTOR_BATCH_ROWS");
    });

    it("renders the Dapr resources of components/ for the default values", () => {
      const rendered = docs.filter((d) => String(d.apiVersion).startsWith("dapr.io/"));
      expect(rendered.map(daprEssence).sort((a, b) => a.kind.localeCompare(b.kind))).toEqual(
        components.map(daprEssence).sort((a, b) => a.kind.localeCompare(b.kind)),
      );
    });

    it("every Dapr resource it renders, in every variant, matches the Dapr CRD schema", () => {
      const variants = [
        docs,
        render("--set", "dapr.pubsub.create=false", "--set", "dapr.pubsub.name=bud-pubsub"),
      ];
      for (const d of variants.flat().filter((x) => String(x.apiVersion).startsWith("dapr.io/"))) {
        expect(validateDaprResource(d)).toEqual([]);
      }
    });

    it("gives each container exactly the variables its process reads (DATA_DIR aside)", () => {
      const expected = (schema: object, drop: string[]) =>
        Object.keys(schema)
          .filter((n) => !(n in chartDerived.notSet) && !drop.includes(n))
          .sort();
      for (const app of ["collector", "query"] as const) {
        const env = containerEnv(docs, containerOf(deployment(docs, app)));
        expect(Object.keys(env).sort()).toEqual(expected(processSchemas[app], ["CLICKHOUSE_CLUSTER"]));
        expect(env.HOST).toBe("0.0.0.0");
        expect(env.CLICKHOUSE_MIGRATE_ON_START).toBe("false");
        expect(env.PORT).toBe(String(containerOf(deployment(docs, app)).ports[0].containerPort));
      }
      const job = one(docs, "Job");
      const jobEnv = containerEnv(docs, job.spec.template.spec.containers[0]);
      expect(Object.keys(jobEnv).sort()).toEqual(
        expected(processSchemas.migrate, ["CLICKHOUSE_CLUSTER", "CLICKHOUSE_MIGRATE_ON_START"]),
      );
    });

    it("writes numbers the way the apps parse them (no exponent notation)", () => {
      const env = containerEnv(docs, containerOf(deployment(docs, "query")));
      expect(env.QUERY_MAX_MEMORY_BYTES).toBe("2000000000");
      expect(env.QUERY_ROWS_READ_SAMPLE_RATE).toBe("0.1");
      const c = containerEnv(docs, containerOf(deployment(docs, "collector")));
      expect(c.COLLECTOR_QUEUE_MAX_BYTES).toBe("268435456");
      const meta = one(docs, "Component").spec.metadata as Doc[];
      expect(meta.find((m) => m.name === "maxLenApprox")!.value).toBe("1000000");
    });

    it("the collector serves the subscription the chart declares", () => {
      const env = containerEnv(docs, containerOf(deployment(docs, "collector")));
      const sub = one(docs, "Subscription");
      expect(env.COLLECTOR_PUBSUB_NAME).toBe(sub.spec.pubsubname);
      expect(env.COLLECTOR_TOPIC).toBe(sub.spec.topic);
      expect(env.COLLECTOR_DEAD_LETTER_TOPIC).toBe(sub.spec.deadLetterTopic);
      expect(env.COLLECTOR_BULK_MAX_MESSAGES).toBe(String(sub.spec.bulkSubscribe.maxMessagesCount));
      expect(env.COLLECTOR_BULK_MAX_AWAIT_MS).toBe(String(sub.spec.bulkSubscribe.maxAwaitDurationMs));
      expect(sub.scopes).toEqual([
        deployment(docs, "collector").spec.template.metadata.annotations["dapr.io/app-id"],
      ]);
    });

    it("annotates both pods for Dapr: app ids, port, protocol, health path, token secret", () => {
      const secret = one(docs, "Secret", "bm-budmetrics");
      for (const [app, appId] of [
        ["collector", "budmetrics-collector"],
        ["query", "budmetrics"],
      ] as const) {
        const d = deployment(docs, app);
        const a = d.spec.template.metadata.annotations;
        expect(a["dapr.io/enabled"]).toBe("true");
        expect(a["dapr.io/app-id"]).toBe(appId);
        expect(a["dapr.io/app-port"]).toBe(String(containerOf(d).ports[0].containerPort));
        expect(a["dapr.io/app-protocol"]).toBe("http");
        expect(a["dapr.io/enable-app-health-check"]).toBe("true");
        expect(a["dapr.io/app-health-check-path"]).toBe("/healthz");
        expect(a["dapr.io/app-token-secret"]).toBe(secret.metadata.name);
        expect(secret.stringData.token).toBe("test-token");
        expect(containerEnv(docs, containerOf(d)).APP_API_TOKEN).toBe(`secret:${secret.metadata.name}/token`);
        expect(d.spec.template.spec.securityContext.runAsNonRoot).toBe(true);
      }
    });

    it("gives the sidecars and the pods more time than the apps' shutdown budgets", () => {
      for (const variant of [docs, render("--set", "collector.config.SHUTDOWN_DEADLINE_MS=61500")]) {
        for (const app of ["collector", "query"] as const) {
          const d = deployment(variant, app);
          const env = containerEnv(variant, containerOf(d));
          const budget = seconds(
            Math.max(Number(env.SHUTDOWN_DEADLINE_MS), Number(env.COLLECTOR_DRAIN_TIMEOUT_MS ?? 0)),
          );
          const a = d.spec.template.metadata.annotations;
          const graceful = Number(a["dapr.io/graceful-shutdown-seconds"]);
          expect(graceful).toBeGreaterThanOrEqual(budget);
          expect(graceful).toBeGreaterThanOrEqual(seconds(Number(env.DRAIN_TIMEOUT_MS)));
          let sidecar = graceful;
          if (app === "collector") {
            expect(graceful).toBeGreaterThanOrEqual(seconds(Number(env.COLLECTOR_DRAIN_TIMEOUT_MS)));
            const block = a["dapr.io/block-shutdown-duration"] as string;
            expect(block).toMatch(/^\d+s$/);
            expect(Number(block.slice(0, -1))).toBeGreaterThanOrEqual(budget);
            sidecar += Number(block.slice(0, -1));
          } else {
            expect(a["dapr.io/block-shutdown-duration"]).toBeUndefined();
          }
          expect(d.spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThan(sidecar);
        }
      }
      expect(
        deployment(render("--set", "collector.config.SHUTDOWN_DEADLINE_MS=61500"), "collector").spec.template
          .metadata.annotations["dapr.io/graceful-shutdown-seconds"],
      ).toBe("62");
    });

    it("migrates in a pre-install/pre-upgrade hook that pauses the collector, with only the rights it needs", () => {
      const job = one(docs, "Job");
      const hookWeight = (d: Doc) => Number(d.metadata.annotations["helm.sh/hook-weight"]);
      expect(job.metadata.annotations["helm.sh/hook"]).toBe("pre-install,pre-upgrade");
      const args: string[] = job.spec.template.spec.containers[0].command;
      expect(args.slice(0, 3)).toEqual(["node", "--enable-source-maps", "dist/migrate.js"]);
      const collectorName = deployment(docs, "collector").metadata.name;
      expect(args[args.indexOf("--pause-deployment") + 1]).toBe(collectorName);
      const timeout = Number(args[args.indexOf("--pause-timeout") + 1]);
      expect(timeout).toBeGreaterThan(
        deployment(docs, "collector").spec.template.spec.terminationGracePeriodSeconds,
      );
      expect(job.spec.template.metadata.annotations["dapr.io/enabled"]).toBe("false");

      const role = one(docs, "Role");
      expect(role.rules).toEqual([
        {
          apiGroups: ["apps"],
          resources: ["deployments"],
          resourceNames: [collectorName],
          verbs: ["get", "patch"],
        },
        { apiGroups: [""], resources: ["pods"], verbs: ["list"] },
      ]);
      const binding = one(docs, "RoleBinding");
      expect(binding.subjects).toEqual([
        { kind: "ServiceAccount", name: job.spec.template.spec.serviceAccountName, namespace: "bud" },
      ]);
      // Everything the job uses exists before it: hooks run before the release's own resources.
      const hookSecret = one(docs, "Secret", "bm-budmetrics-migrate");
      for (const d of [one(docs, "ServiceAccount"), role, binding, hookSecret]) {
        expect(d.metadata.annotations["helm.sh/hook"]).toBe("pre-install,pre-upgrade");
        expect(hookWeight(d)).toBeLessThan(hookWeight(job));
      }
      const jobEnv = containerEnv(docs, job.spec.template.spec.containers[0]);
      expect(jobEnv.CLICKHOUSE_PASSWORD).toBe("secret:bm-budmetrics-migrate/CLICKHOUSE_PASSWORD");
    });

    it("autoscales both apps and keeps one of each through disruptions", () => {
      for (const app of ["collector", "query"]) {
        const d = deployment(docs, app);
        expect(d.spec.replicas).toBeUndefined(); // the HPA owns it
        expect(one(docs, "HorizontalPodAutoscaler", d.metadata.name).spec.scaleTargetRef.name).toBe(
          d.metadata.name,
        );
        expect(one(docs, "PodDisruptionBudget", d.metadata.name).spec.selector.matchLabels).toEqual(
          d.spec.selector.matchLabels,
        );
      }
      const fixed = render("--set", "collector.autoscaling.enabled=false", "--set", "collector.replicas=3");
      expect(deployment(fixed, "collector").spec.replicas).toBe(3);
      expect(find(fixed, "HorizontalPodAutoscaler")).toHaveLength(1);
    });

    it("cluster mode reaches the apps and the migration job", () => {
      const c = render("--set", "clickhouse.cluster=prod");
      for (const app of ["collector", "query"]) {
        expect(containerEnv(c, containerOf(deployment(c, app))).CLICKHOUSE_CLUSTER).toBe("prod");
      }
      expect(containerEnv(c, one(c, "Job").spec.template.spec.containers[0]).CLICKHOUSE_CLUSTER).toBe("prod");
    });

    it("uses an existing pub/sub component when told to", () => {
      const e = render("--set", "dapr.pubsub.create=false", "--set", "dapr.pubsub.name=bud-pubsub");
      expect(find(e, "Component")).toHaveLength(0);
      expect(one(e, "Subscription").spec.pubsubname).toBe("bud-pubsub");
      expect(Object.keys(one(e, "Resiliency").spec.targets.components)).toEqual(["bud-pubsub"]);
      expect(containerEnv(e, containerOf(deployment(e, "collector"))).COLLECTOR_PUBSUB_NAME).toBe(
        "bud-pubsub",
      );
    });

    it("takes every secret from existing Secrets when given, and renders none of its own", () => {
      const e = render(
        "--set",
        "clickhouse.existingSecret=ch",
        "--set",
        "redis.existingSecret=rd",
        "--set",
        "appToken.existingSecret=bud-app-api-token",
      );
      expect(find(e, "Secret")).toHaveLength(0);
      const env = containerEnv(e, containerOf(deployment(e, "query")));
      expect([env.CLICKHOUSE_PASSWORD, env.REDIS_URL, env.APP_API_TOKEN]).toEqual([
        "secret:ch/CLICKHOUSE_PASSWORD",
        "secret:rd/REDIS_URL",
        "secret:bud-app-api-token/token",
      ]);
      expect(deployment(e, "query").spec.template.metadata.annotations["dapr.io/app-token-secret"]).toBe(
        "bud-app-api-token",
      );
      expect(containerEnv(e, one(e, "Job").spec.template.spec.containers[0]).CLICKHOUSE_PASSWORD).toBe(
        "secret:ch/CLICKHOUSE_PASSWORD",
      );
    });

    it("installs from examples/bud-stack.values.yaml alone: the stack's secrets, pub/sub and ClickHouse", () => {
      const r = helm(["template", "bud", CHART, "-f", path.join(CHART, "examples/bud-stack.values.yaml")]);
      expect(r.stderr).toBe("");
      const b = YAML.parseAllDocuments(r.stdout)
        .map((d) => d.toJS() as Doc | null)
        .filter((d): d is Doc => d !== null);
      expect(find(b, "Secret")).toHaveLength(0);
      expect(find(b, "Component")).toHaveLength(0);
      expect(one(b, "Subscription").spec.pubsubname).toBe("bud-pubsub");
      const q = one(b, "Deployment", "bud-budmetrics-query");
      expect(q.spec.template.metadata.annotations["dapr.io/app-token-secret"]).toBe("bud-app-api-token");
      expect(containerEnv(b, containerOf(q)).CLICKHOUSE_PASSWORD).toBe(
        "secret:bud-secretstore/CLICKHOUSE_PASSWORD",
      );
    });

    it("restarts the collector when its Dapr resources change", () => {
      const before = deployment(docs, "collector").spec.template.metadata.annotations["checksum/dapr"];
      const after = deployment(render("--set", "dapr.pubsub.concurrency=64"), "collector").spec.template
        .metadata.annotations["checksum/dapr"];
      expect(before).toMatch(/^[0-9a-f]{64}$/);
      expect(after).not.toBe(before);
    });

    it("renders ServiceMonitors and NetworkPolicies when enabled, none by default", () => {
      expect(find(docs, "ServiceMonitor")).toHaveLength(0);
      expect(find(docs, "NetworkPolicy")).toHaveLength(0);
      const m = render("--set", "serviceMonitor.enabled=true", "--set", "networkPolicy.enabled=true");
      expect(find(m, "ServiceMonitor").map((s) => s.spec.endpoints.map((e: Doc) => e.port))).toEqual([
        ["http", "dapr-metrics"],
        ["http", "dapr-metrics"],
      ]);
      for (const np of find(m, "NetworkPolicy")) {
        expect(np.spec.ingress[0].ports).toEqual([{ port: 50002 }]);
        expect(np.spec.ingress[0].from[0].podSelector.matchLabels).toEqual({
          "dapr.io/sidecar-injected": "true",
        });
      }
      for (const svc of find(m, "Service")) {
        const d = find(m, "Deployment").find(
          (x) =>
            x.spec.selector.matchLabels["app.kubernetes.io/component"] ===
            svc.spec.selector["app.kubernetes.io/component"],
        )!;
        expect(svc.spec.selector).toEqual(d.spec.selector.matchLabels);
      }
    });
  });
