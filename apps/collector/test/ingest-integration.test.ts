/**
 * Integration on the real embedded engine: exact counts under redelivery storms, restarts,
 * back-pressure and shutdown, checked against an oracle computed from the generated input.
 */
import { openTestEngine, type TestEngine } from "../../../test/support/engine";
import { createCatalogue, generateInferences, inferenceCloudEvent } from "../../../test/support/generate";
import { Tables, type InferenceData } from "@budmetrics/schema";
import { createMemoryClaimStore, type ClaimStore } from "../src";
import { bulkEnvelope, countInferences, countRows, startCollector } from "./harness";

let engine: TestEngine;
const catalogue = createCatalogue(3);
const day = Date.UTC(2026, 1, 2);
let seed = 100;
function events(count: number): InferenceData[] {
  return [...generateInferences({ seed: seed++, count, startMs: day, endMs: day + 86_400_000, catalogue })];
}
const bulk = (data: InferenceData[], tag: string) =>
  bulkEnvelope(data.map((d, i) => ({ entryId: `${tag}-${i}`, event: inferenceCloudEvent(d) })));

async function storedIds(ids: string[]): Promise<Set<string>> {
  const rows = await engine.ch.query<{ k: string }>(
    `SELECT toString(inference_id) AS k FROM ${engine.ch.database}.${Tables.inferenceEvents} WHERE inference_id IN {ids:Array(UUID)}`,
    { ids },
  );
  return new Set(rows.map((r) => r.k));
}

beforeAll(async () => {
  engine = await openTestEngine("collector_integration");
});
afterAll(async () => {
  await engine.close();
});

describe("idempotency", () => {
  it("counts every inference once after a redelivery storm: within a batch, across batches, after a restart", async () => {
    const before = await countInferences(engine.ch);
    const data = events(300);
    const first = await startCollector(engine.ch, { COLLECTOR_INSERT_MIN_INTERVAL_MS: "30" });
    // Same events three times in one delivery and concurrently in parallel deliveries (same batch or not).
    const storm = [...data, ...data.slice(0, 150), ...data.slice(100, 300)];
    const answers = await Promise.all([
      first.post("/dapr/events", bulk(storm, "s1")),
      first.post("/dapr/events", bulk(data.slice(50, 250), "s2")),
      first.post("/dapr/events", bulk(data.slice(0, 100), "s3")),
    ]);
    // A redelivered event meeting its own in-flight claim is answered RETRY; Dapr redelivers it.
    expect(
      answers.flatMap((a) => a.body.statuses).every((s: { status: string }) => s.status !== "DROP"),
    ).toBe(true);
    // Later batch.
    const later = await first.post("/dapr/events", bulk(data, "s4"));
    expect(later.body.statuses.every((s: { status: string }) => s.status === "SUCCESS")).toBe(true);
    await first.stop();

    // "Restart": a new app instance (empty in-process claims) on the same engine.
    const second = await startCollector(engine.ch);
    const again = await second.post("/dapr/events", bulk(data, "s5"));
    expect(again.body.statuses.every((s: { status: string }) => s.status === "SUCCESS")).toBe(true);
    await second.stop();

    const after = await countInferences(engine.ch);
    expect(after.raw - before.raw).toBe(300);
    expect(after.distinct - before.distinct).toBe(300);
    // The rollup (fed by a materialized view that sees every insert) proves no duplicate reached the table.
    expect(after.rollup - before.rollup).toBe(300);
  });

  it("counts a metric sample once by (source, id) across batches and a restart, and tells sources apart", async () => {
    const sample = (id: string, source: string) => ({
      specversion: "1.0",
      id,
      source,
      type: "metric_sample",
      time: "2026-02-02T12:00:00.250Z",
      data: { metric_type: "queue_depth", value: 3, cluster: "edge", labels: { gpu: "0" } },
    });
    const events = [
      sample("m-1", "node-a"),
      sample("m-1", "node-b"),
      sample("m-2", "node-a"),
      sample("m-1", "node-a"),
    ];
    const first = await startCollector(engine.ch);
    const a = await first.post("/observability/add", { events });
    expect(a.body.summary).toEqual({
      total: 4,
      inserted: 3,
      duplicates: 1,
      invalid: 0,
      expired: 0,
      retry: 0,
    });
    await first.stop();
    const second = await startCollector(engine.ch);
    const b = await second.post("/observability/add", { events });
    expect(b.body.summary).toEqual({
      total: 4,
      inserted: 0,
      duplicates: 4,
      invalid: 0,
      expired: 0,
      retry: 0,
    });
    await second.stop();
    expect(await countRows(engine.ch, Tables.metricSamples, "metric_type = 'queue_depth'")).toBe(3);
  });

  it("sees a SUCCESS-acknowledged event in a query issued right after the acknowledgement", async () => {
    const c = await startCollector(engine.ch, { COLLECTOR_INSERT_MIN_INTERVAL_MS: "5" });
    for (const d of events(5)) {
      const res = await c.post("/dapr/events/inference", inferenceCloudEvent(d), {
        "content-type": "application/cloudevents+json",
      });
      expect(res.body).toEqual({ status: "SUCCESS" });
      expect(await countRows(engine.ch, Tables.inferenceEvents, `inference_id = '${d.inference_id}'`)).toBe(
        1,
      );
    }
    await c.stop();
  });
});

describe("quarantine", () => {
  it("keeps each invalid event with its reason, field and raw payload, and answers DROP", async () => {
    const c = await startCollector(engine.ch);
    const [a, b, d] = events(3) as [InferenceData, InferenceData, InferenceData];
    const bad = [
      { ...inferenceCloudEvent({ ...a, inference_id: "not-a-uuid" }), id: "q-1" },
      { ...inferenceCloudEvent({ ...b, request_ip: "999.1.1.1" }), id: "q-2" },
      { ...inferenceCloudEvent({ ...d, input_tokens: -5 }), id: "q-3" },
      { ...inferenceCloudEvent(a), id: "q-4", specversion: "0.3" },
    ];
    const res = await c.post(
      "/dapr/events",
      bulkEnvelope(bad.map((event, i) => ({ entryId: `q${i}`, event }))),
    );
    expect(res.body.statuses.map((s: { status: string }) => s.status)).toEqual([
      "DROP",
      "DROP",
      "DROP",
      "DROP",
    ]);
    const rows = await engine.ch.query<{
      event_id: string;
      reason_code: string;
      field_path: string;
      reason: string;
    }>(
      `SELECT event_id, reason_code, field_path, reason FROM ${engine.ch.database}.${Tables.quarantine} WHERE event_id LIKE 'q-%' ORDER BY event_id`,
    );
    expect(rows).toEqual([
      {
        event_id: "q-1",
        reason_code: "EVENT_SCHEMA_INVALID",
        field_path: "data.inference_id",
        reason: "data.inference_id: must be a UUID",
      },
      {
        event_id: "q-2",
        reason_code: "EVENT_SCHEMA_INVALID",
        field_path: "data.request_ip",
        reason: "data.request_ip: must be a valid ip",
      },
      {
        event_id: "q-3",
        reason_code: "EVENT_SCHEMA_INVALID",
        field_path: "data.input_tokens",
        reason: "data.input_tokens: must be >= 0",
      },
      {
        event_id: "q-4",
        reason_code: "EVENT_ENVELOPE_INVALID",
        field_path: "specversion",
        reason: "specversion: must be equal to constant",
      },
    ]);
    await c.stop();
  });
});

describe("back-pressure", () => {
  it("answers RETRY when the queue is full and loses nothing once Dapr redelivers", async () => {
    const c = await startCollector(engine.ch, {
      COLLECTOR_QUEUE_MAX_ROWS: "60",
      COLLECTOR_BATCH_MAX_ROWS: "50",
      COLLECTOR_INSERT_MIN_INTERVAL_MS: "20",
    });
    const data = events(600);
    const deliveries = Array.from({ length: 30 }, (_, i) => data.slice(i * 20, i * 20 + 20));
    let pending = deliveries.map((d, i) => ({ d, tag: `bp${i}` }));
    let sawRetry = false;
    for (let round = 0; pending.length > 0 && round < 50; round++) {
      const answers = await Promise.all(pending.map((p) => c.post("/dapr/events", bulk(p.d, p.tag))));
      const next: typeof pending = [];
      answers.forEach((a, i) => {
        const statuses: Array<{ entryId: string; status: string }> = a.body.statuses;
        expect(statuses.every((s) => s.status === "SUCCESS" || s.status === "RETRY")).toBe(true);
        const retry = pending[i]!.d.filter((_, j) => statuses[j]!.status === "RETRY");
        if (retry.length > 0) {
          sawRetry = true;
          next.push({ d: retry, tag: `${pending[i]!.tag}r` });
        }
      });
      pending = next;
    }
    expect(sawRetry).toBe(true);
    expect(pending).toHaveLength(0);
    expect((await storedIds(data.map((d) => d.inference_id.toLowerCase()))).size).toBe(600);
    // The HTTP route says the same with a 503 and Retry-After.
    await c.stop();
  });

  it("answers HTTP 503 with Retry-After when the queue is full", async () => {
    // The first batch's flush is held at its claim step, so the queue is provably full when the
    // second request arrives (no reliance on how fast the engine commits).
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let claimed!: () => void;
    const flushStarted = new Promise<void>((r) => (claimed = r));
    const inner = createMemoryClaimStore({ maxCommitted: 1000 });
    const claims: ClaimStore = {
      async claim(keys) {
        claimed();
        await gate;
        return inner.claim(keys);
      },
      confirm: (keys) => inner.confirm(keys),
      release: (keys) => inner.release(keys),
    };
    const c = await startCollector(
      engine.ch,
      {
        COLLECTOR_QUEUE_MAX_ROWS: "10",
        COLLECTOR_BATCH_MAX_ROWS: "10",
        COLLECTOR_INSERT_MIN_INTERVAL_MS: "1000",
      },
      { claims },
    );
    const data = events(20);
    const first = c.post("/observability/add", {
      events: data.slice(0, 10).map((d) => inferenceCloudEvent(d)),
    });
    await flushStarted;
    const b = await c.post("/observability/add", {
      events: data.slice(10).map((d) => inferenceCloudEvent(d)),
    });
    release();
    const a = await first;
    expect(a.status).toBe(200);
    expect(b.status).toBe(503);
    expect(b.headers.get("retry-after")).toBe("5");
    expect(b.body.error.code).toBe("SINK_QUEUE_FULL");
    expect(b.body.summary).toEqual({
      total: 10,
      inserted: 0,
      duplicates: 0,
      invalid: 0,
      expired: 0,
      retry: 10,
    });
    const refused = await engine.ch.query<{ n: number }>(
      `SELECT count() AS n FROM ${engine.ch.database}.${Tables.inferenceEvents} WHERE inference_id IN {ids:Array(UUID)}`,
      { ids: data.slice(10).map((d) => d.inference_id) },
    );
    expect(Number(refused[0]!.n)).toBe(0);
    await c.stop();
  });
});

describe("shutdown", () => {
  it("loses nothing when SIGTERM-style drain happens under load: every SUCCESS stored, the rest RETRY or unanswered", async () => {
    const c = await startCollector(engine.ch, {
      COLLECTOR_BATCH_MAX_ROWS: "200",
      COLLECTOR_INSERT_MIN_INTERVAL_MS: "50",
    });
    const data = events(2_000);
    const deliveries = Array.from({ length: 40 }, (_, i) => data.slice(i * 50, i * 50 + 50));
    expect(deliveries.every((d) => d.length === 50)).toBe(true);
    const success = new Set<string>();
    const other = new Set<string>();
    const inFlight = deliveries.map(async (d, i) => {
      await new Promise((r) => setTimeout(r, i * 5));
      try {
        const res = await c.post("/dapr/events", bulk(d, `sd${i}`));
        res.body.statuses.forEach((s: { status: string }, j: number) =>
          (s.status === "SUCCESS" ? success : other).add(d[j]!.inference_id.toLowerCase()),
        );
      } catch {
        for (const e of d) other.add(e.inference_id.toLowerCase()); // not answered
      }
    });
    // Stop once the first delivery has been acknowledged (load is under way, more is still coming).
    for (let i = 0; i < 400 && success.size === 0; i++) await new Promise((r) => setTimeout(r, 5));
    // Shutdown order of the host: stop accepting → drain → close server → close app.
    c.app.stopAccepting();
    expect(await c.app.ready()).toBe(false);
    // A delivery arriving after SIGTERM is refused, not lost.
    const late = events(10);
    const refused = await c.post("/dapr/events", bulk(late, "late"));
    expect(refused.body.statuses.map((s: { status: string }) => s.status)).toEqual(Array(10).fill("RETRY"));
    for (const e of late) other.add(e.inference_id.toLowerCase());
    await c.app.drain();
    await Promise.all(inFlight);
    await c.stop();
    const stored = await storedIds([...data, ...late].map((d) => d.inference_id.toLowerCase()));
    expect(success.size).toBeGreaterThan(0);
    expect(other.size).toBeGreaterThan(0);
    for (const id of success) expect(stored.has(id)).toBe(true);
    // Nothing answered RETRY (or unanswered) was half-written either.
    expect(stored.size).toBe(success.size);
  });
});
