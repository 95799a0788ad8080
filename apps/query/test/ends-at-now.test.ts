/**
 * A range that ends at now, between hour marks: when nothing is stored after its end, its last bucket
 * is read from the rollup (no raw tail), and the numbers are the oracle's over [from, now); a row
 * stamped after now (a sender whose clock runs ahead) puts the raw tail back, and is not counted.
 */
import type { InferenceData } from "@budmetrics/schema";
import { openTestEngine, type TestEngine } from "../../../test/support/engine";
import { createCatalogue, generateInferences } from "../../../test/support/generate";
import {
  close,
  loadInferences,
  oracleStats,
  startApp,
  toOracle,
  type OracleEvent,
  type RunningApp,
} from "./helpers";

const NOW = Date.parse("2026-11-20T10:37:12.345Z");
const FROM = Date.parse("2026-11-17T00:00:00Z");
let engine: TestEngine;
let app: RunningApp;
let all: OracleEvent[];
let cat: ReturnType<typeof createCatalogue>;

beforeAll(async () => {
  engine = await openTestEngine("query_ends_at_now");
  cat = createCatalogue(31, { models: 3, projects: 2, endpoints: 4, apiKeys: 2, users: 10 });
  const events: InferenceData[] = [
    ...generateInferences({ seed: 41, count: 2000, startMs: FROM - 86_400_000, endMs: NOW, catalogue: cat }),
  ];
  await loadInferences(engine.ch, events);
  all = toOracle(events);
  // Uncached: each test adds rows and asks again.
  app = await startApp(engine.ch, { nowMs: NOW, env: { QUERY_CACHE_TTL_SECONDS: "0" } });
}, 120_000);

afterAll(async () => {
  await app?.close();
  await engine?.close();
});

type Period = { time_period: string; items: Array<{ data: Record<string, Record<string, number | null>> }> };

async function ask(body: Record<string, unknown>) {
  const res = await app.post("/observability/analytics", {
    metrics: ["request_count", "cost", "latency", "input_token"],
    from_date: new Date(FROM).toISOString(),
    ...body,
  });
  if (res.status !== 200) throw new Error(`status ${res.status}: ${JSON.stringify(res.body)}`);
  return { periods: res.body.items as Period[], plan: res.headers.get("x-query-plan") ?? "" };
}

function expectOracle(periods: Period[], bucketMs: number, toMs: number) {
  const evs = all.filter((e) => e.t >= FROM && e.t < toMs);
  expect(periods.length).toBe(Math.ceil((toMs - FROM) / bucketMs));
  for (const p of periods) {
    const s = Date.parse(p.time_period);
    const o = oracleStats(evs.filter((e) => e.t >= s && e.t < Math.min(s + bucketMs, toMs)));
    const d = p.items[0]!.data;
    expect([p.time_period, d.request_count!.count]).toEqual([p.time_period, o.request_count.count]);
    expect(d.input_token!.count).toBe(o.input_token.count);
    expect(close(d.cost!.sum, o.cost.sum, 1e-9)).toBe(true);
    expect(close(d.latency!.avg, o.latency.avg ?? 0, 1e-9)).toBe(true);
  }
}

/** Daily (to_date = now) and hourly (to_date null: now) from FROM: their plans, and the oracle's numbers. */
async function expectAtNow(dailyPlan: string, hourlyPlan: string) {
  const daily = await ask({ to_date: new Date(NOW).toISOString(), frequency_unit: "day" });
  expect(daily.plan).toBe(dailyPlan);
  expectOracle(daily.periods, 86_400_000, NOW);
  const hourly = await ask({ to_date: null, frequency_unit: "hour" });
  expect(hourly.plan).toBe(hourlyPlan);
  expectOracle(hourly.periods, 3_600_000, NOW);
}

describe("a range that ends at now", () => {
  it("reads its last bucket from the rollup when nothing is stored after now, at both grains, with the oracle's numbers", async () => {
    await expectAtNow("total_1d", "total_1h");
    // One statement looks for prompt traffic and at the tail; the tail only when a rollup would answer
    // (not for api-key groups).
    const labels = async (body: Record<string, unknown>) => {
      const res = await app.post("/observability/analytics?explain=1", {
        metrics: ["request_count"],
        from_date: new Date(FROM).toISOString(),
        frequency_unit: "day",
        ...body,
      });
      expect(res.status).toBe(200);
      return (res.body.meta.statements as Array<{ label: string }>).map((x) => x.label).sort();
    };
    expect(await labels({})).toEqual(["bud_analytics.prompt_presence+tail.probe", "main.states"]);
    // Raw rows anyway (api-key groups): prompt traffic is left out by a condition, no look.
    expect(await labels({ group_by: ["api_key"] })).toEqual(["main.states"]);
    // The range ends an hour ago: it is not "now", the raw tail stays.
    const past = await ask({
      to_date: new Date(NOW - 3_600_000).toISOString(),
      frequency_unit: "day",
    });
    expect(past.plan).toBe("total_1d+total_1h+raw");
    expectOracle(past.periods, 86_400_000, NOW - 3_600_000);
  });

  it("keeps the raw tail when a row is stamped after now, and leaves that row out", async () => {
    const ahead: InferenceData = {
      ...generateInferences({ seed: 42, count: 1, startMs: NOW, endMs: NOW + 1, catalogue: cat }).next()
        .value!,
      request_arrival_time: new Date(NOW + 10 * 60_000).toISOString(),
      request_forward_time: new Date(NOW + 10 * 60_000).toISOString(),
      cost: 5,
    };
    await loadInferences(engine.ch, [ahead]);
    // The next hour mark (11:00) lies after that row (10:47): the hourly question keeps its raw tail.
    await expectAtNow("total_1d+total_1h+raw", "total_1h+raw");
  });
  it("reads raw rows, leaving prompt traffic out, when prompt traffic arrived in the range (one look finds both)", async () => {
    const prompt: InferenceData = {
      ...generateInferences({
        seed: 43,
        count: 1,
        startMs: NOW - 7_200_000,
        endMs: NOW - 7_100_000,
        catalogue: cat,
      }).next().value!,
      prompt_id: "prompt-1",
    };
    await loadInferences(engine.ch, [prompt]);
    const daily = await ask({ to_date: new Date(NOW).toISOString(), frequency_unit: "day" });
    expect(daily.plan).toBe("raw");
    expectOracle(daily.periods, 86_400_000, NOW); // the oracle's events hold no prompt traffic
    // A range that ends on an hour mark before now (no tail look), after the prompt row and before the
    // row stamped after now: the prompt look alone finds it, raw rows answer, the oracle's numbers.
    const end = Date.UTC(2026, 10, 20, 9);
    const aligned = await ask({ to_date: new Date(end).toISOString(), frequency_unit: "day" });
    expect(aligned.plan).toBe("raw");
    expectOracle(aligned.periods, 86_400_000, end);
    const res = await app.post("/observability/analytics?explain=1", {
      metrics: ["request_count"],
      from_date: new Date(FROM).toISOString(),
      to_date: new Date(end).toISOString(),
      frequency_unit: "day",
    });
    expect(res.body.meta.plan).toBe("raw");
    expect((res.body.meta.statements as Array<{ label: string }>).map((x) => x.label)).toEqual([
      "bud_analytics.prompt_presence",
      "main.states",
    ]);
  });
});
