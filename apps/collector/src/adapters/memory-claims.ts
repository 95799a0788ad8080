import type { ClaimState, ClaimStore } from "../ingest/ports";

/**
 * In-process claims for the embedded mode (one process owns the data folder). Committed keys are
 * kept in a bounded insertion-ordered map: a key that fell out is still found by the writer's
 * identity check against the table. A pending claim expires like Redis's (PX): a write whose
 * outcome is unknown keeps its keys until then, and after it the identity check decides.
 */
export function createMemoryClaimStore(opts: { maxCommitted: number; pendingTtlMs?: number }): ClaimStore {
  const pendingTtlMs = opts.pendingTtlMs ?? 120_000;
  const pending = new Map<string, number>();
  const committed = new Map<string, true>();
  return {
    async claim(keys) {
      const now = Date.now();
      const out = new Map<string, ClaimState>();
      for (const k of keys) {
        if (committed.has(k)) out.set(k, "committed");
        else if ((pending.get(k) ?? 0) > now) out.set(k, "pending_elsewhere");
        else {
          pending.set(k, now + pendingTtlMs);
          out.set(k, "claimed");
        }
      }
      return out;
    },
    async confirm(keys) {
      for (const k of keys) {
        pending.delete(k);
        committed.delete(k);
        committed.set(k, true);
      }
      while (committed.size > opts.maxCommitted) {
        const oldest = committed.keys().next().value as string;
        committed.delete(oldest);
      }
    },
    async release(keys) {
      for (const k of keys) pending.delete(k);
    },
  };
}
