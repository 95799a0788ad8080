/**
 * The collector behind a model of daprd's Redis Streams bulk delivery (test/support/dapr-sidecar),
 * over the real Redis at 127.0.0.1:6379 and the embedded engine: the settings come from components/
 * and the collector's own GET /dapr/subscribe, as in production. Each test uses its own stream.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Redis } from "ioredis";
import { createMemoryClaimStore } from "@budmetrics/collector";
import { Tables } from "@budmetrics/schema";
import {
  countInferences,
  countRows,
  startCollector,
  type RunningCollector,
} from "../../apps/collector/test/harness";
import {
  backlog,
  fetchSubscription,
  loadInboundPolicy,
  loadPubsub,
  startSidecar,
  storedCloudEvent,
  xaddAll,
  type RedisPubsubSettings,
  type Sidecar,
} from "../support/dapr-sidecar";
import { openTestEngine, type TestEngine } from "../support/engine";
import { createCatalogue, generateInferences, inferenceCloudEvent } from "../support/generate";

const REDIS_URL = "redis://127.0.0.1:6379";
jest.setTimeout(120_000);
let engine: TestEngine;
let redis: Redis;
const streams: string[] = [];
beforeAll(async () => {
  engine = await openTestEngine("dapr_model");
  redis = new Redis(REDIS_URL);
});
afterAll(async () => {
  if (streams.length > 0) await redis.del(...streams, ...streams.map((s) => `${s}-dead`));
  redis.disconnect();
  await engine.close();
});

const catalogue = createCatalogue(7, { models: 4, projects: 3, endpoints: 9 });
let seed = 500;
function events(count: number) {
  const now = Date.now();
  return [
    ...generateInferences({
      seed: seed++,
      count,
      startMs: now - 300_000,
      endMs: now,
      catalogue,
      idVersion: 7,
    }),
  ];
}

async function until(what: string, ok: () => Promise<boolean>, timeoutMs = 50_000) {
  const end = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A collector on its own topic and dead-letter topic, and a sidecar for it (overrides named in each test). */
async function setup(opts: {
  env?: Record<string, string>;
  pubsub?: Partial<RedisPubsubSettings>;
  claims?: ReturnType<typeof createMemoryClaimStore>;
  appUrl?: string;
}) {
  const topic = `dapr-model-${process.pid}-${streams.length}`;
  streams.push(topic);
  const collector = await startCollector(
    engine.ch,
    { COLLECTOR_TOPIC: topic, COLLECTOR_DEAD_LETTER_TOPIC: `${topic}-dead`, ...opts.env },
    opts.claims ? { claims: opts.claims } : {},
  );
  const pubsub = { ...loadPubsub(), ...opts.pubsub };
  const subscription = await fetchSubscription(collector.url, pubsub.name);
  const bulks: number[] = [];
  const start = (appUrl = opts.appUrl ?? collector.url) =>
    startSidecar({
      redisUrl: REDIS_URL,
      appUrl,
      pubsub,
      inbound: loadInboundPolicy(pubsub.name),
      subscription,
      onBulk: (b) => {
        if (b.attempt === 0) bulks.push(b.entries);
      },
    });
  const target = { topic, pubsubname: pubsub.name };
  const publish = (data: ReturnType<typeof events>, mutate = (e: Record<string, unknown>) => e) =>
    xaddAll(
      redis,
      target,
      data.map((d) => storedCloudEvent(mutate(inferenceCloudEvent(d) as Record<string, unknown>), target)),
    );
  return { collector, pubsub, subscription, topic, bulks, start, publish };
}

async function stopAll(collector: RunningCollector, ...sidecars: Sidecar[]) {
  for (const s of sidecars) await s.stop();
  await collector.stop();
}

describe("the collector behind the sidecar model", () => {
  it("drains a backlog exactly once with the shipped settings: full bulks, duplicates SUCCESS, invalid DROP to the dead-letter topic, nothing pending", async () => {
    const s = await setup({ env: { COLLECTOR_BULK_MAX_MESSAGES: "1000" } });
    const data = events(2_500);
    await s.publish(data);
    await s.publish(data.slice(0, 300)); // a publisher that sent some twice
    await s.publish(data.slice(0, 20), (e) => ({
      ...e,
      id: `bad-${String(e.id)}`,
      data: { status_code: 1000 },
    }));
    const before = await countInferences(engine.ch);
    const sidecar = await s.start();
    await until("the stream to drain", async () => {
      const b = await backlog(redis, s.topic, s.pubsub.consumerID);
      return sidecar.stats.acked === 2_820 && b.lag === 0 && b.pending === 0;
    });
    const after = await countInferences(engine.ch);
    expect([after.raw - before.raw, after.distinct - before.distinct, after.rollup - before.rollup]).toEqual([
      2_500, 2_500, 2_500,
    ]);
    // Bulks fill: never above maxMessagesCount, and a backlog sends full ones.
    expect(Math.max(...s.bulks)).toBe(1_000);
    expect(s.bulks.reduce((a, b) => a + b, 0)).toBe(2_820);
    expect(await redis.xlen(`${s.topic}-dead`)).toBe(20);
    expect(sidecar.stats.deadLettered).toBe(20);
    expect(
      await countRows(engine.ch, Tables.quarantine, "startsWith(event_id, 'bad-')"),
    ).toBeGreaterThanOrEqual(20);
    await stopAll(s.collector, sidecar);
  });

  it("paces like daprd: with concurrency below maxMessagesCount a bulk never holds more than concurrency and waits for the timer", async () => {
    const slow = await setup({
      env: { COLLECTOR_BULK_MAX_MESSAGES: "100", COLLECTOR_BULK_MAX_AWAIT_MS: "200" },
      pubsub: { concurrency: 4, queueDepth: 4 },
    });
    await slow.publish(events(40));
    const t0 = Date.now();
    const a = await slow.start();
    await until("40 acks", async () => a.stats.acked === 40);
    const slowMs = Date.now() - t0;
    expect(Math.max(...slow.bulks)).toBeLessThanOrEqual(4);
    // 40 events, at most 4 per tick of 200 ms: ≥ ~2 s whatever the app does.
    expect(slowMs).toBeGreaterThanOrEqual(1_500);
    await stopAll(slow.collector, a);

    const fast = await setup({
      env: { COLLECTOR_BULK_MAX_MESSAGES: "40", COLLECTOR_BULK_MAX_AWAIT_MS: "200" },
      pubsub: { concurrency: 40, queueDepth: 40 },
    });
    await fast.publish(events(40));
    const t1 = Date.now();
    const b = await fast.start();
    await until("40 acks", async () => b.stats.acked === 40);
    expect(fast.bulks).toEqual([40]); // one full bulk, sent without waiting for the timer
    expect(Date.now() - t1).toBeLessThan(slowMs);
    await stopAll(fast.collector, b);
  });

  it("answers RETRY while another writer holds a claim; the inbound retry policy redelivers until the row is stored once — and holds the whole bulk meanwhile, as daprd does", async () => {
    const claims = createMemoryClaimStore({ maxCommitted: 10_000 });
    const s = await setup({ claims });
    const data = events(10);
    const held = data.slice(0, 3).map((d) => `inf:${d.inference_id}`);
    await claims.claim(held); // another writer, mid-write
    await s.publish(data);
    const sidecar = await s.start();
    await until("a retry", async () => sidecar.stats.retries > 0);
    // The 7 stored entries are answered SUCCESS, but daprd acknowledges a bulk's messages only when
    // its handler returns, after the retries of the others: nothing is acknowledged yet.
    await new Promise((r) => setTimeout(r, 500));
    expect(sidecar.stats.acked).toBe(0);
    await claims.release(held); // that writer failed: its claims are freed
    await until("every event", async () => sidecar.stats.acked === 10);
    const ids = data.map((d) => `'${d.inference_id}'`).join(",");
    expect(await countRows(engine.ch, Tables.inferenceEvents, `inference_id IN (${ids})`)).toBe(10);
    expect(await backlog(redis, s.topic, s.pubsub.consumerID)).toEqual({ lag: 0, pending: 0 });
    await stopAll(s.collector, sidecar);
  });

  it("redelivers what a sidecar read but never acknowledged (crash) after processingTimeout, through XPENDING/XCLAIM", async () => {
    // An app that accepts deliveries and never answers: the first sidecar holds its messages pending.
    const hang = http.createServer(() => undefined);
    await new Promise<void>((r) => hang.listen(0, "127.0.0.1", r));
    const hangUrl = `http://127.0.0.1:${(hang.address() as AddressInfo).port}`;
    const s = await setup({ pubsub: { processingTimeoutMs: 1_000, redeliverIntervalMs: 300 } });
    const data = events(50);
    await s.publish(data);
    const crashed = await s.start(hangUrl);
    await until(
      "the messages to be read",
      async () => (await backlog(redis, s.topic, s.pubsub.consumerID)).pending === 50,
    );
    crashed.kill(); // the process dies: nothing acknowledged
    hang.closeAllConnections();
    hang.close();
    expect(await backlog(redis, s.topic, s.pubsub.consumerID)).toEqual({ lag: 0, pending: 50 });

    const restarted = await s.start();
    await until("the pending messages to be claimed and stored", async () => restarted.stats.acked === 50);
    expect(restarted.stats.redelivered).toBe(50);
    const ids = data.map((d) => `'${d.inference_id}'`).join(",");
    expect(await countRows(engine.ch, Tables.inferenceEvents, `inference_id IN (${ids})`)).toBe(50);
    expect(await backlog(redis, s.topic, s.pubsub.consumerID)).toEqual({ lag: 0, pending: 0 });
    await stopAll(s.collector, restarted);
  });
});
