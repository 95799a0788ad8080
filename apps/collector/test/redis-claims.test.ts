/** The Redis claim store against the real Redis at 127.0.0.1:6379 (REDIS_URL overrides). */
import crypto from "node:crypto";
import { Redis } from "ioredis";
import { openTestEngine, type TestEngine } from "../../../test/support/engine";
import { createCatalogue, generateInferences, inferenceCloudEvent } from "../../../test/support/generate";
import { createRedisClaimStore } from "../src/adapters/redis-claims";
import { bulkEnvelope, countInferences, startCollector } from "./harness";

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
let redis: Redis;
const prefix = `bmtest:${crypto.randomUUID()}:`;
const store = (owner: string, pendingTtlMs = 5_000) =>
  createRedisClaimStore({ redis, prefix, pendingTtlMs, committedTtlSeconds: 60, ownerToken: owner });

beforeAll(async () => {
  redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  await redis.ping();
});
afterAll(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

describe("redis claim store", () => {
  it("claims with SET NX PX, sees other replicas' pending claims, and confirms with a longer TTL", async () => {
    const a = store("pending:a");
    const b = store("pending:b");
    expect(Object.fromEntries(await a.claim(["k1", "k2"]))).toEqual({ k1: "claimed", k2: "claimed" });
    expect(Object.fromEntries(await b.claim(["k1", "k3"]))).toEqual({
      k1: "pending_elsewhere",
      k3: "claimed",
    });
    const pendingTtl = await redis.pttl(`${prefix}k1`);
    expect(pendingTtl).toBeGreaterThan(0);
    expect(pendingTtl).toBeLessThanOrEqual(5_000);
    await a.confirm(["k1"]);
    expect(await redis.get(`${prefix}k1`)).toBe("committed");
    expect(await redis.pttl(`${prefix}k1`)).toBeGreaterThan(5_000);
    expect(Object.fromEntries(await b.claim(["k1"]))).toEqual({ k1: "committed" });
  });

  it("releases only its own claims (compare-and-delete)", async () => {
    const a = store("pending:a");
    const b = store("pending:b");
    await a.claim(["r1"]);
    await b.release(["r1"]); // not b's claim: must stay
    expect(await redis.get(`${prefix}r1`)).toBe("pending:a");
    await a.release(["r1"]);
    expect(await redis.exists(`${prefix}r1`)).toBe(0);
    expect(Object.fromEntries(await b.claim(["r1"]))).toEqual({ r1: "claimed" });
  });

  it("lets a claim expire so a crashed replica cannot block an event forever", async () => {
    const a = store("pending:a", 1_000);
    const b = store("pending:b", 1_000);
    await a.claim(["e1"]);
    await new Promise((r) => setTimeout(r, 1_100));
    expect(Object.fromEntries(await b.claim(["e1"]))).toEqual({ e1: "claimed" });
  });

  it("turns a Redis failure into a retryable CLAIMS_UNAVAILABLE", async () => {
    // Nothing listens on port 1; with no offline queue every command fails at once.
    const dead = new Redis("redis://127.0.0.1:1", {
      lazyConnect: true,
      enableOfflineQueue: false,
      retryStrategy: () => null,
    });
    dead.on("error", () => undefined);
    const s = createRedisClaimStore({ redis: dead, prefix, pendingTtlMs: 1_000, committedTtlSeconds: 1 });
    await expect(s.claim(["x"])).rejects.toMatchObject({ code: "CLAIMS_UNAVAILABLE", retryable: true });
    dead.disconnect();
  });
});

describe("two replicas sharing redis claims", () => {
  let engine: TestEngine;
  beforeAll(async () => {
    engine = await openTestEngine("collector_redis");
  });
  afterAll(async () => {
    await engine.close();
  });

  it("count every inference once when both replicas get the same deliveries at once", async () => {
    const data = [
      ...generateInferences({
        seed: 77,
        count: 200,
        startMs: Date.UTC(2026, 3, 1),
        endMs: Date.UTC(2026, 3, 2),
        catalogue: createCatalogue(77),
      }),
    ];
    const body = bulkEnvelope(data.map((d, i) => ({ entryId: `e${i}`, event: inferenceCloudEvent(d) })));
    const claimsPrefix = `${prefix}replicas:`;
    const replica = (owner: string) =>
      startCollector(
        engine.ch,
        {},
        {
          claims: createRedisClaimStore({
            redis,
            prefix: claimsPrefix,
            pendingTtlMs: 30_000,
            committedTtlSeconds: 60,
            ownerToken: owner,
          }),
        },
      );
    const [r1, r2] = await Promise.all([replica("pending:r1"), replica("pending:r2")]);
    let pending = [0, 1, 2, 3];
    for (let round = 0; pending.length > 0 && round < 20; round++) {
      const answers = await Promise.all(pending.map((i) => (i % 2 ? r2 : r1).post("/dapr/events", body)));
      pending = pending.filter((_, j) =>
        answers[j]!.body.statuses.some((s: { status: string }) => s.status !== "SUCCESS"),
      );
    }
    expect(pending).toEqual([]);
    await r1.stop();
    await r2.stop();
    const counts = await countInferences(engine.ch);
    expect(counts).toEqual({ raw: 200, distinct: 200, rollup: 200 });
  });
});
