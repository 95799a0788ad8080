/** The OTLP pending store in the real Redis at 127.0.0.1:6379 (REDIS_URL overrides), two replicas sharing it. */
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { Redis } from "ioredis";
import { createRedisPendingStore } from "../src/adapters/redis-pending-store";
import { emptyTrace, type TraceState } from "../src/otlp/assemble";
import { createOtlpIngest } from "../src/otlp/otlp-ingest";
import { createRng } from "../../../test/support/generate";
import type { OtlpJsonRequest } from "../../../test/support/otlp-gateway";
import {
  cloudEventOf,
  createExactlyOnceSink,
  createTestPipeline,
  perSpan,
  send,
  TEST_CONFIG,
} from "./otlp-harness";
import { exportRequests, generateGatewayRequests } from "../../../test/support/otlp-gateway";

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
let redis: Redis;
const prefix = `bmtest:{otlp-${crypto.randomUUID()}}:`;
const T0 = Date.UTC(2026, 0, 7, 12);

beforeAll(async () => {
  redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  await redis.ping();
});
afterAll(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

const fixture = JSON.parse(
  fs.readFileSync(path.join(__dirname, "fixtures", "otlp", "otel_traces_sample.otlp.json"), "utf8"),
) as OtlpJsonRequest;

describe("redis pending store", () => {
  it("updates are atomic under contention (compare-and-set script)", async () => {
    const store = createRedisPendingStore({ redis, prefix: `${prefix}cas:` });
    const bump = () =>
      store.updateTrace("t1", (cur) => {
        const s: TraceState = cur ?? emptyTrace("t1");
        return {
          next: { ...s, doneIds: [...s.doneIds, String(s.doneIds.length)], dueMs: T0 },
          result: undefined,
        };
      });
    await Promise.all(Array.from({ length: 40 }, bump));
    const final = await store.updateTrace("t1", (cur) => ({ next: cur, result: cur }));
    expect(final!.doneIds).toHaveLength(40);
    expect(await store.dueTraces(T0, 10)).toEqual(["t1"]);
    expect(await store.dueTraces(T0 - 1, 10)).toEqual([]);
    await store.updateTrace("t1", () => ({ next: undefined, result: undefined }));
    expect(await store.dueTraces(T0, 10)).toEqual([]);
  });

  it("two replicas sharing it, spans of the fixture one per request, shuffled, concurrent: the records of one request", async () => {
    const reference = createTestPipeline();
    await send(reference.ingest, fixture, T0);

    const store = createRedisPendingStore({ redis, prefix: `${prefix}fx:` });
    const sink = createExactlyOnceSink();
    const a = createOtlpIngest({ store, sink, config: TEST_CONFIG });
    const b = createOtlpIngest({ store, sink, config: TEST_CONFIG });
    const rng = createRng(17);
    const reqs = perSpan(fixture).sort(() => rng() - 0.5);
    // Pairs of requests at once, one per replica.
    for (let k = 0; k < reqs.length; k += 2) {
      const results = await Promise.all([
        send(a, reqs[k]!, T0 + k),
        ...(reqs[k + 1] ? [send(b, reqs[k + 1]!, T0 + k)] : []),
      ]);
      for (const r of results) expect(r.ok).toBe(true);
    }
    await a.sweep(T0 + TEST_CONFIG.boundMs + 100);
    expect(sink.records).toEqual(reference.sink.records);
    expect((await store.size()).pendingSpans).toBe(0);
  });

  it("held CloudEvents and generated traffic through Redis: one stored row per inference", async () => {
    const reqs = generateGatewayRequests({ seed: 21, count: 60, startMs: T0 });
    const store = createRedisPendingStore({ redis, prefix: `${prefix}gen:` });
    const sink = createExactlyOnceSink();
    const ingest = createOtlpIngest({ store, sink, config: TEST_CONFIG });
    for (const r of reqs) if (r.cloudEvent) await ingest.holdEvents([cloudEventOf(r.cloudEvent)], T0);
    expect((await store.size()).heldEvents).toBe(reqs.filter((r) => r.cloudEvent).length);
    for (const req of exportRequests(reqs, {
      seed: 3,
      maxSpansPerRequest: 9,
      shuffle: true,
      duplicateRate: 0.2,
    })) {
      expect((await send(ingest, req, T0 + 1000)).ok).toBe(true);
    }
    await ingest.sweep(T0 + 1000 + TEST_CONFIG.boundMs + 1);
    const withEvent = [...sink.records.values()].filter((r) => r.sources.includes("cloudevent"));
    expect(withEvent.length).toBe(reqs.filter((r) => r.cloudEvent).length);
    expect(sink.events.size).toBe(0);
    expect(new Set(sink.ids()).size).toBe(sink.ids().length);
    expect(await store.size()).toEqual({ pendingSpans: 0, heldEvents: 0 });
  });
});
