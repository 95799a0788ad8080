/**
 * components/ must declare what GET /dapr/subscribe serves and what DAPR-WIRE says the Redis
 * pub/sub needs. Checked line by line (no YAML parser in the workspace's dependencies): each
 * expected `key: value` must appear in the file.
 */
import fs from "node:fs";
import path from "node:path";
import { loadConfig } from "@budmetrics/config";
import { collectorConfigSchema, daprSubscription } from "../src";

const dir = path.resolve(__dirname, "../../../components");
const read = (f: string) => fs.readFileSync(path.join(dir, f), "utf8");
const lines = (text: string) =>
  text
    .split("\n")
    .map((l) => l.replace(/#.*$/, "").trim().replace(/^- /, ""))
    .filter(Boolean);

describe("components/", () => {
  const sub = daprSubscription(loadConfig(collectorConfigSchema, {}))[0]!;

  it("subscription.yaml is the declarative twin of GET /dapr/subscribe", () => {
    const l = lines(read("subscription.yaml"));
    expect(l).toEqual(
      expect.arrayContaining([
        "apiVersion: dapr.io/v2alpha1",
        "kind: Subscription",
        `pubsubname: ${sub.pubsubname}`,
        `topic: ${sub.topic}`,
        `match: ${sub.routes.rules[0]!.match}`,
        `path: ${sub.routes.rules[0]!.path}`,
        `default: ${sub.routes.default}`,
        `deadLetterTopic: ${sub.deadLetterTopic}`,
        "enabled: true",
        `maxMessagesCount: ${sub.bulkSubscribe.maxMessagesCount}`,
        `maxAwaitDurationMs: ${sub.bulkSubscribe.maxAwaitDurationMs}`,
        'rawPayload: "false"',
      ]),
    );
  });

  it("pubsub-redis.yaml sets every setting redelivery depends on", () => {
    const text = read("pubsub-redis.yaml");
    expect(text).toMatch(new RegExp(`name: ${sub.pubsubname}\\n`));
    expect(text).toContain("type: pubsub.redis");
    for (const name of [
      "consumerID",
      "redeliverInterval",
      "processingTimeout",
      "concurrency",
      "maxLenApprox",
    ]) {
      expect(text).toMatch(new RegExp(`- name: ${name}\\n\\s+value: "[^"0][^"]*"`));
    }
  });

  it("resiliency.yaml has an inbound retry for the pub/sub component", () => {
    const text = read("resiliency.yaml");
    expect(text).toContain("kind: Resiliency");
    expect(text).toMatch(
      new RegExp(`components:\\n\\s+${sub.pubsubname}:\\n\\s+inbound:\\n\\s+retry: pubsubInbound`),
    );
    expect(text).toMatch(/pubsubInbound:\n\s+policy: exponential/);
  });
});
