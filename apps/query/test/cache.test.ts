/**
 * The query cache against the real Redis at 127.0.0.1:6379 (a unique key prefix per run, cleaned up):
 * miss then hit, TTL from config, short TTL inside the late-event horizon, fail-open when Redis is
 * unreachable or goes away mid-run (answers unchanged, health degraded), and the memory LRU.
 */
import { Redis } from "ioredis";
import { openTestEngine, type TestEngine } from "../../../test/support/engine";
import { createCatalogue, generateInferences } from "../../../test/support/generate";
import { createSilentLogger } from "@budmetrics/logger";
import { createCacheRedis } from "../src/compose";
import { createRedisCache } from "../src/cache/redis-cache";
import { cacheKey, canonicalJson, ttlFor } from "../src/cache/keys";
import { loadInferences, startApp, type RunningApp } from "./helpers";

const PREFIX = `bm-test-cache-${process.pid}-${Date.now()}:`;
const NOW = Date.parse("2026-06-01T00:00:00Z");
let engine: TestEngine;
let admin: Redis;
const cat = createCatalogue(4, { models: 2, projects: 2, endpoints: 3 });

beforeAll(async () => {
  engine = await openTestEngine("query_cache");
  await loadInferences(engine.ch, [
    ...generateInferences({
      seed: 3,
      count: 500,
      startMs: Date.parse("2026-05-01T00:00:00Z"),
      endMs: Date.parse("2026-05-04T00:00:00Z"),
      catalogue: cat,
    }),
  ]);
  admin = new Redis("redis://127.0.0.1:6379");
}, 60_000);

afterAll(async () => {
  const keys = await admin.keys(`${PREFIX}*`);
  if (keys.length) await admin.del(...keys);
  admin.disconnect();
  await engine?.close();
});

const body = {
  metrics: ["request_count", "latency"],
  from_date: "2026-05-01T00:00:00Z",
  to_date: "2026-05-04T00:00:00Z",
  frequency_unit: "day",
  group_by: ["model"],
};

async function redisApp(url: string, prefix: string, env: Record<string, string> = {}): Promise<RunningApp> {
  const redis = createCacheRedis(url, createSilentLogger(), 150);
  // Connect before the first request (the client has no offline queue: early calls count as errors).
  await Promise.race([new Promise((r) => redis.once("ready", r)), new Promise((r) => setTimeout(r, 1_000))]);
  const cache = createRedisCache(redis, { prefix, timeoutMs: 150 });
  // The in-process layer is off here: these tests are about the shared (Redis) cache.
  return startApp(engine.ch, { cache, nowMs: NOW, env: { QUERY_CACHE_HOT_MAX_BYTES: "0", ...env } });
}

describe("cache keys", () => {
  it("ignores key order and separates endpoints and versions", () => {
    expect(canonicalJson({ b: 1, a: [{ d: 2, c: 3 }] })).toBe('{"a":[{"c":3,"d":2}],"b":1}');
    expect(cacheKey("post:/x", { a: 1, b: 2 })).toBe(cacheKey("post:/x", { b: 2, a: 1 }));
    expect(cacheKey("post:/x", { a: 1 })).not.toBe(cacheKey("post:/y", { a: 1 }));
    expect(cacheKey("post:/x", { a: 1 })).toMatch(/^v1:post:\/x:/);
  });

  it("gives periods inside the late-event horizon the short TTL", () => {
    const t = { ttlSeconds: 300, recentTtlSeconds: 5, horizonSeconds: 900 };
    expect(ttlFor(NOW - 3_600_000, NOW, t)).toBe(300);
    expect(ttlFor(NOW - 60_000, NOW, t)).toBe(5);
    expect(ttlFor(NOW - 60_000, NOW, { ...t, recentTtlSeconds: 0 })).toBe(0);
  });
});

describe("Redis cache", () => {
  it("misses, then hits with the same answer, with the configured TTL", async () => {
    const app = await redisApp("redis://127.0.0.1:6379", `${PREFIX}a:`, { QUERY_CACHE_TTL_SECONDS: "120" });
    try {
      const first = await app.post("/observability/analytics", body);
      expect(first.status).toBe(200);
      expect(first.headers.get("x-cache")).toBe("MISS");
      // Same request with keys in another order: same key.
      const reordered = {
        group_by: ["model"],
        frequency_unit: "day",
        to_date: body.to_date,
        from_date: body.from_date,
        metrics: body.metrics,
      };
      const second = await app.post("/observability/analytics", reordered);
      expect(second.headers.get("x-cache")).toBe("HIT");
      expect(second.body).toEqual(first.body);
      const keys = await admin.keys(`${PREFIX}a:*`);
      expect(keys).toHaveLength(1);
      const ttl = await admin.ttl(keys[0]!);
      expect(ttl).toBeGreaterThan(100);
      expect(ttl).toBeLessThanOrEqual(120);
      const stats = await app.get("/admin/metrics/cache");
      expect(stats.body).toMatchObject({
        backend: "redis",
        hits: 1,
        misses: 1,
        keys: 1,
        errors: 0,
        hit_rate: 0.5,
      });
      const health = await app.get("/observability/health");
      expect(health.body.components.cache.status).toBe("ok");
    } finally {
      await app.close();
    }
  });

  it("expires entries after their TTL", async () => {
    const app = await redisApp("redis://127.0.0.1:6379", `${PREFIX}b:`, { QUERY_CACHE_TTL_SECONDS: "1" });
    try {
      expect((await app.post("/observability/analytics", body)).headers.get("x-cache")).toBe("MISS");
      expect((await app.post("/observability/analytics", body)).headers.get("x-cache")).toBe("HIT");
      await new Promise((r) => setTimeout(r, 2_100));
      expect((await app.post("/observability/analytics", body)).headers.get("x-cache")).toBe("MISS");
    } finally {
      await app.close();
    }
  });

  it("caches a range that reaches into the late-event horizon only briefly, or not at all", async () => {
    const app = await redisApp("redis://127.0.0.1:6379", `${PREFIX}c:`, {
      QUERY_CACHE_RECENT_TTL_SECONDS: "0",
    });
    try {
      const recent = { ...body, from_date: "2026-05-31T00:00:00Z", to_date: null };
      expect((await app.post("/observability/analytics", recent)).headers.get("x-cache")).toBeNull();
      expect((await app.post("/observability/analytics", recent)).headers.get("x-cache")).toBeNull();
      expect(await admin.keys(`${PREFIX}c:*`)).toHaveLength(0);
    } finally {
      await app.close();
    }
  });

  it("fails open when Redis is unreachable: same answers, uncached, health degraded", async () => {
    const reference = await startApp(engine.ch, { nowMs: NOW });
    const down = await redisApp("redis://127.0.0.1:1", `${PREFIX}d:`);
    try {
      const expected = await reference.post("/observability/analytics", body);
      const started = Date.now();
      for (let i = 0; i < 3; i++) {
        const res = await down.post("/observability/analytics", body);
        expect(res.status).toBe(200);
        expect(res.body).toEqual(expected.body);
        expect(res.headers.get("x-cache")).toBe("MISS");
      }
      expect(Date.now() - started).toBeLessThan(5_000);
      const health = await down.get("/observability/health");
      expect(health.status).toBe(200);
      expect(health.body.status).toBe("degraded");
      expect(health.body.components.cache.status).toBe("degraded");
      const stats = await down.get("/admin/metrics/cache");
      expect(stats.body.errors).toBeGreaterThan(0);
      const hostHealth = await down.get("/health");
      expect(hostHealth.body.components.cache.status).toBe("degraded");
    } finally {
      await down.close();
      await reference.close();
    }
  });

  it("keeps answering when Redis goes away mid-run, and caches again when it is back", async () => {
    const redis = createCacheRedis("redis://127.0.0.1:6379", createSilentLogger(), 150);
    const cache = createRedisCache(redis, { prefix: `${PREFIX}e:`, timeoutMs: 150 });
    await new Promise((r) => redis.once("ready", r));
    const app = await startApp(engine.ch, { cache, nowMs: NOW, env: { QUERY_CACHE_HOT_MAX_BYTES: "0" } });
    try {
      const first = await app.post("/observability/analytics", body);
      expect((await app.post("/observability/analytics", body)).headers.get("x-cache")).toBe("HIT");
      // The connection drops, as when Redis restarts; the client reconnects only when told to.
      redis.disconnect(false);
      const during = await app.post("/observability/analytics", { ...body, group_by: ["endpoint"] });
      expect(during.status).toBe(200);
      expect((await app.get("/observability/health")).body.components.cache.status).toBe("degraded");
      const again = await app.post("/observability/analytics", body);
      expect(again.status).toBe(200);
      expect(again.body).toEqual(first.body);
      redis.connect().catch(() => undefined);
      await new Promise((r) => setTimeout(r, 500));
      expect((await app.post("/observability/analytics", body)).headers.get("x-cache")).toBe("HIT");
      expect((await app.get("/observability/health")).body.components.cache.status).toBe("ok");
    } finally {
      await app.close();
    }
  });
});

describe("memory cache", () => {
  it("is used when no Redis is configured", async () => {
    const app = await startApp(engine.ch, { nowMs: NOW, env: { QUERY_CACHE_HOT_MAX_BYTES: "0" } });
    try {
      expect((await app.post("/observability/analytics", body)).headers.get("x-cache")).toBe("MISS");
      expect((await app.post("/observability/analytics", body)).headers.get("x-cache")).toBe("HIT");
      const stats = await app.get("/admin/metrics/cache");
      expect(stats.body).toMatchObject({ backend: "memory", hits: 1, misses: 1, keys: 1 });
    } finally {
      await app.close();
    }
  });
});

describe("in-process layer", () => {
  it("answers an exact repeat without the shared cache, in any accepted encoding, and only while the answer's TTL allows", async () => {
    const app = await redisApp("redis://127.0.0.1:6379", `${PREFIX}f:`, {
      QUERY_CACHE_HOT_MAX_BYTES: "10000000",
      QUERY_CACHE_TTL_SECONDS: "1",
    });
    try {
      const first = await app.post("/observability/analytics", body);
      expect(first.headers.get("x-cache")).toBe("MISS");
      const again = await app.post("/observability/analytics", body);
      expect(again.headers.get("x-cache")).toBe("HIT");
      expect(again.headers.get("x-cache-layer")).toBe("process");
      expect(again.body).toEqual(first.body);
      for (const enc of ["br", "gzip"]) {
        const res = await fetch(`${app.url}/observability/analytics`, {
          method: "POST",
          headers: { "content-type": "application/json", "accept-encoding": enc },
          body: JSON.stringify(body),
        });
        expect(res.headers.get("x-cache-layer")).toBe("process");
        expect(await res.json()).toEqual(first.body);
      }
      const stats = await app.get("/admin/metrics/cache");
      expect(stats.body.process_layer).toMatchObject({ enabled: true, entries: 1 });
      expect(stats.body.process_layer.hits).toBeGreaterThanOrEqual(3);
      expect(stats.body.hits).toBe(0);
      await new Promise((r) => setTimeout(r, 1_200));
      expect((await app.post("/observability/analytics", body)).headers.get("x-cache")).toBe("MISS");
    } finally {
      await app.close();
    }
  });

  it("serves repeats ahead of the router (GET and POST), and stops when the app drains", async () => {
    const app = await redisApp("redis://127.0.0.1:6379", `${PREFIX}g:`, {
      QUERY_CACHE_HOT_MAX_BYTES: "10000000",
    });
    try {
      const fast = jest.spyOn(app.app.fastPath!, "handle");
      const served = () => fast.mock.results.filter((r) => r.value === true).length;
      const first = await app.post("/observability/analytics", body);
      expect(served()).toBe(0);
      const again = await app.post("/observability/analytics", body);
      expect(again.headers.get("x-cache-layer")).toBe("process");
      expect(again.body).toEqual(first.body);
      expect(served()).toBe(1);
      // The same request with its keys in another order is another exact request: the router serves it.
      const reordered = await app.post(
        "/observability/analytics",
        JSON.stringify(body, Object.keys(body).reverse()),
      );
      expect(reordered.body).toEqual(first.body);
      expect(served()).toBe(1);
      const path = "/observability/usage/summary?from_date=2026-05-01T00:00:00Z&to_date=2026-05-04T00:00:00Z";
      const list = await app.get(path);
      expect(list.status).toBe(200);
      const listAgain = await app.get(path);
      expect(listAgain.body).toEqual(list.body);
      expect(listAgain.headers.get("x-cache-layer")).toBe("process");
      expect(served()).toBe(2);
      app.app.stopAccepting();
      const draining = await app.post("/observability/analytics", body);
      expect(draining.status).toBe(503);
      expect(served()).toBe(2);
    } finally {
      await app.close();
    }
  });
});
