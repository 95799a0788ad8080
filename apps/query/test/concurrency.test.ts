/**
 * concurrent_requests on dense traffic, against the oracle (a request is in flight over
 * [arrival, arrival + response_time_ms), the peak of a bucket is the largest number in flight at its
 * start or at an arrival inside it): many overlaps per bucket, ends that coincide with other arrivals
 * to the millisecond, fractional, zero, missing and bucket-spanning response times, requests from
 * before the range, groups, and a zone whose hours start at :30 UTC.
 */
import { DateTime } from "luxon";
import type { InferenceData } from "@budmetrics/schema";
import { openTestEngine, type TestEngine } from "../../../test/support/engine";
import { createCatalogue, createRng, generateInferences } from "../../../test/support/generate";
import { loadInferences, oraclePeak, startApp, toOracle, type OracleEvent, type RunningApp } from "./helpers";

const START = Date.parse("2026-11-20T00:00:00Z");
const EDGE_MODEL = "0c000000-0000-4000-8000-00000000000e";
let engine: TestEngine;
let app: RunningApp;
let all: OracleEvent[];
let models: string[];

beforeAll(async () => {
  engine = await openTestEngine("query_concurrency");
  const cat = createCatalogue(21, { models: 3, projects: 2, endpoints: 4, apiKeys: 2, users: 5 });
  models = cat.models.map((m) => m.id);
  const rng = createRng(99);
  const events: InferenceData[] = [
    ...generateInferences({
      seed: 23,
      count: 1500,
      startMs: START,
      endMs: START + 3 * 3_600_000,
      catalogue: cat,
    }),
  ];
  // Whole-millisecond arrivals; half the response times whole milliseconds, half fractional. A third
  // of the requests arrive exactly when an earlier whole-millisecond one ends (intervals are half-open:
  // those two never overlap), and a fractional end counts until its ceiling (99.4 ms after an arrival
  // at T still overlaps an arrival at T + 99). Every 50th runs 20–55 minutes (spans buckets; within
  // the default hour of lookback before a range), every 97th has no response time and every 89th a
  // zero one (in flight at its arrival only).
  const wholeEnds: number[] = [];
  let t = START;
  events.forEach((d, i) => {
    t += Math.floor(rng() * 12_000);
    const arrival =
      wholeEnds.length > 0 && rng() < 0.33 ? wholeEnds[Math.floor(rng() * wholeEnds.length)]! : t;
    let ms: number | null =
      i % 2 === 0 ? Math.floor(rng() * 60_000) : Math.round(rng() * 60_000_000) / 1000 + 0.4;
    if (i % 50 === 0) ms = (20 + Math.floor(rng() * 35)) * 60_000;
    if (i % 97 === 0) ms = null;
    if (i % 89 === 0) ms = 0;
    if (ms !== null && Number.isInteger(ms) && arrival + ms < START + 3 * 3_600_000)
      wholeEnds.push(arrival + ms);
    d.request_arrival_time = new Date(arrival).toISOString();
    d.response_time_ms = ms;
  });
  // Edge cases, alone on a model of their own, one per hour from 2026-11-21 00:00 UTC.
  const h = (n: number, ms: number) =>
    new Date(Date.parse("2026-11-21T00:00:00Z") + n * 3_600_000 + ms).toISOString();
  const edge = (id: number, arrival: string, ms: number | null): InferenceData => ({
    ...events[0]!,
    inference_id: `0c000000-0000-4000-8000-${String(id).padStart(12, "0")}`,
    model_id: EDGE_MODEL,
    model_name: "edge-model",
    request_arrival_time: arrival,
    request_forward_time: arrival,
    response_time_ms: ms,
  });
  events.push(
    edge(1, h(0, 1000), 100), // hour 0: ends as the next one arrives — never two at once
    edge(2, h(0, 1100), 50),
    edge(3, h(1, 1000), 99.4), // hour 1: in flight until 1099.4, so the arrival at 1099 overlaps it
    edge(4, h(1, 1099), 10),
    edge(5, h(2, 1000), 0), // hour 2: zero, missing and 50 ms at one instant — three at once
    edge(6, h(2, 1000), null),
    edge(7, h(2, 1000), 50),
    edge(8, h(3, -10), 20), // hour 3: running at its start, then alone again
    edge(9, h(3, 10), 5),
  );
  await loadInferences(engine.ch, events);
  all = toOracle(events);
  app = await startApp(engine.ch, { nowMs: START + 2 * 86_400_000 });
}, 120_000);

afterAll(async () => {
  await app?.close();
  await engine?.close();
});

type Item = { model_id?: string; data: { concurrent_requests?: { peak: number; avg: number } } };
type Period = { time_period: string; items: Item[] };

async function peaks(body: Record<string, unknown>): Promise<Period[]> {
  const res = await app.post("/observability/analytics", { metrics: ["concurrent_requests"], ...body });
  if (res.status !== 200) throw new Error(`status ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body.items as Period[];
}

describe("concurrent_requests on dense traffic", () => {
  it("is exact per hour and model in a :30 zone (Asia/Kolkata), the range starting mid-traffic", async () => {
    const from = "2026-11-20T06:00:00+05:30"; // 00:30 UTC: requests from before it are still running
    const periods = await peaks({
      from_date: from,
      to_date: "2026-11-20T10:00:00+05:30",
      frequency_unit: "hour",
      timezone: "Asia/Kolkata",
      group_by: ["model"],
    });
    expect(periods).toHaveLength(4);
    let highest = 0;
    for (const p of periods) {
      const s = DateTime.fromISO(p.time_period).toMillis();
      for (const m of models) {
        const expected = oraclePeak(
          all.filter((e) => e.d.model_id === m),
          s,
          s + 3_600_000,
        );
        const got = p.items.find((i) => i.model_id === m)?.data.concurrent_requests?.peak ?? 0;
        expect({ bucket: p.time_period, model: m, peak: got }).toEqual({
          bucket: p.time_period,
          model: m,
          peak: expected,
        });
        highest = Math.max(highest, expected);
      }
    }
    // Dense enough that ties and overlaps decide the answer.
    expect(highest).toBeGreaterThanOrEqual(8);
  });

  it("is exact over every model in 2-hour buckets from 00:30, and an hour with only running requests keeps their count", async () => {
    const periods = await peaks({
      from_date: "2026-11-20T00:30:00Z",
      to_date: "2026-11-20T06:30:00Z",
      frequency_unit: "hour",
      frequency_interval: 2,
    });
    expect(periods).toHaveLength(3);
    for (const p of periods) {
      const s = Date.parse(p.time_period);
      expect(p.items[0]?.data.concurrent_requests?.peak ?? 0).toBe(oraclePeak(all, s, s + 7_200_000));
    }
    // Nothing arrives after 03:00; the requests still running then are counted in the next bucket.
    const hourly = await peaks({
      from_date: "2026-11-20T03:00:00Z",
      to_date: "2026-11-20T05:00:00Z",
      frequency_unit: "hour",
    });
    const after = hourly.find((p) => p.time_period.startsWith("2026-11-20T03:00"))!;
    const running = all.filter(
      (e) => e.t < START + 3 * 3_600_000 && e.t + (e.d.response_time_ms ?? 0) > START + 3 * 3_600_000,
    );
    expect(running.length).toBeGreaterThan(0);
    expect(after.items[0]?.data.concurrent_requests?.peak).toBe(running.length);
  });
  it("keeps intervals half-open, counts a fractional time to its end, and zero or missing times at the arrival", async () => {
    const periods = await peaks({
      from_date: "2026-11-21T00:00:00Z",
      to_date: "2026-11-21T04:00:00Z",
      frequency_unit: "hour",
      filters: { model: EDGE_MODEL },
    });
    const got = [...periods].reverse().map((p) => p.items[0]?.data.concurrent_requests?.peak ?? 0);
    const edges = all.filter((e) => e.d.model_id === EDGE_MODEL);
    const start = Date.parse("2026-11-21T00:00:00Z");
    expect(
      [0, 1, 2, 3].map((n) => oraclePeak(edges, start + n * 3_600_000, start + (n + 1) * 3_600_000)),
    ).toEqual([1, 2, 3, 1]);
    expect(got).toEqual([1, 2, 3, 1]);
  });
});
