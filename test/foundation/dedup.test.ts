import { createMemoryClaimStore, type PreparedRow } from "@budmetrics/collector";
import { Tables } from "@budmetrics/schema";
import { createCatalogue, generateInferences, generateSamples } from "../support/generate";
import { openTestEngine, type TestEngine } from "../support/engine";
import { createTestWriter, prepareInference, prepareSample, writerFor } from "../support/load";

let engine: TestEngine;
beforeAll(async () => {
  engine = await openTestEngine("dedup");
});
afterAll(() => engine.close());

const catalogue = createCatalogue(1, { models: 3, projects: 2, endpoints: 4 });
const day = Date.UTC(2026, 5, 1);

/** The counts every read path sees: raw, raw FINAL, each rollup grain and the time-ordered copy. */
async function countsFor(ids: string[]) {
  const db = engine.ch.database;
  const q = async (sql: string) => Number((await engine.ch.query<{ n: number }>(sql, { ids }))[0]!.n);
  const raw = await q(
    `SELECT count() AS n FROM ${db}.${Tables.inferenceEvents} WHERE inference_id IN {ids:Array(UUID)}`,
  );
  const final = await q(
    `SELECT count() AS n FROM ${db}.${Tables.inferenceEvents} FINAL WHERE inference_id IN {ids:Array(UUID)}`,
  );
  const rollups: Record<string, number> = {};
  for (const grain of ["5m", "1h", "1d"]) {
    rollups[grain] = Number(
      (
        await engine.ch.query<{ n: number }>(
          `SELECT sum(request_count) AS n FROM ${db}.${Tables.inferenceRollup}
           WHERE grain = {g:String} AND level = 'dims' AND project_id IN {p:Array(UUID)}`,
          { g: grain, p: catalogue.projects.map((p) => p.id) },
        )
      )[0]!.n,
    );
  }
  // The copy raw stretches of rollup-served questions read (no FINAL: it counts what the rollups count).
  rollups.by_time = Number(
    (
      await engine.ch.query<{ n: number }>(
        `SELECT count() AS n FROM ${db}.${Tables.inferenceEventsByTime} WHERE project_id IN {p:Array(UUID)}`,
        { p: catalogue.projects.map((p) => p.id) },
      )
    )[0]!.n,
  );
  return { raw, final, rollups };
}

/** request_count each rollup gained between two `countsFor` snapshots (other tests write too). */
function rollupsAdded(before: Awaited<ReturnType<typeof countsFor>>, after: typeof before): number[] {
  return Object.entries(after.rollups).map(([g, n]) => n - before.rollups[g]!);
}

describe("exactly-once writes", () => {
  it("counts an inference inserted twice in one insert once, in the raw table and every rollup", async () => {
    const [event] = [
      ...generateInferences({ seed: 11, count: 1, startMs: day, endMs: day + 3_600_000, catalogue }),
    ];
    const writer = createTestWriter(engine.ch);
    const result = await writer.write("inference", [prepareInference(event!), prepareInference(event!)]);
    expect(result.outcomes).toEqual(["inserted", "duplicate"]);
    expect(await countsFor([event!.inference_id])).toEqual({
      raw: 1,
      final: 1,
      rollups: { "5m": 1, "1h": 1, "1d": 1, by_time: 1 },
    });
  });

  it("counts an inference inserted in two inserts once, also after a restart that forgot every claim", async () => {
    const events = [
      ...generateInferences({
        seed: 12,
        count: 50,
        startMs: day + 86_400_000,
        endMs: day + 2 * 86_400_000,
        catalogue,
      }),
    ];
    const writer = createTestWriter(engine.ch);
    const first = await writer.write(
      "inference",
      events.map((e) => prepareInference(e)),
    );
    expect(first.inserted).toBe(50);
    const second = await writer.write(
      "inference",
      events.map((e) => prepareInference(e)),
    );
    expect(second.duplicates).toBe(50);
    // A new process: empty claim store, so only the existence check against the table can stop it.
    const restarted = writerFor({
      ch: engine.ch,
      claims: createMemoryClaimStore({ maxCommitted: 10 }),
    });
    const third = await restarted.write(
      "inference",
      events.slice(0, 20).map((e) => prepareInference(e)),
    );
    expect(third.outcomes).toEqual(new Array(20).fill("duplicate"));
    const counts = await countsFor(events.map((e) => e.inference_id));
    expect(counts.raw).toBe(50);
    expect(counts.final).toBe(50);
  });

  it("knows an inference by its id alone: sent again after a restart with another time, it is a duplicate", async () => {
    const events = [
      ...generateInferences({
        seed: 23,
        count: 30,
        startMs: day + 5 * 86_400_000,
        endMs: day + 6 * 86_400_000,
        catalogue,
      }),
    ];
    const first = await createTestWriter(engine.ch).write(
      "inference",
      events.map((e) => prepareInference(e)),
    );
    expect(first.inserted).toBe(30);
    // A publisher that re-stamps on retry, or an example re-run days later: same ids, new times.
    const restamped = events.map((e, i) => {
      const shift = (i % 2 === 0 ? 1 : -1) * (i + 1) * 86_400_000 * 7;
      const at = (iso: string) => new Date(Date.parse(iso) + shift).toISOString();
      return {
        ...e,
        request_arrival_time: at(e.request_arrival_time),
        request_forward_time: at(e.request_forward_time),
      };
    });
    const restarted = writerFor({
      ch: engine.ch,
      claims: createMemoryClaimStore({ maxCommitted: 10 }),
    });
    const again = await restarted.write(
      "inference",
      restamped.map((e) => prepareInference(e)),
    );
    expect(again.outcomes).toEqual(new Array(30).fill("duplicate"));
    const counts = await countsFor(events.map((e) => e.inference_id));
    expect([counts.raw, counts.final]).toEqual([30, 30]);
  });

  it("finds every stored id after a restart in a batch larger than one existence query", async () => {
    // 55k rows: two existence queries in embedded mode (50k ids each at most), eleven over HTTP.
    const events = [
      ...generateInferences({
        seed: 17,
        count: 55_000,
        startMs: day + 3 * 86_400_000,
        endMs: day + 4 * 86_400_000,
        catalogue,
      }),
    ];
    const stored = new Set(events.filter((_, i) => i % 2 === 0).map((e) => e.inference_id));
    const first = await createTestWriter(engine.ch).write(
      "inference",
      events.filter((e) => stored.has(e.inference_id)).map((e) => prepareInference(e)),
    );
    expect(first.inserted).toBe(stored.size);
    const restarted = writerFor({
      ch: engine.ch,
      claims: createMemoryClaimStore({ maxCommitted: 10 }),
    });
    const again = await restarted.write(
      "inference",
      events.map((e) => prepareInference(e)),
    );
    expect(again.outcomes).toEqual(
      events.map((e) => (stored.has(e.inference_id) ? "duplicate" : "inserted")),
    );
    const counts = await countsFor(events.map((e) => e.inference_id));
    expect([counts.raw, counts.final]).toEqual([55_000, 55_000]);
    // 55k rows written twice: ~25 s alone, more than a minute on a loaded two-core machine.
  }, 180_000);

  it("answers retry for an id another writer has claimed but not committed, and inserts nothing for it", async () => {
    const [event] = [
      ...generateInferences({ seed: 13, count: 1, startMs: day, endMs: day + 1000, catalogue }),
    ];
    const claims = createMemoryClaimStore({ maxCommitted: 100 });
    await claims.claim([`inf:${event!.inference_id}`]);
    const writer = writerFor({ ch: engine.ch, claims });
    const result = await writer.write("inference", [prepareInference(event!)]);
    expect(result.outcomes).toEqual(["retry"]);
    expect((await countsFor([event!.inference_id])).raw).toBe(0);
  });

  it("releases its claims when the insert fails, so a redelivery can write the row", async () => {
    const [event] = [
      ...generateInferences({ seed: 14, count: 1, startMs: day, endMs: day + 1000, catalogue }),
    ];
    const claims = createMemoryClaimStore({ maxCommitted: 100 });
    const broken = writerFor({
      ch: {
        ...engine.ch,
        insertJsonEachRow: async () => {
          throw new Error("simulated insert failure");
        },
      },
      claims,
    });
    await expect(broken.write("inference", [prepareInference(event!)])).rejects.toThrow(
      "simulated insert failure",
    );
    const writer = writerFor({ ch: engine.ch, claims });
    expect((await writer.write("inference", [prepareInference(event!)])).outcomes).toEqual(["inserted"]);
    expect((await countsFor([event!.inference_id])).raw).toBe(1);
  });

  /** Writes `rows` with `writer` until no outcome is "retry" (claims still pending), at most `ms`. */
  async function writeUntilSettled(writer: ReturnType<typeof writerFor>, rows: PreparedRow[], ms: number) {
    const until = Date.now() + ms;
    for (;;) {
      const r = await writer.write("inference", rows);
      if (r.retries === 0 || Date.now() > until) return r;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  it("an insert that outlives its deadline keeps its claims until it ends, then counts once", async () => {
    const events = [
      ...generateInferences({
        seed: 18,
        count: 3_000,
        startMs: day + 5 * 86_400_000,
        endMs: day + 6 * 86_400_000,
        catalogue,
      }),
    ];
    const rows = events.map((e) => prepareInference(e));
    const before = await countsFor([]);
    const claims = createMemoryClaimStore({ maxCommitted: 100_000 });
    // A 1 ms deadline: the embedded insert goes on after the writer stopped waiting, and commits.
    const impatient = writerFor({
      ch: {
        ...engine.ch,
        insertJsonEachRow: (t, p, c) => engine.ch.insertJsonEachRow(t, p, c, { timeoutMs: 1 }),
      },
      claims,
    });
    await expect(impatient.write("inference", rows)).rejects.toMatchObject({ code: "CLICKHOUSE_TIMEOUT" });
    // A redelivery right away must not write them again while that insert may still commit.
    const writer = writerFor({ ch: engine.ch, claims });
    const meanwhile = await writer.write("inference", rows);
    expect([meanwhile.inserted, meanwhile.retries]).toEqual([0, rows.length]);
    const settled = await writeUntilSettled(writer, rows, 10_000);
    expect(settled.outcomes).toEqual(new Array(rows.length).fill("duplicate"));
    const counts = await countsFor(events.map((e) => e.inference_id));
    const added = rollupsAdded(before, counts);
    expect([counts.raw, counts.final, ...added]).toEqual(new Array(6).fill(3_000));
  });

  it("a server insert with an unknown outcome keeps its claims pending until they expire", async () => {
    const events = [
      ...generateInferences({
        seed: 19,
        count: 500,
        startMs: day + 6 * 86_400_000,
        endMs: day + 7 * 86_400_000,
        catalogue,
      }),
    ];
    const rows = events.map((e) => prepareInference(e));
    const before = await countsFor([]);
    const claims = createMemoryClaimStore({ maxCommitted: 100_000, pendingTtlMs: 1_000 });
    // The connection drops at once, but the server commits the insert 300 ms later.
    let landed: Promise<void> | undefined;
    const flaky = writerFor({
      ch: {
        ...engine.ch,
        mode: "server",
        insertJsonEachRow: async (t, p, c) => {
          landed = new Promise((r) => setTimeout(r, 300)).then(() => engine.ch.insertJsonEachRow(t, p, c));
          throw Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
        },
      },
      claims,
    });
    await expect(flaky.write("inference", rows)).rejects.toThrow("socket hang up");
    const writer = writerFor({ ch: engine.ch, claims });
    expect((await writer.write("inference", rows)).retries).toBe(rows.length);
    await landed;
    const settled = await writeUntilSettled(writer, rows, 10_000);
    expect(settled.outcomes).toEqual(new Array(rows.length).fill("duplicate"));
    const counts = await countsFor(events.map((e) => e.inference_id));
    const added = rollupsAdded(before, counts);
    expect([counts.raw, counts.final, ...added]).toEqual(new Array(6).fill(500));
  });

  it("deduplicates metric samples by CloudEvent (source, id), not by id alone", async () => {
    const [s] = [...generateSamples({ seed: 15, count: 1, startMs: day, endMs: day + 1000 })];
    const writer = createTestWriter(engine.ch);
    const r1 = await writer.write("sample", [
      prepareSample(s!, "a"),
      prepareSample(s!, "a"),
      prepareSample(s!, "b"),
    ]);
    expect(r1.outcomes).toEqual(["inserted", "duplicate", "inserted"]);
    const r2 = await createTestWriter(engine.ch).write("sample", [prepareSample(s!, "a")]);
    expect(r2.outcomes).toEqual(["duplicate"]);
    const rows = await engine.ch.query<{ n: number }>(
      `SELECT count() AS n FROM ${engine.ch.database}.${Tables.metricSamples} WHERE event_id = {id:String}`,
      { id: s!.id },
    );
    expect(Number(rows[0]!.n)).toBe(2);
    const rolled = await engine.ch.query<{ n: number }>(
      `SELECT sum(sample_count) AS n FROM ${engine.ch.database}.${Tables.sampleRollup["1h"]} WHERE bucket_start = toStartOfHour(toDateTime({t:DateTime64(3, 'UTC')}, 'UTC'))`,
      { t: new Date(s!.timeMs).toISOString().replace("T", " ").slice(0, 23) },
    );
    expect(Number(rolled[0]!.n)).toBe(2);
  });
});
