import crypto from "node:crypto";
import type { Redis } from "ioredis";
import type { ClaimState, ClaimStore } from "../ingest/ports";
import { collectorErrors } from "../errors";

/**
 * Cross-replica claims in Redis (server mode), an adapter of the ClaimStore port (ingest/ports.ts):
 *   claim   = SET key <owner token> NX PX pendingTtlMs  — the first replica wins; a key that holds
 *             "committed" is a duplicate, any other value is another replica's uncommitted claim;
 *   confirm = SET key "committed" PX committedTtlMs    — the rows are stored;
 *   release = delete the key only if it still holds this store's token (compare-and-delete in Lua),
 *             so a claim that expired and was retaken by another replica is never freed by us.
 * All keys of one call go in one pipeline (one round trip). Keys carry no hash tag: the commands
 * are single-key, so the store also works against Redis Cluster.
 */
const COMMITTED = "committed";

const RELEASE_LUA = `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) else return 0 end`;

interface RedisWithRelease extends Redis {
  bmReleaseClaim(key: string, token: string): Promise<number>;
}

export interface RedisClaimStoreOptions {
  redis: Redis;
  /** Prepended to every key (e.g. "budmetrics:claim:<database>:"). */
  prefix: string;
  pendingTtlMs: number;
  committedTtlSeconds: number;
  /** Identifies this replica's claims (defaults to a random token per store). */
  ownerToken?: string;
}

export function createRedisClaimStore(opts: RedisClaimStoreOptions): ClaimStore {
  const redis = opts.redis as RedisWithRelease;
  if (typeof redis.bmReleaseClaim !== "function") {
    redis.defineCommand("bmReleaseClaim", { numberOfKeys: 1, lua: RELEASE_LUA });
  }
  const token = opts.ownerToken ?? `pending:${crypto.randomUUID()}`;
  const committedTtlMs = opts.committedTtlSeconds * 1000;
  const k = (key: string) => opts.prefix + key;

  function check(results: Array<[Error | null, unknown]> | null): Array<[Error | null, unknown]> {
    if (!results) throw new Error("redis pipeline returned no results");
    for (const [err] of results) if (err) throw err;
    return results;
  }

  async function guarded<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw collectorErrors.create(
        "CLAIMS_UNAVAILABLE",
        `redis claims ${what}: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
  }

  return {
    claim: (keys) =>
      guarded("claim", async () => {
        const out = new Map<string, ClaimState>();
        if (keys.length === 0) return out;
        const p = redis.pipeline();
        for (const key of keys) {
          p.set(k(key), token, "PX", opts.pendingTtlMs, "NX");
          p.get(k(key));
        }
        const results = check(await p.exec());
        keys.forEach((key, i) => {
          const setReply = results[2 * i]![1];
          const value = results[2 * i + 1]![1];
          if (setReply === "OK") out.set(key, "claimed");
          else if (value === COMMITTED) out.set(key, "committed");
          // Our own token: a second claim of a key this replica is writing right now.
          else out.set(key, "pending_elsewhere");
        });
        return out;
      }),
    confirm: (keys) =>
      guarded("confirm", async () => {
        if (keys.length === 0) return;
        const p = redis.pipeline();
        for (const key of keys) p.set(k(key), COMMITTED, "PX", committedTtlMs);
        check(await p.exec());
      }),
    release: (keys) =>
      guarded("release", async () => {
        if (keys.length === 0) return;
        const p = redis.pipeline() as unknown as {
          bmReleaseClaim(key: string, token: string): void;
          exec(): Promise<Array<[Error | null, unknown]> | null>;
        };
        for (const key of keys) p.bmReleaseClaim(k(key), token);
        check(await p.exec());
      }),
  };
}
