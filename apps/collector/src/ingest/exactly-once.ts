import { EVENT_KINDS, type EventKind } from "./kinds";
import type { ClaimStore, EventTable, PreparedRow, WriteOutcome } from "./ports";

export interface WriteResult {
  /** Index-aligned with the rows written. */
  outcomes: WriteOutcome[];
  inserted: number;
  duplicates: number;
  retries: number;
  payloadBytes: number;
  /** Where the time went (ms): claiming the keys, the identity check against the table, the insert. */
  phasesMs: { claims: number; identity: number; insert: number };
}

export interface ExactlyOnceWriter {
  /**
   * Writes rows exactly once per key. Resolves only after the commit; throws (claims released when
   * nothing can have been stored, nothing acknowledged) if the insert fails.
   */
  write(kind: EventKind, rows: readonly PreparedRow[]): Promise<WriteResult>;
}

/**
 * The exactly-once write. A materialized view feeds the rollup from every insert into the raw table,
 * and replacing engines collapse copies only at merge time, so a duplicate that reaches the table is
 * counted twice in the rollup for ever: duplicates are stopped before the insert, in six steps.
 */
export function createExactlyOnceWriter(deps: { table: EventTable; claims: ClaimStore }): ExactlyOnceWriter {
  const { table, claims } = deps;
  return {
    async write(kind, rows) {
      const spec = EVENT_KINDS[kind];
      const outcomes: WriteOutcome[] = new Array(rows.length);
      const result: WriteResult = {
        outcomes,
        inserted: 0,
        duplicates: 0,
        retries: 0,
        payloadBytes: 0,
        phasesMs: { claims: 0, identity: 0, insert: 0 },
      };
      if (rows.length === 0) return result;

      // 1. In-batch deduplication: the first copy of a key represents all of them.
      const firstIndex = new Map<string, number>();
      const unique: PreparedRow[] = [];
      const copies: Array<[number, number]> = [];
      rows.forEach((r, i) => {
        const first = firstIndex.get(r.key);
        if (first === undefined) {
          firstIndex.set(r.key, i);
          unique.push(r);
        } else copies.push([i, first]);
      });

      // 2. Claim every key before touching the table; keys claimed by another writer are retried later.
      let t = performance.now();
      const states = await claims.claim(unique.map((r) => spec.claimPrefix + r.key));
      result.phasesMs.claims = performance.now() - t;
      const mine: PreparedRow[] = [];
      for (const r of unique) {
        const i = firstIndex.get(r.key)!;
        const state = states.get(spec.claimPrefix + r.key);
        if (state === "committed") outcomes[i] = "duplicate";
        else if (state === "pending_elsewhere") outcomes[i] = "retry";
        else mine.push(r);
      }

      const ours = mine.map((r) => spec.claimPrefix + r.key);
      let inserting = false;
      try {
        // 3. Keys the claim store does not know may still be stored (restart, evicted): ask the table
        //    (inferences by id alone, whatever time they now carry).
        t = performance.now();
        const stored = mine.length > 0 ? await table.findStored(spec.storage, mine) : new Set<string>();
        result.phasesMs.identity = performance.now() - t;
        const fresh = mine.filter((r) => !stored.has(r.key));
        for (const r of mine) if (stored.has(r.key)) outcomes[firstIndex.get(r.key)!] = "duplicate";

        // 4. Insert, and only after the commit mark the rows inserted.
        if (fresh.length > 0) {
          const payload = Buffer.from(fresh.map((r) => r.line).join("\n") + "\n");
          result.payloadBytes = payload.length;
          inserting = true;
          t = performance.now();
          await table.insert(spec.storage, payload);
          result.phasesMs.insert = performance.now() - t;
          for (const r of fresh) outcomes[firstIndex.get(r.key)!] = "inserted";
        }
      } catch (err) {
        // 5. Free the claims only when nothing of ours can be stored, so a redelivery can write. An
        // insert still running in process (past our deadline) settles them when it ends; one whose
        // outcome cannot be known (a server timeout) keeps them pending until they expire, after
        // which the identity check sees whether the rows landed.
        const outcome = inserting ? table.insertOutcome(err) : "failed";
        if (outcome === "failed") await claims.release(ours).catch(() => undefined);
        else if (outcome !== "unknown")
          void outcome
            .then((o) => (o === "succeeded" ? claims.confirm(ours) : claims.release(ours)))
            .catch(() => undefined);
        throw err;
      }
      // 6. Confirm: the keys are stored, later copies are duplicates without a table look-up.
      await claims.confirm(ours).catch(() => undefined);

      for (const [i, first] of copies) outcomes[i] = outcomes[first] === "retry" ? "retry" : "duplicate";
      for (const o of outcomes) {
        if (o === "inserted") result.inserted++;
        else if (o === "duplicate") result.duplicates++;
        else result.retries++;
      }
      return result;
    },
  };
}
