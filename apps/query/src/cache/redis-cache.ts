import type { Redis } from "ioredis";
import type { Cache, CacheStats } from "../ports";

export interface RedisCacheOptions {
  prefix: string;
  /** A cache call slower than this is abandoned and the request goes on uncached. */
  timeoutMs: number;
  onEvent?: (event: "hit" | "miss" | "error" | "set") => void;
}

const TIMED_OUT = Symbol("timeout");

/**
 * Redis cache, fail-open: every call is time-boxed and any failure reads as a miss, so answers stay
 * correct (uncached) while Redis is down; health reports `degraded` until Redis answers again.
 * The client is injected (built in compose with a fail-fast offline queue).
 */
export function createRedisCache(redis: Redis, opts: RedisCacheOptions): Cache {
  const counts = { hits: 0, misses: 0, errors: 0, sets: 0 };
  let lastErrorAt = 0;
  let lastError: string | null = null;

  async function timed<T>(p: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<typeof TIMED_OUT>((resolve) => {
      timer = setTimeout(() => resolve(TIMED_OUT), opts.timeoutMs);
    });
    try {
      const r = await Promise.race([p, timeout]);
      if (r === TIMED_OUT) throw new Error(`redis call exceeded ${opts.timeoutMs} ms`);
      return r as T;
    } finally {
      clearTimeout(timer);
    }
  }

  function failed(err: unknown) {
    counts.errors++;
    lastErrorAt = Date.now();
    lastError = err instanceof Error ? err.message : String(err);
    opts.onEvent?.("error");
  }

  return {
    async get(key) {
      try {
        const v = await timed(redis.get(opts.prefix + key));
        if (v === null) {
          counts.misses++;
          opts.onEvent?.("miss");
        } else {
          counts.hits++;
          opts.onEvent?.("hit");
        }
        return v;
      } catch (err) {
        failed(err);
        counts.misses++;
        opts.onEvent?.("miss");
        return null;
      }
    },
    async set(key, value, ttlSeconds) {
      if (ttlSeconds <= 0) return;
      try {
        await timed(redis.set(opts.prefix + key, value, "EX", ttlSeconds));
        counts.sets++;
        opts.onEvent?.("set");
      } catch (err) {
        failed(err);
      }
    },
    async stats(): Promise<CacheStats> {
      const lookups = counts.hits + counts.misses;
      let keys: number | null = null;
      try {
        keys = await timed(countKeys(redis, opts.prefix));
      } catch (err) {
        failed(err);
      }
      return {
        backend: "redis",
        ...counts,
        hit_rate: lookups === 0 ? null : counts.hits / lookups,
        keys,
        status: redis.status === "ready" ? "ok" : "degraded",
      };
    },
    async health() {
      const ready = redis.status === "ready";
      let ping: string | null = null;
      if (ready) {
        try {
          ping = await timed(redis.ping());
        } catch (err) {
          failed(err);
        }
      }
      const ok = ready && ping === "PONG";
      return {
        status: ok ? "ok" : "degraded",
        backend: "redis",
        connection: redis.status,
        ...(ok ? {} : { note: "answers are served uncached until Redis is back" }),
        ...(lastError ? { last_error: lastError, last_error_at: new Date(lastErrorAt).toISOString() } : {}),
      };
    },
    async close() {
      redis.disconnect();
    },
  };
}

/** Keys under the prefix, by SCAN (bounded work: stops counting at 100k). */
async function countKeys(redis: Redis, prefix: string): Promise<number> {
  let cursor = "0";
  let n = 0;
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${escapeGlob(prefix)}*`, "COUNT", 1000);
    cursor = next;
    n += keys.length;
  } while (cursor !== "0" && n < 100_000);
  return n;
}

function escapeGlob(s: string): string {
  return s.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}
