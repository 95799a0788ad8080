import zlib from "node:zlib";
import { LRUCache } from "lru-cache";

export interface HotEntry {
  identity: Buffer;
  br?: Buffer;
  gzip?: Buffer;
  plan: string | null;
  /** The endpoint's route pattern (the metrics label). */
  route: string;
}

/**
 * The in-process key: method, path and exact body for POST; method and whole URL for GET. Computed
 * from the raw request both by the host's fast path and by the router, so each finds what the other stored.
 */
const EXPLAIN_RE = /[?&]explain=(1|true)(&|$)/;

export function hotKey(
  method: string | undefined,
  url: string,
  body: Buffer | null | undefined,
): string | null {
  // An explained answer (?explain=1) carries its own timings: never served from or stored in this layer.
  if (EXPLAIN_RE.test(url)) return null;
  if (method === "GET") return `GET ${url}`;
  if (method !== "POST" || !body) return null;
  const q = url.indexOf("?");
  return `POST ${q === -1 ? url : url.slice(0, q)}\n${body.toString("latin1")}`;
}

/**
 * In-process layer in front of the shared cache, keyed by the exact request (method, path, raw body
 * or query string): a hit skips validation, planning, hashing and the Redis round trip, and reuses
 * the compressed bytes. Entries live no longer than the answer's own TTL (capped), so it never serves
 * anything the shared cache would not.
 */
export function createHotCache(opts: { maxBytes: number; maxTtlSeconds: number; compressMinBytes: number }) {
  const enabled = opts.maxBytes > 0 && opts.maxTtlSeconds > 0;
  const lru = new LRUCache<string, HotEntry>({
    maxSize: Math.max(1, opts.maxBytes),
    sizeCalculation: (e) => e.identity.length + (e.br?.length ?? 0) + (e.gzip?.length ?? 0) + 64,
  });
  let hits = 0;
  return {
    enabled,
    get(key: string): HotEntry | undefined {
      if (!enabled) return undefined;
      const e = lru.get(key);
      if (e) hits++;
      return e;
    },
    set(key: string, body: string, meta: { plan: string | null; route: string }, ttlSeconds: number): void {
      if (!enabled || ttlSeconds <= 0) return;
      const identity = Buffer.from(body);
      if (identity.length > opts.maxBytes / 4) return;
      lru.set(
        key,
        { identity, plan: meta.plan, route: meta.route },
        { ttl: Math.min(ttlSeconds, opts.maxTtlSeconds) * 1000 },
      );
    },
    /** The body in the best encoding the client accepts, compressed once per entry. */
    encoded(e: HotEntry, accept: string | undefined): { body: Buffer; encoding: "br" | "gzip" | null } {
      if (e.identity.length < opts.compressMinBytes || !accept) return { body: e.identity, encoding: null };
      if (/\bbr\b/.test(accept)) {
        e.br ??= zlib.brotliCompressSync(e.identity, {
          params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 4 },
        });
        return { body: e.br, encoding: "br" };
      }
      if (/\bgzip\b/.test(accept)) {
        e.gzip ??= zlib.gzipSync(e.identity, { level: 6 });
        return { body: e.gzip, encoding: "gzip" };
      }
      return { body: e.identity, encoding: null };
    },
    stats() {
      return { enabled, hits, entries: lru.size, bytes: lru.calculatedSize ?? 0 };
    },
    clear() {
      lru.clear();
    },
  };
}

export type HotCache = ReturnType<typeof createHotCache>;
