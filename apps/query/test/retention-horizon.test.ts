/**
 * A range older than the raw table's retention: the raw rows are gone (TTL), the rollups keep them.
 * Every grain answers from what exists — counts from the rollups, complete — and says, in `notes`,
 * from which date on the raw rows exist and which requested metrics are incomplete before it.
 */
import { Tables, toNumber } from "@budmetrics/schema";
import { openTestEngine, type TestEngine } from "../../../test/support/engine";
import { createCatalogue, generateInferences } from "../../../test/support/generate";
import { loadInferences, startApp, type RunningApp } from "./helpers";

const DAY = 86_400_000;
const RAW_DAYS = 30;
let engine: TestEngine;
let app: RunningApp;
const now = Date.now();
const today = Math.floor(now / DAY) * DAY;
// 60 whole UTC days ending at today's midnight: the first half older than the raw retention.
const FROM = today - 60 * DAY;
const TO = today;
const horizon = new Date(Math.ceil((now - RAW_DAYS * DAY) / DAY) * DAY).toISOString();
const cat = createCatalogue(31, { models: 2, projects: 2, endpoints: 3, apiKeys: 3, users: 10 });
const events = [...generateInferences({ seed: 31, count: 3_000, startMs: FROM, endMs: TO, catalogue: cat })];

beforeAll(async () => {
  engine = await openTestEngine("query_horizon", { RAW_DATA_RETENTION_DAYS: String(RAW_DAYS) });
  await loadInferences(engine.ch, events);
  // Apply the TTL now, as the engine's merges do in time.
  await engine.ch.command(`OPTIMIZE TABLE ${engine.ch.database}.${Tables.inferenceEvents} FINAL`);
  app = await startApp(engine.ch);
}, 120_000);

afterAll(async () => {
  await app?.close();
  await engine?.close();
});

type Note = { code: string; before: string; message: string; unavailable_metrics: string[] };
type Period = { time_period: string; items: Array<{ data: Record<string, Record<string, number | null>> }> };

async function ask(body: Record<string, unknown>) {
  const r = await app.post("/observability/analytics", {
    from_date: new Date(FROM).toISOString(),
    to_date: new Date(TO).toISOString(),
    return_delta: false,
    ...body,
  });
  expect(r.status).toBe(200);
  return r.body as { items: Period[]; notes?: Note[] };
}

function total(periods: Period[], metric: string): number {
  return periods.reduce((s, p) => s + p.items.reduce((t, i) => t + Number(i.data[metric]?.count ?? 0), 0), 0);
}

it("the raw table holds only the rows inside its retention (precondition)", async () => {
  const [row] = await engine.ch.query<{ n: number; oldest: string }>(
    `SELECT count() AS n, min(request_arrival_time) AS oldest FROM ${engine.ch.database}.${Tables.inferenceEvents}`,
  );
  expect(toNumber(row!.n)).toBeLessThan(events.length * 0.6);
  expect(Date.parse(row!.oldest)).toBeGreaterThanOrEqual(now - RAW_DAYS * DAY - 60_000);
});

it.each(["hour", "day", "week", "month"])(
  "%s buckets: every request counted (rollups), and the same note: raw rows from the horizon on, concurrency incomplete before",
  async (unit) => {
    const a = await ask({
      metrics: ["request_count", "latency", "concurrent_requests"],
      frequency_unit: unit,
    });
    expect(total(a.items, "request_count")).toBe(events.length);
    expect(a.notes).toEqual([
      {
        code: "RANGE_BEFORE_RAW_RETENTION",
        before: horizon,
        message: expect.stringContaining(`periods before ${horizon} are answered from the rollups only`),
        unavailable_metrics: ["concurrent_requests"],
      },
    ]);
  },
  60_000,
);

it("a request that needs raw rows (group by api_key) says every metric is incomplete before the horizon", async () => {
  const a = await ask({ metrics: ["request_count"], frequency_unit: "day", group_by: ["api_key"] });
  const oldRows = events.filter((e) => Date.parse(e.request_arrival_time) < Date.parse(horizon)).length;
  expect(total(a.items, "request_count")).toBeLessThanOrEqual(events.length - oldRows + 200);
  expect(a.notes).toHaveLength(1);
  expect(a.notes![0]).toMatchObject({
    code: "RANGE_BEFORE_RAW_RETENTION",
    before: horizon,
    unavailable_metrics: ["request_count"],
  });
  expect(a.notes![0]!.message).toContain("needs raw rows");
});

it("a range inside the retention has no notes; a rollup-only request has nothing unavailable", async () => {
  const recent = await ask({
    metrics: ["request_count", "concurrent_requests"],
    from_date: new Date(TO - 10 * DAY).toISOString(),
    frequency_unit: "day",
  });
  expect(recent.notes).toBeUndefined();
  const rolled = await ask({ metrics: ["request_count", "cost"], frequency_unit: "week" });
  expect(rolled.notes?.[0]?.unavailable_metrics).toEqual([]);
  expect(rolled.notes?.[0]?.message).toContain("every requested metric is complete there");
});

it("earlier comparison periods count as part of the range (seed shape)", async () => {
  const a = await ask({
    metrics: ["request_count"],
    from_date: undefined,
    to_date: undefined,
    time_range: { from_date: new Date(TO - 20 * DAY).toISOString(), to_date: new Date(TO).toISOString() },
    interval: "daily",
    comparison: { type: "previous_period", periods: 1 },
  });
  expect(a.notes?.[0]).toMatchObject({ code: "RANGE_BEFORE_RAW_RETENTION", before: horizon });
});
