/**
 * Dapr resources without a cluster: components/*.yaml and the static parts of the chart's Dapr
 * template against the Dapr CRD schemas (field names, required fields, types), the Redis pub/sub
 * metadata names against components-contrib's list, the chart's dapr.io/* annotations against the
 * sidecar injector's list, and the chart's Dapr values against components/ and the collector's own
 * GET /dapr/subscribe — so a change on either side shows up here. The rendered chart is compared with
 * components/ in helm-chart.test.ts, where a helm binary exists.
 */
import fs from "node:fs";
import path from "node:path";
import YAML from "yaml";
import { loadConfig } from "@budmetrics/config";
import { collectorConfigSchema, daprSubscription } from "@budmetrics/collector";
import {
  PLACEHOLDER,
  redisPubsubMetadata,
  sidecarAnnotations,
  templateStaticDocs,
  validateDaprResource,
} from "./dapr-schema";
import { CHART, ROOT } from "./tools";

type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const componentsDir = path.join(ROOT, "components");
const componentFiles = fs.readdirSync(componentsDir).filter((f) => f.endsWith(".yaml"));
const components: Doc[] = componentFiles.flatMap((f) =>
  YAML.parseAllDocuments(fs.readFileSync(path.join(componentsDir, f), "utf8")).map((d) => d.toJS() as Doc),
);
const byKind = (docs: Doc[], kind: string) => docs.find((d) => d.kind === kind)!;
const values: Doc = YAML.parse(fs.readFileSync(path.join(CHART, "values.yaml"), "utf8"));
const daprTemplate = fs.readFileSync(path.join(CHART, "templates/dapr.yaml"), "utf8");
const templateDocs = templateStaticDocs(daprTemplate) as Doc[];
const metadataMap = (c: Doc) =>
  Object.fromEntries((c.spec.metadata as Doc[]).map((m) => [m.name, m.value ?? m.secretKeyRef]));

describe("the vendored Dapr CRD schemas catch what they should", () => {
  it("an unknown field, a missing required field and a wrong type are errors", () => {
    const sub = structuredClone(byKind(components, "Subscription"));
    sub.spec.bulkSubscribe.maxMessageCount = 10;
    delete sub.spec.topic;
    sub.spec.metadata.rawPayload = false;
    expect(validateDaprResource(sub)).toEqual([
      "Subscription.spec: missing required field topic",
      "Subscription.spec.bulkSubscribe: unknown field maxMessageCount",
      "Subscription.spec.metadata.rawPayload: expected string, got boolean",
    ]);
  });
});

describe("components/", () => {
  it.each(componentFiles)("%s matches the Dapr CRD schema", (file) => {
    const docs = YAML.parseAllDocuments(fs.readFileSync(path.join(componentsDir, file), "utf8"));
    for (const d of docs) expect(validateDaprResource(d.toJS() as Doc)).toEqual([]);
  });

  it("holds one Component, one Subscription (v2alpha1) and one Resiliency", () => {
    expect(components.map((d) => `${d.apiVersion} ${d.kind}`).sort()).toEqual([
      "dapr.io/v1alpha1 Component",
      "dapr.io/v1alpha1 Resiliency",
      "dapr.io/v2alpha1 Subscription",
    ]);
  });

  it("the Redis pub/sub sets only metadata the component knows, and redelivery is on", () => {
    const meta = metadataMap(byKind(components, "Component"));
    for (const name of Object.keys(meta)) expect(redisPubsubMetadata.names).toContain(name);
    for (const name of ["redeliverInterval", "processingTimeout"])
      expect(meta[name]).toMatch(/^[1-9][0-9]*(ms|s|m)$/);
  });

  it("the resiliency policy retries inbound deliveries of the pub/sub, and the subscription has a dead-letter topic", () => {
    const res = byKind(components, "Resiliency");
    const sub = byKind(components, "Subscription");
    const inbound = res.spec.targets.components[sub.spec.pubsubname].inbound;
    expect(res.spec.policies.retries[inbound.retry].maxRetries).toBeGreaterThan(0);
    expect(sub.spec.deadLetterTopic).toBeTruthy();
  });
});

describe("helm/budmetrics/templates/dapr.yaml, static parts", () => {
  it("every resource matches the Dapr CRD schema", () => {
    expect(templateDocs.map((d) => d.kind)).toEqual(["Component", "Subscription", "Resiliency"]);
    for (const d of templateDocs) expect(validateDaprResource(d, true)).toEqual([]);
  });

  it("the pub/sub metadata names are the Redis component's", () => {
    for (const m of byKind(templateDocs, "Component").spec.metadata as Doc[]) {
      if (m.name !== PLACEHOLDER) expect(redisPubsubMetadata.names).toContain(m.name);
    }
    // The same settings as components/, in the template and in values.
    const names = (c: Doc) => (c.spec.metadata as Doc[]).map((m) => m.name).filter((n) => n !== PLACEHOLDER);
    expect(names(byKind(templateDocs, "Component")).sort()).toEqual(
      names(byKind(components, "Component")).sort(),
    );
  });

  it("routes, rule and dead-letter are the collector's GET /dapr/subscribe", () => {
    const served = daprSubscription(loadConfig(collectorConfigSchema, {}))[0]!;
    const spec = byKind(templateDocs, "Subscription").spec;
    expect(spec.routes).toEqual(served.routes);
    expect(spec.bulkSubscribe.enabled).toBe(served.bulkSubscribe.enabled);
    expect(spec.metadata).toEqual(served.metadata);
  });
});

describe("values.yaml dapr.* equals components/ and the collector's defaults", () => {
  const v = values.dapr;
  const served = daprSubscription(loadConfig(collectorConfigSchema, {}))[0]!;

  it("pub/sub component", () => {
    const c = byKind(components, "Component");
    const meta = metadataMap(c);
    expect(v.pubsub.name).toBe(c.metadata.name);
    expect(v.pubsub.name).toBe(served.pubsubname);
    expect({
      redisHost: v.pubsub.redisHost,
      redisPassword: v.pubsub.redisPasswordSecret,
      enableTLS: String(v.pubsub.enableTLS),
      consumerID: v.pubsub.consumerID,
      redeliverInterval: v.pubsub.redeliverInterval,
      processingTimeout: v.pubsub.processingTimeout,
      concurrency: String(v.pubsub.concurrency),
      queueDepth: String(v.pubsub.queueDepth),
      maxLenApprox: String(v.pubsub.maxLenApprox),
    }).toEqual(meta);
    expect(v.pubsub.secretStore).toBe(c.auth?.secretStore);
    expect(v.pubsub.scopes).toEqual(c.scopes ?? []);
  });

  it("subscription", () => {
    const s = byKind(components, "Subscription");
    expect(v.subscription.name).toBe(s.metadata.name);
    expect(v.subscription.topic).toBe(s.spec.topic);
    expect(v.subscription.topic).toBe(served.topic);
    expect(v.subscription.deadLetterTopic).toBe(s.spec.deadLetterTopic);
    expect(v.subscription.deadLetterTopic).toBe(served.deadLetterTopic);
    expect(v.subscription.bulk).toEqual({
      maxMessagesCount: s.spec.bulkSubscribe.maxMessagesCount,
      maxAwaitDurationMs: s.spec.bulkSubscribe.maxAwaitDurationMs,
    });
    expect(v.subscription.bulk).toEqual({
      maxMessagesCount: served.bulkSubscribe.maxMessagesCount,
      maxAwaitDurationMs: served.bulkSubscribe.maxAwaitDurationMs,
    });
    expect(s.scopes).toEqual([values.collector.appId]);
  });

  it("resiliency", () => {
    const r = byKind(components, "Resiliency");
    expect(v.resiliency.name).toBe(r.metadata.name);
    expect(r.spec.policies.retries.pubsubInbound).toEqual(v.resiliency.retry);
    expect(r.spec.policies.timeouts.pubsubDelivery).toBe(v.resiliency.deliveryTimeout);
    expect(r.spec.policies.circuitBreakers.collectorDown).toEqual(v.resiliency.circuitBreaker);
  });
});

describe("dapr.io annotations the chart writes", () => {
  it("are all read by the Dapr sidecar injector", () => {
    // Pod annotations are written by the helpers (both apps) and the migration job.
    const templates = ["_helpers.tpl", "deployment.yaml", "migrate-job.yaml"]
      .map((f) => fs.readFileSync(path.join(CHART, "templates", f), "utf8"))
      .join("\n");
    const used = [...new Set([...templates.matchAll(/\b(dapr\.io\/[a-z0-9-]+):/g)].map((m) => m[1]!))];
    expect(used.length).toBeGreaterThan(10);
    for (const a of used) expect(sidecarAnnotations.annotations).toContain(a);
  });
});
