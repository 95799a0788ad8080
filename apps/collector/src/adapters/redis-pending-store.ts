import type { Redis } from "ioredis";
import type { HeldEvent, TraceState } from "../otlp/assemble";
import type { SpanActivity } from "../otlp/activity";
import type { PendingStore } from "../otlp/otlp-ingest";

/**
 * The OTLP PendingStore in Redis, shared by every collector replica.
 *
 * Keys (all under `prefix`, which should carry a hash tag such as `budmetrics:otlp:{db}:` so that
 * the multi-key script below also runs on Redis Cluster):
 *   t:<traceId>     JSON TraceState            e:<inferenceId>  JSON HeldEvent
 *   due:t           ZSET traceId → dueMs        due:e            ZSET inferenceId → dueMs
 *   l:<inferenceId> traceId (expires)           n:spans          pending spans, all traces
 *
 * An update is optimistic: read the value, run the pure update function, then a Lua script writes
 * the new value (and its due time and the span counter) only if the key still holds what was read;
 * otherwise read again and retry. A script is atomic and needs no WATCH, so the store can share the
 * collector's Redis connection. Every state key also expires (its due time plus `safetyTtlMs`) so a
 * state no sweeper ever reaches does not stay forever.
 */

const CAS_LUA = `
local cur = redis.call("GET", KEYS[1])
if (cur or "") ~= ARGV[1] then return 0 end
if ARGV[2] == "" then
  redis.call("DEL", KEYS[1])
  redis.call("ZREM", KEYS[2], ARGV[3])
else
  redis.call("SET", KEYS[1], ARGV[2], "PX", ARGV[5])
  redis.call("ZADD", KEYS[2], ARGV[4], ARGV[3])
end
local delta = tonumber(ARGV[6])
if delta ~= 0 then redis.call("INCRBY", KEYS[3], delta) end
return 1
`;

interface RedisWithCas extends Redis {
  bmOtlpCas(
    key: string,
    dueKey: string,
    counterKey: string,
    expected: string,
    next: string,
    member: string,
    score: number,
    ttlMs: number,
    delta: number,
  ): Promise<number>;
}

export interface RedisPendingStoreOptions {
  redis: Redis;
  prefix: string;
  /** Kept beyond a state's due time before Redis drops it by itself (default one hour). */
  safetyTtlMs?: number;
  /** Attempts of one update under contention before it fails (default 32). */
  maxAttempts?: number;
}

export function createRedisPendingStore(opts: RedisPendingStoreOptions): PendingStore {
  const redis = opts.redis as RedisWithCas;
  if (typeof redis.bmOtlpCas !== "function") {
    redis.defineCommand("bmOtlpCas", { numberOfKeys: 3, lua: CAS_LUA });
  }
  const p = opts.prefix;
  const safety = opts.safetyTtlMs ?? 3_600_000;
  const maxAttempts = opts.maxAttempts ?? 32;
  const counter = `${p}n:spans`;

  async function update<S extends { dueMs: number }, T>(
    key: string,
    dueKey: string,
    member: string,
    spans: (s: S | undefined) => number,
    fn: (cur: S | undefined) => { next: S | undefined; result: T },
  ): Promise<T> {
    for (let attempt = 0; attempt < maxAttempts; attempt++) {
      const raw = (await redis.get(key)) ?? "";
      const cur = raw === "" ? undefined : (JSON.parse(raw) as S);
      const { next, result } = fn(cur);
      const text = next === undefined ? "" : JSON.stringify(next);
      if (text === raw) return result; // nothing to write
      const ttl = next === undefined ? 0 : Math.max(1, next.dueMs - Date.now()) + safety;
      const ok = await redis.bmOtlpCas(
        key,
        dueKey,
        counter,
        raw,
        text,
        member,
        next?.dueMs ?? 0,
        ttl,
        spans(next) - spans(cur),
      );
      if (ok === 1) return result;
      // Another replica changed the key in between: back off a little (jittered) and retry.
      await new Promise((r) => setTimeout(r, Math.random() * 2 ** Math.min(attempt, 6)));
    }
    throw new Error(`pending store: ${key} kept changing under ${maxAttempts} attempts`);
  }

  const pendingOf = (s: TraceState | undefined) => s?.pending.length ?? 0;

  return {
    updateTrace(traceId, fn) {
      return update<TraceState, ReturnType<typeof fn>["result"]>(
        `${p}t:${traceId}`,
        `${p}due:t`,
        traceId,
        pendingOf,
        fn,
      );
    },
    async dueTraces(nowMs, limit) {
      return redis.zrangebyscore(`${p}due:t`, "-inf", nowMs, "LIMIT", 0, limit);
    },
    updateEvent(inferenceId, fn) {
      return update<HeldEvent, ReturnType<typeof fn>["result"]>(
        `${p}e:${inferenceId}`,
        `${p}due:e`,
        inferenceId,
        () => 0,
        fn,
      );
    },
    async dueEvents(nowMs, limit) {
      return redis.zrangebyscore(`${p}due:e`, "-inf", nowMs, "LIMIT", 0, limit);
    },
    async linkInferences(pairs, untilMs) {
      if (pairs.length === 0) return;
      const ttl = Math.max(1000, untilMs - Date.now());
      const pipe = redis.pipeline();
      for (const [id, traceId] of pairs) pipe.set(`${p}l:${id}`, traceId, "PX", ttl);
      const results = await pipe.exec();
      for (const [err] of results ?? []) if (err) throw err;
    },
    async traceOfInferences(ids) {
      const out = new Map<string, string>();
      if (ids.length === 0) return out;
      const values = await redis.mget(ids.map((id) => `${p}l:${id}`));
      ids.forEach((id, k) => {
        const v = values[k];
        if (v) out.set(id, v);
      });
      return out;
    },
    async size() {
      const [spans, events] = await Promise.all([redis.get(counter), redis.zcard(`${p}due:e`)]);
      return { pendingSpans: Math.max(0, Number(spans ?? 0)), heldEvents: events };
    },
  };
}

/**
 * SpanActivity in Redis, under the pending store's prefix: `seen` sets `<prefix>seen` with the
 * window as its expiry (at most once a second per replica); `active` reads whether it exists (at
 * most once a second per replica, so a delivery costs no Redis call in between).
 */
export function createRedisSpanActivity(opts: {
  redis: Redis;
  prefix: string;
  windowMs: number;
}): SpanActivity {
  const key = `${opts.prefix}seen`;
  let lastWrite = -Infinity;
  let cached: { atMs: number; active: boolean } | undefined;
  return {
    async seen(nowMs) {
      if (nowMs - lastWrite < 1_000) return;
      await opts.redis.set(key, String(nowMs), "PX", opts.windowMs);
      lastWrite = nowMs;
      cached = { atMs: nowMs, active: true };
    },
    async active(nowMs) {
      if (cached && nowMs - cached.atMs < 1_000) return cached.active;
      const active = (await opts.redis.exists(key)) === 1;
      cached = { atMs: nowMs, active };
      return active;
    },
  };
}
