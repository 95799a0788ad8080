import { commonErrors } from "@budmetrics/errors";
import { createBatcher, type BatcherOptions } from "../src/ingest/batcher";
import type { PreparedRow, WriteOutcome } from "../src/ingest/ports";

/** An in-memory sink that records batches and can be told to fail or to hang. */
function memorySink() {
  const batches: PreparedRow[][] = [];
  const stored = new Set<string>();
  const failures: unknown[] = [];
  let hold: Promise<void> | undefined;
  return {
    batches,
    stored,
    failNext(err: unknown, times = 1) {
      for (let i = 0; i < times; i++) failures.push(err);
    },
    holdUntil(p: Promise<void>) {
      hold = p;
    },
    async write(rows: readonly PreparedRow[]): Promise<{ outcomes: WriteOutcome[] }> {
      batches.push([...rows]);
      if (hold) await hold;
      const failure = failures.shift();
      if (failure) throw failure;
      return {
        outcomes: rows.map((r) => {
          if (stored.has(r.key)) return "duplicate";
          stored.add(r.key);
          return "inserted";
        }),
      };
    },
  };
}

const rows = (prefix: string, n: number): PreparedRow[] =>
  Array.from({ length: n }, (_, i) => ({ key: `${prefix}${i}`, timeMs: 0, line: `{"k":"${prefix}${i}"}` }));

const defaults: BatcherOptions = {
  maxBatchRows: 10,
  minIntervalMs: 1_000,
  maxQueueRows: 30,
  maxQueueBytes: 1_000_000,
  flushTimeoutMs: 5_000,
  maxRetries: 2,
  retryBackoffMs: 100,
};

beforeEach(() => jest.useFakeTimers());
afterEach(() => jest.useRealTimers());

describe("batcher", () => {
  it("writes at once when nothing is in flight, and resolves only after the commit", async () => {
    const sink = memorySink();
    let release!: () => void;
    sink.holdUntil(new Promise<void>((r) => (release = r)));
    const b = createBatcher((r) => sink.write(r), defaults);
    let done = false;
    const p = b.write(rows("a", 3)).then((o) => {
      done = true;
      return o;
    });
    await jest.advanceTimersByTimeAsync(0);
    expect(sink.batches).toHaveLength(1); // no timer waited for
    expect(done).toBe(false); // not committed yet
    release();
    expect(await p).toEqual(["inserted", "inserted", "inserted"]);
  });

  it("gathers writes only while a write is in flight (group commit)", async () => {
    const sink = memorySink();
    let release!: () => void;
    sink.holdUntil(new Promise<void>((r) => (release = r)));
    const b = createBatcher((r) => sink.write(r), { ...defaults, minIntervalMs: 0 });
    const p1 = b.write(rows("a", 1));
    await jest.advanceTimersByTimeAsync(0);
    const p2 = b.write(rows("b", 2));
    const p3 = b.write(rows("c", 3));
    await jest.advanceTimersByTimeAsync(0);
    expect(sink.batches.map((x) => x.length)).toEqual([1]);
    release();
    await Promise.all([p1, p2, p3]);
    expect(sink.batches.map((x) => x.length)).toEqual([1, 5]); // b and c in one write, at once
  });

  it("starts two writes at least minIntervalMs apart, unless a full batch waits", async () => {
    const sink = memorySink();
    const b = createBatcher((r) => sink.write(r), { ...defaults, minIntervalMs: 100 });
    await b.write(rows("a", 1));
    const p = b.write(rows("b", 1));
    await jest.advanceTimersByTimeAsync(50);
    expect(sink.batches).toHaveLength(1); // light traffic: the bound holds the second write back
    await jest.advanceTimersByTimeAsync(50);
    await p;
    expect(sink.batches).toHaveLength(2);
    const full = b.write(rows("c", 10)); // maxBatchRows: a full batch does not wait
    await jest.advanceTimersByTimeAsync(0);
    await full;
    expect(sink.batches).toHaveLength(3);
  });

  it("flushes as soon as a batch is full, one flush in flight, writes never split", async () => {
    const sink = memorySink();
    let release!: () => void;
    sink.holdUntil(new Promise<void>((r) => (release = r)));
    const b = createBatcher((r) => sink.write(r), defaults);
    const p1 = b.write(rows("a", 6));
    const p2 = b.write(rows("b", 6)); // 12 ≥ 10 → flush now
    await jest.advanceTimersByTimeAsync(0);
    expect(sink.batches.map((x) => x.length)).toEqual([6]);
    const p3 = b.write(rows("c", 4));
    await jest.advanceTimersByTimeAsync(5_000 - 1);
    expect(sink.batches).toHaveLength(1); // the first flush still holds the slot
    release();
    await jest.advanceTimersByTimeAsync(0);
    await Promise.all([p1, p2, p3]);
    expect(sink.batches.map((x) => x.length)).toEqual([6, 10]);
  });

  it("refuses a write when the queue would exceed its rows or bytes bound", async () => {
    const sink = memorySink();
    let release!: () => void;
    sink.holdUntil(new Promise<void>((r) => (release = r)));
    const b = createBatcher((r) => sink.write(r), { ...defaults, maxBatchRows: 100, maxQueueRows: 20 });
    const accepted = b.write(rows("a", 15));
    await expect(b.write(rows("b", 6))).rejects.toMatchObject({ code: "SINK_QUEUE_FULL", retryable: true });
    const small = b.write(rows("c", 5));
    const bytes = createBatcher((r) => sink.write(r), { ...defaults, maxQueueBytes: 2_000 });
    const big = bytes.write(rows("d", 3));
    await expect(bytes.write([{ key: "x", timeMs: 0, line: "y".repeat(2_000) }])).rejects.toMatchObject({
      code: "SINK_QUEUE_FULL",
    });
    await jest.advanceTimersByTimeAsync(1_000);
    release();
    await jest.advanceTimersByTimeAsync(0);
    await expect(accepted).resolves.toHaveLength(15);
    await expect(small).resolves.toHaveLength(5);
    await expect(big).resolves.toHaveLength(3);
  });

  it("retries retryable errors with back-off and gives up on the others at once", async () => {
    const sink = memorySink();
    const b = createBatcher((r) => sink.write(r), defaults);
    sink.failNext(commonErrors.create("CLICKHOUSE_UNAVAILABLE", "down"), 2);
    const ok = b.write(rows("a", 2));
    await jest.advanceTimersByTimeAsync(1_000); // flush, fail
    await jest.advanceTimersByTimeAsync(100); // retry 1, fail
    await jest.advanceTimersByTimeAsync(200); // retry 2, ok
    await expect(ok).resolves.toEqual(["inserted", "inserted"]);
    expect(sink.batches).toHaveLength(3);

    sink.failNext(commonErrors.create("CLICKHOUSE_REJECTED", "bad column"));
    const rejected = b.write(rows("b", 1));
    const assertion = expect(rejected).rejects.toMatchObject({ code: "CLICKHOUSE_REJECTED" });
    await jest.advanceTimersByTimeAsync(1_000);
    await assertion;
    expect(sink.batches).toHaveLength(4);

    sink.failNext(commonErrors.create("CLICKHOUSE_UNAVAILABLE", "down"), 3);
    const exhausted = b.write(rows("c", 1));
    const assertion2 = expect(exhausted).rejects.toMatchObject({ code: "CLICKHOUSE_UNAVAILABLE" });
    await jest.advanceTimersByTimeAsync(1_000 + 100 + 200);
    await assertion2;
    expect(sink.batches).toHaveLength(7);
  });

  it("rejects a batch that is not committed within the flush timeout and frees the slot", async () => {
    const sink = memorySink();
    sink.holdUntil(new Promise<void>(() => undefined)); // never commits
    const b = createBatcher((r) => sink.write(r), { ...defaults, flushTimeoutMs: 3_000 });
    const p = b.write(rows("a", 1));
    const assertion = expect(p).rejects.toMatchObject({ code: "SINK_FLUSH_TIMEOUT" });
    await jest.advanceTimersByTimeAsync(1_000 + 3_000);
    await assertion;
    expect(b.stats()).toMatchObject({ flushing: false, inFlightRows: 0, queuedRows: 0 });
  });

  it("drains on shutdown: refuses new writes, flushes queued ones without waiting, abandons on deadline", async () => {
    const sink = memorySink();
    const b = createBatcher((r) => sink.write(r), { ...defaults, minIntervalMs: 60_000 });
    await b.write(rows("z", 1)); // the next write waits out the interval…
    const queued = b.write(rows("a", 4));
    b.stopAccepting();
    await expect(b.write(rows("b", 1))).rejects.toMatchObject({ code: "SINK_SHUTTING_DOWN" });
    await b.drain(); // …unless the batcher drains
    await expect(queued).resolves.toHaveLength(4);

    const sink2 = memorySink();
    let release!: () => void;
    sink2.holdUntil(new Promise<void>((r) => (release = r)));
    const b2 = createBatcher((r) => sink2.write(r), { ...defaults, maxBatchRows: 2 });
    const inFlight = b2.write(rows("x", 2));
    const waiting = b2.write(rows("y", 2));
    await jest.advanceTimersByTimeAsync(0);
    b2.stopAccepting();
    b2.abandon();
    await expect(waiting).rejects.toMatchObject({ code: "SINK_SHUTTING_DOWN" });
    release();
    await expect(inFlight).resolves.toEqual(["inserted", "inserted"]); // in flight finishes on its own
  });

  it("hands each write its own outcomes when writes share a batch", async () => {
    const sink = memorySink();
    sink.stored.add("a1");
    const b = createBatcher((r) => sink.write(r), defaults);
    await b.write(rows("z", 1));
    const p1 = b.write(rows("a", 2));
    const p2 = b.write(rows("b", 3));
    await jest.advanceTimersByTimeAsync(1_000);
    expect(await p1).toEqual(["inserted", "duplicate"]);
    expect(await p2).toEqual(["inserted", "inserted", "inserted"]);
    expect(sink.batches).toHaveLength(2);
  });
});
