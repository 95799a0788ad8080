import { INFERENCE_COLUMNS, SAMPLE_COLUMNS, Tables, toChDateTime64 } from "@budmetrics/schema";
import type { ClickHouse } from "./client";
import type { ClaimStore } from "./claims";
import { insertOutcome } from "./errors";

/** One row ready to write: its identity, its event time and its JSONEachRow line (serialised once). */
export interface PreparedRow {
  /** inference_id for inferences; `${source}\u0001${id}` for samples. */
  key: string;
  /** Event time in epoch ms (bounds the existence check). */
  timeMs: number;
  line: string;
}

export type WriteOutcome = "inserted" | "duplicate" | "retry";

export interface WriteResult {
  outcomes: WriteOutcome[];
  inserted: number;
  duplicates: number;
  retries: number;
  payloadBytes: number;
  /** Where the time went (ms): claiming the keys, the identity check against the table, the insert. */
  phasesMs: { claims: number; identity: number; insert: number };
}

export interface EventWriter {
  /**
   * Writes rows exactly once per key. Outcomes are index-aligned with `rows`:
   *   inserted  — this call committed the row;
   *   duplicate — the key was already stored (or appears earlier in `rows` and was committed here);
   *   retry     — another writer holds an uncommitted claim on the key: answer RETRY, write nothing.
   * Resolves only after the commit. Throws (claims released, nothing acknowledged) if the insert fails.
   */
  write(kind: "inference" | "sample", rows: readonly PreparedRow[]): Promise<WriteResult>;
}

/**
 * How each kind finds the keys it already stored. Inferences: by id alone, in the id table (its
 * sorting key is the id's bytes, so the cost does not grow with the table or with how far apart the
 * batch's event times are — migrations/0007). Samples: (source, id) within the batch's time range
 * (a sample's time is part of what it says, so a re-stamped sample is a new sample).
 */
const KIND = {
  inference: {
    table: Tables.inferenceEvents,
    columns: INFERENCE_COLUMNS as readonly string[],
    claimPrefix: "inf:",
    existing: (db: string) =>
      `SELECT toString(inference_id) AS k FROM ${db}.${Tables.inferenceIds} ` +
      "WHERE UUIDToNum(inference_id) IN (SELECT UUIDToNum(arrayJoin({ids:Array(UUID)})))",
    timeBounded: false,
    params: (keys: string[]) => ({ ids: keys }),
  },
  sample: {
    table: Tables.metricSamples,
    columns: SAMPLE_COLUMNS as readonly string[],
    claimPrefix: "smp:",
    existing: (db: string) =>
      `SELECT concat(event_source, '\\x01', event_id) AS k FROM ${db}.${Tables.metricSamples} ` +
      "WHERE sample_time BETWEEN {from:DateTime64(3, 'UTC')} AND {to:DateTime64(3, 'UTC')} " +
      "AND event_id IN {ids:Array(String)} AND concat(event_source, '\\x01', event_id) IN {keys:Array(String)}",
    timeBounded: true,
    params: (keys: string[]) => ({ ids: keys.map((k) => k.slice(k.indexOf("\u0001") + 1)), keys }),
  },
} as const;

/**
 * Largest id list sent in one existence query. Over HTTP the list travels in the URL (`param_ids`,
 * ≈39 bytes per UUID), which ClickHouse caps at 1 MiB (http_max_uri_size): 5,000 ids stay far below
 * it. The embedded engine takes parameters in process.
 */
const EXISTENCE_CHUNK = { embedded: 50_000, server: 5_000 } as const;

export function createEventWriter(deps: { ch: ClickHouse; claims: ClaimStore }): EventWriter {
  const { ch, claims } = deps;

  async function findExisting(kind: "inference" | "sample", rows: PreparedRow[]): Promise<Set<string>> {
    const spec = KIND[kind];
    const found = new Set<string>();
    const size = EXISTENCE_CHUNK[ch.mode];
    for (let i = 0; i < rows.length; i += size) {
      const chunk = rows.slice(i, i + size);
      let bounds = {};
      if (spec.timeBounded) {
        let min = Infinity;
        let max = -Infinity;
        for (const r of chunk) {
          if (r.timeMs < min) min = r.timeMs;
          if (r.timeMs > max) max = r.timeMs;
        }
        bounds = { from: toChDateTime64(min), to: toChDateTime64(max) };
      }
      const result = await ch.query<{ k: string }>(spec.existing(ch.database), {
        ...bounds,
        ...spec.params(chunk.map((r) => r.key)),
      });
      for (const r of result) found.add(r.k);
    }
    return found;
  }

  return {
    async write(kind, rows) {
      const spec = KIND[kind];
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
      const claimKeys = unique.map((r) => spec.claimPrefix + r.key);
      const states = await claims.claim(claimKeys);
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
        const existing = mine.length > 0 ? await findExisting(kind, mine) : new Set<string>();
        result.phasesMs.identity = performance.now() - t;
        const fresh = mine.filter((r) => !existing.has(r.key));
        for (const r of mine) if (existing.has(r.key)) outcomes[firstIndex.get(r.key)!] = "duplicate";

        // 4. Insert, and only after the commit mark the rows inserted.
        if (fresh.length > 0) {
          const payload = Buffer.from(fresh.map((r) => r.line).join("\n") + "\n");
          result.payloadBytes = payload.length;
          inserting = true;
          t = performance.now();
          await ch.insertJsonEachRow(spec.table, payload, spec.columns);
          result.phasesMs.insert = performance.now() - t;
          for (const r of fresh) outcomes[firstIndex.get(r.key)!] = "inserted";
        }
      } catch (err) {
        // 5. Free the claims only when nothing of ours can be stored, so a redelivery can write. An
        // insert still running in process (past our deadline) settles them when it ends; one whose
        // outcome cannot be known (a server timeout) keeps them pending until they expire, after
        // which the existence check sees whether the rows landed.
        const outcome = inserting ? insertOutcome(err, ch.mode) : "failed";
        if (outcome === "failed") await claims.release(ours).catch(() => undefined);
        else if (outcome !== "unknown")
          void outcome
            .then((o) => (o === "succeeded" ? claims.confirm(ours) : claims.release(ours)))
            .catch(() => undefined);
        throw err;
      }
      // 6. Confirm: the keys are stored, later copies are duplicates without a table lookup.
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
