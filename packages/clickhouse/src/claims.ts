/**
 * Claims stop a duplicate before it reaches the raw table (BRIEF §5): a materialized view sees every
 * insert, so the only place to drop a redelivered event is before the INSERT.
 *
 * Life of a key: claim (pending, short TTL) → confirm after commit (committed, long TTL) or release
 * on failure. A claim is never kept across a failed write: that would lose the event on retry.
 */
export type ClaimState = "claimed" | "pending_elsewhere" | "committed";

export interface ClaimStore {
  /** Tries to claim each key. `claimed` = this caller now owns it and must confirm or release it. */
  claim(keys: readonly string[]): Promise<Map<string, ClaimState>>;
  /** The rows are committed: remember the keys as stored. */
  confirm(keys: readonly string[]): Promise<void>;
  /** The write failed: free the keys so a redelivery can write them. */
  release(keys: readonly string[]): Promise<void>;
  close?(): Promise<void>;
}

/**
 * In-process claims for the embedded mode (one process owns the data folder). Committed keys are
 * kept in a bounded insertion-ordered map: a key that fell out is still found by the writer's
 * existence check against the raw table.
 */
export function createMemoryClaimStore(opts: { maxCommitted: number; pendingTtlMs?: number }): ClaimStore {
  // A pending claim expires like Redis's (PX): a write whose outcome is unknown keeps its keys until
  // then, and after it the writer's existence check decides.
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
