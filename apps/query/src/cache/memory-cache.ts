import { LRUCache } from "lru-cache";
import type { Cache, CacheStats } from "../ports";

/** In-process LRU cache: the backend when REDIS_URL is unset (embedded installs, tests). */
export function createMemoryCache(opts: { maxEntries: number }): Cache {
  const lru = new LRUCache<string, string>({ max: opts.maxEntries, ttlAutopurge: false });
  const counts = { hits: 0, misses: 0, errors: 0, sets: 0 };
  return {
    async get(key) {
      const v = lru.get(key);
      if (v === undefined) counts.misses++;
      else counts.hits++;
      return v ?? null;
    },
    async set(key, value, ttlSeconds) {
      if (ttlSeconds <= 0) return;
      lru.set(key, value, { ttl: ttlSeconds * 1000 });
      counts.sets++;
    },
    async stats(): Promise<CacheStats> {
      const lookups = counts.hits + counts.misses;
      return {
        backend: "memory",
        ...counts,
        hit_rate: lookups === 0 ? null : counts.hits / lookups,
        keys: lru.size,
        status: "ok",
      };
    },
    async health() {
      return { status: "ok", backend: "memory", keys: lru.size };
    },
    async close() {
      lru.clear();
    },
  };
}
