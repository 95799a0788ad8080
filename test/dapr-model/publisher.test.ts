/**
 * The typed publisher (apps/collector/src/publisher.ts) end to end: @dapr/dapr's DaprClient → a model
 * of daprd's publish API (test/support/dapr-sidecar/publish-api.ts) → the Redis stream → the sidecar
 * model's bulk delivery → the collector → the embedded engine. The numbers stored are compared with
 * sums computed from the generated input.
 */
import { CommunicationProtocolEnum, DaprClient, LogLevel } from "@dapr/dapr";
import { Redis } from "ioredis";
import {
  createMetricsPublisher,
  EventRejectedError,
  PublishFailedError,
  type MetricsPublisher,
} from "@budmetrics/collector";
import { Tables, toNumber, type InferenceData } from "@budmetrics/schema";
import { countRows, startCollector, type RunningCollector } from "../../apps/collector/test/harness";
import {
  backlog,
  fetchSubscription,
  loadInboundPolicy,
  loadPubsub,
  startPublishApi,
  startSidecar,
  type PublishApi,
  type Sidecar,
} from "../support/dapr-sidecar";
import { openTestEngine, type TestEngine } from "../support/engine";
import { createCatalogue, generateInferences, generateSamples } from "../support/generate";

const REDIS_URL = "redis://127.0.0.1:6379";
const SOURCE = "publisher-test";
jest.setTimeout(120_000);

let engine: TestEngine;
let redis: Redis;
let collector: RunningCollector;
let sidecar: Sidecar;
let api: PublishApi;
let client: DaprClient;
let publisher: MetricsPublisher;
const topic = `publisher-${process.pid}`;
const pubsub = loadPubsub();

beforeAll(async () => {
  engine = await openTestEngine("publisher");
  redis = new Redis(REDIS_URL);
  collector = await startCollector(engine.ch, {
    COLLECTOR_TOPIC: topic,
    COLLECTOR_DEAD_LETTER_TOPIC: `${topic}-dead`,
  });
  sidecar = await startSidecar({
    redisUrl: REDIS_URL,
    appUrl: collector.url,
    pubsub,
    inbound: loadInboundPolicy(pubsub.name),
    subscription: await fetchSubscription(collector.url, pubsub.name),
  });
  api = await startPublishApi({
    redis,
    appId: "platform-service",
    pubsubs: { [pubsub.name]: pubsub.maxLenApprox },
  });
  client = new DaprClient({
    daprHost: "127.0.0.1",
    daprPort: String(api.port),
    communicationProtocol: CommunicationProtocolEnum.HTTP,
    // The failures below are expected; the SDK would print each one.
    logger: {
      level: LogLevel.Error,
      service: { error() {}, warn() {}, info() {}, verbose() {}, debug() {} },
    },
  });
  publisher = createMetricsPublisher({ client, source: SOURCE, pubsubName: pubsub.name, topic });
});

afterAll(async () => {
  await sidecar?.stop();
  await collector?.stop();
  await api?.close();
  await redis.del(topic, `${topic}-dead`);
  redis.disconnect();
  await engine.close();
});

async function until(what: string, ok: () => Promise<boolean>, timeoutMs = 50_000) {
  const end = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const drained = () =>
  until("the stream to drain", async () => {
    const b = await backlog(redis, topic, pubsub.consumerID);
    return b.lag === 0 && b.pending === 0;
  });

const catalogue = createCatalogue(11, { models: 3, projects: 2, endpoints: 4 });
function inferences(seed: number, count: number): InferenceData[] {
  const now = Date.now();
  return [
    ...generateInferences({ seed, count, startMs: now - 600_000, endMs: now, catalogue, idVersion: 7 }),
  ];
}

async function stored(ids: readonly string[]) {
  const list = ids.map((id) => `'${id}'`).join(",");
  const [r] = await engine.ch.query<{ n: number; d: number; tokens: number }>(
    `SELECT count() AS n, uniqExact(inference_id) AS d, sum(input_tokens + output_tokens) AS tokens
       FROM ${engine.ch.database}.${Tables.inferenceEvents} WHERE inference_id IN (${list})`,
  );
  return { rows: toNumber(r?.n), distinct: toNumber(r?.d), tokens: toNumber(r?.tokens) };
}

describe("createMetricsPublisher through the sidecar's publish API", () => {
  it("publishes inferences and samples that the collector stores once, with the numbers they carry", async () => {
    const data = inferences(1, 300);
    const first = await publisher.publishInference(data[0]!);
    expect([first.id, first.source, first.type]).toEqual([
      data[0]!.inference_id,
      SOURCE,
      "add_observability_metrics",
    ]);
    const events = data.map((d) => publisher.inferenceEvent(d));
    const { failed } = await publisher.publishMany(events.slice(1));
    expect(failed).toEqual([]);
    // A publisher retrying after a timeout sends the same events again: same ids, stored once.
    expect((await publisher.publishMany(events.slice(0, 40))).failed).toEqual([]);

    const samples = [
      ...generateSamples({ seed: 2, count: 50, startMs: Date.now() - 60_000, endMs: Date.now() }),
    ];
    for (const s of samples) await publisher.publishSample(s.data, { id: s.id, time: new Date(s.timeMs) });

    // What daprd stored: the publisher's own CloudEvent, with topic and pubsubname added.
    const [entry] = await redis.xrange(topic, "-", "+", "COUNT", 1);
    const fields = entry![1];
    const onStream = JSON.parse(fields![1]!) as Record<string, unknown>;
    expect(onStream).toMatchObject({
      id: data[0]!.inference_id,
      source: SOURCE,
      topic,
      pubsubname: pubsub.name,
    });

    await drained();
    const ids = data.map((d) => d.inference_id);
    const oracleTokens = data.reduce((a, d) => a + (d.input_tokens ?? 0) + (d.output_tokens ?? 0), 0);
    expect(await stored(ids)).toEqual({ rows: 300, distinct: 300, tokens: oracleTokens });
    const sampleIds = samples.map((s) => `'${s.id}'`).join(",");
    const [sum] = await engine.ch.query<{ n: number; v: number }>(
      `SELECT count() AS n, sum(value) AS v FROM ${engine.ch.database}.${Tables.metricSamples}
        WHERE event_source = '${SOURCE}' AND event_id IN (${sampleIds})`,
    );
    expect(toNumber(sum?.n)).toBe(50);
    expect(toNumber(sum?.v)).toBeCloseTo(
      samples.reduce((a, s) => a + s.data.value, 0),
      6,
    );
    expect(await redis.xlen(`${topic}-dead`).catch(() => 0)).toBe(0);
  });

  it("refuses, before anything is sent, what the collector would refuse — naming the field and the rule", async () => {
    const before = { calls: api.calls.publish, stream: await redis.xlen(topic) };
    const [good] = inferences(3, 1);
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [{ ...good, status_code: 1000 }, "data.status_code", "EVENT_SCHEMA_INVALID"],
      [{ ...good, input_tokns: 5 }, "data", "EVENT_SCHEMA_INVALID"],
      [{ ...good, inference_id: "not-a-uuid" }, "data.inference_id", "EVENT_SCHEMA_INVALID"],
      [{ ...good, model_name: "bad \ud800 surrogate" }, "data.model_name", "EVENT_SCHEMA_INVALID"],
    ];
    for (const [data, field, code] of cases) {
      let err: unknown;
      try {
        await publisher.publishInference(data as unknown as InferenceData, { id: "x-1" });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(EventRejectedError);
      const r = err as EventRejectedError;
      expect([r.code, r.field.startsWith(field)]).toEqual([code, true]);
      expect(r.message).toContain(r.rule);
    }
    expect(() => publisher.sampleEvent({ metric_type: "Not Valid", value: 1 })).toThrow(/data\.metric_type/);
    expect(() =>
      publisher.sampleEvent({ metric_type: "queue_depth", value: 1 }, { time: "yesterday" }),
    ).toThrow(EventRejectedError);
    // One bad event in a batch: nothing of the batch is sent.
    const batch = inferences(4, 5).map((d) => publisher.inferenceEvent(d));
    const bad = publisher
      .sampleEvent({ metric_type: "queue_depth", value: 1 })
      .cloneWith({ data: { value: "x" } });
    await expect(publisher.publishMany([...batch, bad])).rejects.toThrow(EventRejectedError);
    expect(() => createMetricsPublisher({ client, source: "" })).toThrow(/source/);
    expect({ calls: api.calls.publish, stream: await redis.xlen(topic) }).toEqual(before);
  });

  it("throws when the sidecar does not take an event, and a republish of the same events after recovery stores each once", async () => {
    const wrongPubsub = createMetricsPublisher({
      client,
      source: SOURCE,
      pubsubName: "no-such-pubsub",
      topic,
    });
    const [one] = inferences(5, 1);
    await expect(wrongPubsub.publishInference(one!)).rejects.toThrow(PublishFailedError);
    await expect(wrongPubsub.publishInference(one!)).rejects.toThrow(/ERR_PUBSUB_NOT_FOUND/);

    const data = inferences(6, 30);
    const events = data.map((d) => publisher.inferenceEvent(d));
    api.failWith = "READONLY You can't write against a read only replica.";
    const { failed } = await publisher.publishMany(events);
    expect(failed.map((f) => f.event.id).sort()).toEqual(events.map((e) => e.id).sort());
    expect(failed[0]!.error).toMatch(/ERR_PUBSUB_PUBLISH_MESSAGE|read only replica/);
    api.failWith = undefined;
    expect((await publisher.publishMany(failed.map((f) => f.event))).failed).toEqual([]);
    expect((await publisher.publishMany(events.slice(0, 10))).failed).toEqual([]);
    await drained();
    expect(await stored(data.map((d) => d.inference_id))).toMatchObject({ rows: 30, distinct: 30 });
    expect(await countRows(engine.ch, Tables.quarantine, `event_source = '${SOURCE}'`)).toBe(0);
  });

  it("documents why publishMany does not use the SDK's publishBulk: a bulk the sidecar failed reads as success (dapr/js-sdk#703)", async () => {
    const events = inferences(7, 3).map((d) => publisher.inferenceEvent(d));
    api.failWith = "broker down";
    const res = await client.pubsub.publishBulk(
      pubsub.name,
      topic,
      events.map((e) => ({ entryID: e.id, event: e, contentType: "application/cloudevents+json" })),
    );
    api.failWith = undefined;
    // If this fails, the SDK now reports failed entries: publishMany may switch to the bulk API.
    expect(res.failedMessages).toEqual([]);
    expect(await stored(events.map((e) => e.id))).toMatchObject({ rows: 0 });
  });
});
