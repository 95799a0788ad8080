import crypto from "node:crypto";

/** Bumped whenever the shape or meaning of a cached answer changes: old entries are never read again. */
export const CACHE_SCHEMA_VERSION = "v1";

/** Canonical JSON: object keys sorted, so equal requests give equal keys whatever their key order. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== "object") return JSON.stringify(v) ?? "null";
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  const entries = Object.entries(v as Record<string, unknown>)
    .filter(([, x]) => x !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonicalJson(x)}`).join(",")}}`;
}

/** Key of a normalised request: endpoint, schema version and a hash of the canonical request. */
export function cacheKey(endpoint: string, normalised: unknown): string {
  const hash = crypto.createHash("sha256").update(canonicalJson(normalised)).digest("base64url");
  return `${CACHE_SCHEMA_VERSION}:${endpoint}:${hash}`;
}

/**
 * TTL for an answer covering [.., toMs): periods inside the late-event horizon can still change, so
 * they get the short TTL (0 = not cached); settled periods get the full TTL.
 */
export function ttlFor(
  toMs: number,
  nowMs: number,
  t: { ttlSeconds: number; recentTtlSeconds: number; horizonSeconds: number },
): number {
  return toMs > nowMs - t.horizonSeconds * 1000 ? Math.min(t.recentTtlSeconds, t.ttlSeconds) : t.ttlSeconds;
}
