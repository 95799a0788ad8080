import { EVENT_KINDS, type EventKind } from "./kinds";
import type { ClaimStore, EventTable, PreparedRow, WriteAheadLog, WriteOutcome } from "./ports";

export interface WriteResult {
  /** Index-aligned with the rows written. */
  outcomes: WriteOutcome[];
  inserted: number;
  duplicates: number;
  retries: number;
  /** Rows the engine refused (a value it cannot take), isolated by splitting the batch. */
  unstorable: Array<{ index: number; error: unknown }>;
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
  /**
   * Completes the batches a crash interrupted (the write-ahead log), before any new write: each is
   * inserted again with its token. Called by `write` too, until it has succeeded once.
   */
  recover(): Promise<{ replayed: number; dropped: number }>;
}

/**
 * The exactly-once write. A materialized view feeds the rollup from every insert into the raw table,
 * and replacing engines collapse copies only at merge time, so a duplicate that reaches the table is
 * counted twice in the rollup for ever: duplicates are stopped before the insert, in six steps.
 */
export function createExactlyOnceWriter(deps: {
  table: EventTable;
  claims: ClaimStore;
  /** Without one (server mode), a crash between the parts of an insert is the engine's to survive. */
  wal?: WriteAheadLog;
}): ExactlyOnceWriter {
  const { table, claims, wal } = deps;
  let recovered: Promise<{ replayed: number; dropped: number }> | undefined;

  async function replay(): Promise<{ replayed: number; dropped: number }> {
    let replayed = 0;
    let dropped = 0;
    for (const entry of (await wal?.pending()) ?? []) {
      try {
        await table.insert(EVENT_KINDS[entry.kind].storage, entry.payload, entry.token);
        replayed++;
      } catch (err) {
        // A batch the engine refuses outright never committed a part: its events are redelivered and
        // written anew (a refused row then alone). Anything else may succeed later: kept, rethrown.
        if (table.insertOutcome(err) !== "failed" || !table.isRowDataError(err)) throw err;
        dropped++;
      }
      await wal!.remove(entry.token);
    }
    return { replayed, dropped };
  }

  /** Inserts one payload under a fresh token, logged until it is committed (or cannot be). */
  async function insertLogged(kind: EventKind, payload: Buffer): Promise<void> {
    const token = crypto.randomUUID();
    await wal?.append({ token, kind, payload });
    try {
      await table.insert(EVENT_KINDS[kind].storage, payload, token);
    } catch (err) {
      const outcome = table.insertOutcome(err);
      if (outcome === "failed") await wal?.remove(token).catch(() => undefined);
      else if (outcome !== "unknown") void outcome.finally(() => wal?.remove(token)).catch(() => undefined);
      // "unknown": kept; the next recovery inserts it again, idempotently.
      throw err;
    }
    await wal?.remove(token);
  }

  function recover() {
    recovered ??= replay().catch((err: unknown) => {
      recovered = undefined;
      throw err;
    });
    return recovered;
  }

  return {
    recover,
    async write(kind, rows) {
      await recover();
      const spec = EVENT_KINDS[kind];
      const outcomes: WriteOutcome[] = new Array(rows.length);
      const result: WriteResult = {
        outcomes,
        inserted: 0,
        duplicates: 0,
        retries: 0,
        unstorable: [],
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

      const claimOf = (r: PreparedRow) => spec.claimPrefix + r.key;
      const ours = mine.map(claimOf);
      let inserting = false;
      /** Keys committed by part of a split batch before another part failed: confirmed, not freed. */
      const committed = new Set<string>();
      try {
        // 3. Keys the claim store does not know may still be stored (restart, evicted): ask the table
        //    (inferences by id alone, whatever time they now carry).
        t = performance.now();
        const stored = mine.length > 0 ? await table.findStored(spec.storage, mine) : new Set<string>();
        result.phasesMs.identity = performance.now() - t;
        const fresh = mine.filter((r) => !stored.has(r.key));
        for (const r of mine) if (stored.has(r.key)) outcomes[firstIndex.get(r.key)!] = "duplicate";

        // 4. Insert, and only after the commit mark the rows inserted. A batch the engine refuses for a
        //    row's own data is split until that row is alone: it is answered unstorable (quarantined,
        //    DROP) and its siblings are stored. Any other failure fails the whole batch (retried).
        if (fresh.length > 0) {
          inserting = true;
          t = performance.now();
          const insertRows = async (part: PreparedRow[]): Promise<void> => {
            const payload = Buffer.from(part.map((r) => r.line).join("\n") + "\n");
            try {
              await insertLogged(kind, payload);
            } catch (err) {
              if (!table.isRowDataError(err) || table.insertOutcome(err) !== "failed") throw err;
              if (part.length === 1) {
                result.unstorable.push({ index: firstIndex.get(part[0]!.key)!, error: err });
                outcomes[firstIndex.get(part[0]!.key)!] = "unstorable";
                await claims.release([claimOf(part[0]!)]).catch(() => undefined);
                return;
              }
              const mid = Math.ceil(part.length / 2);
              await insertRows(part.slice(0, mid));
              await insertRows(part.slice(mid));
              return;
            }
            result.payloadBytes += payload.length;
            for (const r of part) {
              outcomes[firstIndex.get(r.key)!] = "inserted";
              committed.add(claimOf(r));
            }
          };
          await insertRows(fresh);
          result.phasesMs.insert = performance.now() - t;
        }
      } catch (err) {
        if (committed.size > 0) await claims.confirm([...committed]).catch(() => undefined);
        const open = ours.filter((k) => !committed.has(k));
        // 5. Free the claims only when nothing of ours can be stored, so a redelivery can write. An
        // insert still running in process (past our deadline) settles them when it ends; one whose
        // outcome cannot be known (a server timeout) keeps them pending until they expire, after
        // which the identity check sees whether the rows landed.
        const outcome = inserting ? table.insertOutcome(err) : "failed";
        if (outcome === "failed") await claims.release(open).catch(() => undefined);
        else if (outcome !== "unknown")
          void outcome
            .then((o) => (o === "succeeded" ? claims.confirm(open) : claims.release(open)))
            .catch(() => undefined);
        throw err;
      }
      // 6. Confirm: the keys are stored, later copies are duplicates without a table look-up.
      const stored = mine.filter((r) => outcomes[firstIndex.get(r.key)!] !== "unstorable").map(claimOf);
      await claims.confirm(stored).catch(() => undefined);

      for (const [i, first] of copies) {
        const o = outcomes[first];
        outcomes[i] = o === "retry" || o === "unstorable" ? o : "duplicate";
      }
      for (const o of outcomes) {
        if (o === "inserted") result.inserted++;
        else if (o === "duplicate") result.duplicates++;
        else if (o === "retry") result.retries++;
      }
      return result;
    },
  };
}
