/**
 * POST /observability/analytics on the real embedded engine, checked against an oracle computed here
 * from the generated events (exact for counts, sums, averages, min, max; percentiles within the
 * DDSketch error), plus rollup = raw, DST, ISO weeks, custom intervals, gaps, delta, comparison, top-k.
 */
import { DateTime } from "luxon";
import type { InferenceData } from "@budmetrics/schema";
import { openTestEngine, type TestEngine } from "../../../test/support/engine";
import {
  createCatalogue,
  generateInferences,
  generateSamples,
  type Catalogue,
} from "../../../test/support/generate";
import {
  close,
  loadInferences,
  loadSamples,
  oraclePeak,
  oracleStats,
  startApp,
  toOracle,
  withinSketchError,
  type OracleEvent,
  type RunningApp,
} from "./helpers";

const NOW = Date.parse("2026-12-01T00:00:00Z");
const QUIET_MODEL = "0b000000-0000-4000-8000-00000000000a";
let engine: TestEngine;
let app: RunningApp;
let cat: Catalogue;
let all: OracleEvent[];
let samples: Array<{
  id: string;
  timeMs: number;
  data: { metric_type: string; value: number; model?: string | null; cluster?: string | null };
}>;

beforeAll(async () => {
  engine = await openTestEngine("query_analytics");
  cat = createCatalogue(7, { models: 4, projects: 5, endpoints: 8, apiKeys: 6, users: 20 });
  const spring = [
    ...generateInferences({
      seed: 11,
      count: 3000,
      startMs: Date.parse("2026-03-01T00:00:00Z"),
      endMs: Date.parse("2026-04-05T00:00:00Z"),
      catalogue: cat,
    }),
  ];
  const autumn = [
    ...generateInferences({
      seed: 12,
      count: 1200,
      startMs: Date.parse("2026-10-28T00:00:00Z"),
      endMs: Date.parse("2026-11-04T00:00:00Z"),
      catalogue: cat,
    }),
  ];
  // A quiet model with one 3-hour request and a zero-length one: in flight across bucket starts.
  const quiet = { ...spring[0]!, model_id: QUIET_MODEL, model_name: "quiet-model" };
  const longOne: InferenceData = {
    ...quiet,
    inference_id: "0a000000-0000-4000-8000-000000000001",
    request_arrival_time: "2026-11-05T00:30:00.000Z",
    request_forward_time: "2026-11-05T00:30:00.010Z",
    response_time_ms: 3 * 3_600_000,
  };
  const zeroLength: InferenceData = {
    ...quiet,
    inference_id: "0a000000-0000-4000-8000-000000000002",
    request_arrival_time: "2026-11-05T04:15:00.000Z",
    request_forward_time: "2026-11-05T04:15:00.000Z",
    response_time_ms: null,
  };
  const events: InferenceData[] = [...spring, ...autumn, longOne, zeroLength];
  await loadInferences(engine.ch, events);
  all = toOracle(events);
  samples = [
    ...generateSamples({
      seed: 5,
      count: 600,
      startMs: Date.parse("2026-03-01T00:00:00Z"),
      endMs: Date.parse("2026-03-10T00:00:00Z"),
    }),
  ];
  await loadSamples(engine.ch, samples);
  app = await startApp(engine.ch, { nowMs: NOW });
}, 120_000);

afterAll(async () => {
  await app?.close();
  await engine?.close();
});

type Item = { [k: string]: unknown; data: Record<string, Record<string, unknown>> };
type Period = { time_period: string; items: Item[] };

async function analytics(body: unknown): Promise<{ periods: Period[]; plan: string }> {
  const res = await app.post("/observability/analytics", body);
  if (res.status !== 200) throw new Error(`status ${res.status}: ${JSON.stringify(res.body)}`);
  expect(res.body.object).toBe("observability_metrics");
  return { periods: res.body.items, plan: res.headers.get("x-query-plan") ?? "" };
}

function inRange(evs: OracleEvent[], from: number, to: number) {
  return evs.filter((e) => e.t >= from && e.t < to);
}

/** The Bud stack's shape answers 0, not null, for the averages and rates of an empty bucket. */
const z = (v: number | null) => v ?? 0;

function expectMetricsMatch(data: Item["data"], evs: OracleEvent[]) {
  const o = oracleStats(evs);
  expect(data.request_count!.count).toBe(o.request_count.count);
  expect(data.success_request!.count).toBe(o.success_request.count);
  expect(close(data.success_request!.rate as number, z(o.success_request.rate))).toBe(true);
  expect(data.failure_request!.count).toBe(o.failure_request.count);
  expect(close(data.failure_request!.rate as number, z(o.failure_request.rate))).toBe(true);
  expect(close(data.queuing_time!.avg_time_ms as number, z(o.queuing_time.avg_time_ms))).toBe(true);
  expect(data.input_token!.count).toBe(o.input_token.count);
  expect(data.output_token!.count).toBe(o.output_token.count);
  expect(data.total_token!.count).toBe(o.total_token.count);
  expect(data.cache!.hit_count).toBe(o.cache.hit_count);
  expect(close(data.cache!.hit_rate as number, z(o.cache.hit_rate))).toBe(true);
  expect(close(data.cost!.sum as number, o.cost.sum, 1e-9)).toBe(true);
  expect(close(data.throughput!.avg as number, z(o.throughput.avg), 1e-9)).toBe(true);
  expect(close(data.latency!.avg as number, z(o.latency.avg), 1e-9)).toBe(true);
  expect(close(data.ttft!.avg as number, z(o.ttft.avg), 1e-9)).toBe(true);
  for (const [f, q] of [
    ["p50", 0.5],
    ["p90", 0.9],
    ["p95", 0.95],
    ["p99", 0.99],
  ] as const) {
    expect(withinSketchError(o.latency.values, q, data.latency![f] as number | null)).toBe(true);
    expect(withinSketchError(o.ttft.values, q, data.ttft![f] as number | null)).toBe(true);
  }
}

const ALL_METRICS = [
  "request_count",
  "success_request",
  "failure_request",
  "queuing_time",
  "input_token",
  "output_token",
  "total_token",
  "ttft",
  "latency",
  "throughput",
  "cache",
  "cost",
];

/** Oracle buckets: calendar starts in a zone via luxon. */
function localBuckets(from: string, to: string, zone: string, unit: "day" | "hour" | "week" | "month") {
  const out: Array<{ start: number; end: number }> = [];
  let s = DateTime.fromISO(from, { zone }).startOf(unit);
  const end = DateTime.fromISO(to, { zone }).toMillis();
  while (s.toMillis() < end) {
    const n = s.plus({ [unit + "s"]: 1 });
    out.push({ start: s.toMillis(), end: Math.min(n.toMillis(), end) });
    s = n;
  }
  return out;
}

function byPeriod(periods: Period[], zone: string) {
  return new Map(periods.map((p) => [DateTime.fromISO(p.time_period, { zone }).toMillis(), p]));
}

describe("every catalog metric", () => {
  it("matches the oracle per daily UTC bucket, served from the daily rollup", async () => {
    const { periods, plan } = await analytics({
      metrics: ALL_METRICS,
      from_date: "2026-03-01T00:00:00Z",
      to_date: "2026-03-11T00:00:00Z",
      frequency_unit: "day",
    });
    expect(plan).toBe("total_1d");
    expect(periods).toHaveLength(10);
    expect(periods[0]!.time_period).toBe("2026-03-10T00:00:00Z");
    const map = byPeriod(periods, "UTC");
    for (const b of localBuckets("2026-03-01T00:00:00Z", "2026-03-11T00:00:00Z", "UTC", "day")) {
      const p = map.get(b.start)!;
      expect(p.items).toHaveLength(1);
      expectMetricsMatch(p.items[0]!.data, inRange(all, b.start, b.end));
    }
  });

  it("gives the same answer from rollups and from raw rows (api_key group forces raw)", async () => {
    const body = {
      metrics: ALL_METRICS,
      from_date: "2026-03-02T00:00:00Z",
      to_date: "2026-03-04T00:00:00Z",
      frequency_unit: "hour",
    };
    const rolled = await analytics(body);
    expect(rolled.plan).toBe("total_1h");
    // data_source=prompt would filter rows; an unaligned from_date by 1 ms forces raw for everything instead.
    const rawRes = await analytics({ ...body, from_date: "2026-03-02T00:00:00.001Z", frequency_interval: 1 });
    expect(rawRes.plan).toBe("raw");
    const a = rolled.periods;
    const b = rawRes.periods;
    expect(b.length).toBe(a.length);
    for (let i = 0; i < a.length; i++) {
      const x = a[i]!.items[0]!.data;
      const y = b[i]!.items[0]!.data;
      for (const m of ALL_METRICS) {
        for (const [f, v] of Object.entries(x[m]!)) {
          if (f.startsWith("delta") || ["p50", "p90", "p95", "p99"].includes(f)) continue;
          // The first raw bucket misses one millisecond: no event falls in it in this dataset.
          expect(close(y[m]![f] as number, v as number, 1e-9)).toBe(true);
        }
      }
    }
  });

  it("serves a to_date between grain marks with rollups plus raw edges, exactly", async () => {
    const from = "2026-03-03T00:00:00Z";
    const to = "2026-03-06T13:47:12.345Z";
    const { periods, plan } = await analytics({
      metrics: ALL_METRICS,
      from_date: from,
      to_date: to,
      frequency_unit: "day",
    });
    expect(plan).toBe("total_1d+total_1h+raw");
    const map = byPeriod(periods, "UTC");
    for (const b of localBuckets(from, to, "UTC", "day"))
      expectMetricsMatch(map.get(b.start)!.items[0]!.data, inRange(all, b.start, b.end));
  });

  it("serves questions grouped or filtered by model alone from the per-model rollups, exactly", async () => {
    const from = "2026-03-02T00:00:00Z";
    const to = "2026-03-09T00:00:00Z";
    const byModel = await analytics({
      metrics: ALL_METRICS,
      from_date: from,
      to_date: to,
      frequency_unit: "day",
      group_by: ["model"],
    });
    expect(byModel.plan).toBe("model_1d");
    const buckets = localBuckets(from, to, "UTC", "day");
    expect(byModel.periods).toHaveLength(buckets.length);
    const models = new Set(inRange(all, Date.parse(from), Date.parse(to)).map((e) => e.d.model_id));
    for (const p of byModel.periods) {
      const s = Date.parse(p.time_period);
      expect(p.items).toHaveLength(models.size);
      for (const it of p.items)
        expectMetricsMatch(
          it.data,
          inRange(all, s, s + 86_400_000).filter((e) => e.d.model_id === it.model_id),
        );
    }
    // One model by id, hourly with a to_date between hours: per-model hours, then 5-minute and raw edges.
    const model = cat.models[2]!;
    const one = await analytics({
      metrics: ALL_METRICS,
      from_date: "2026-03-04T00:00:00Z",
      to_date: "2026-03-04T05:37:00Z",
      frequency_unit: "hour",
      filters: { model: model.id },
    });
    expect(one.plan).toBe("model_1h+raw");
    for (const p of one.periods) {
      const s = Date.parse(p.time_period);
      const end = Math.min(s + 3_600_000, Date.parse("2026-03-04T05:37:00Z"));
      expectMetricsMatch(
        p.items[0]!.data,
        inRange(all, s, end).filter((e) => e.d.model_id === model.id),
      );
    }
    // Any other dimension, in a filter or a group, goes back to the full rollup.
    const mixed = await analytics({
      metrics: ["request_count"],
      from_date: from,
      to_date: to,
      frequency_unit: "day",
      group_by: ["model"],
      filters: { project: cat.projects[0]!.id },
    });
    expect(mixed.plan).toBe("dims_1d");
  });

  it("computes peak concurrent requests from raw rows", async () => {
    const from = "2026-03-05T00:00:00Z";
    const to = "2026-03-08T00:00:00Z";
    const { periods, plan } = await analytics({
      metrics: ["concurrent_requests"],
      from_date: from,
      to_date: to,
      frequency_unit: "day",
    });
    expect(plan).toContain("raw(concurrency)");
    const map = byPeriod(periods, "UTC");
    for (const b of localBuckets(from, to, "UTC", "day")) {
      const expected = oraclePeak(all, b.start, b.end);
      expect(map.get(b.start)!.items[0]!.data.concurrent_requests).toMatchObject({
        peak: expected,
        avg: expected,
      });
    }
  });
});

describe("concurrency across bucket starts", () => {
  it("counts a request still running from an earlier bucket, and a zero-length request at its arrival", async () => {
    const { periods } = await analytics({
      metrics: ["concurrent_requests", "request_count"],
      from_date: "2026-11-05T00:00:00Z",
      to_date: "2026-11-05T06:00:00Z",
      frequency_unit: "hour",
      filters: { model: QUIET_MODEL },
    });
    const peaks = [...periods].reverse().map((p) => p.items[0]!.data.concurrent_requests!.peak);
    expect(peaks).toEqual([1, 1, 1, 1, 1, 0]);
    for (const p of periods) {
      const s = Date.parse(p.time_period);
      expect(p.items[0]!.data.concurrent_requests!.peak).toBe(
        oraclePeak(
          all.filter((e) => e.d.model_id === QUIET_MODEL),
          s,
          s + 3_600_000,
        ),
      );
    }
    const sparse = await analytics({
      metrics: ["concurrent_requests"],
      from_date: "2026-11-05T00:00:00Z",
      to_date: "2026-11-05T06:00:00Z",
      frequency_unit: "hour",
      filters: { model: QUIET_MODEL },
      fill_time_gaps: false,
    });
    expect(sparse.periods.map((p) => p.time_period).reverse()).toEqual([
      "2026-11-05T00:00:00Z",
      "2026-11-05T01:00:00Z",
      "2026-11-05T02:00:00Z",
      "2026-11-05T03:00:00Z",
      "2026-11-05T04:00:00Z",
    ]);
  });
});

describe("time zones and calendars", () => {
  it.each([
    ["America/New_York", "2026-03-06", "2026-03-11"],
    ["America/New_York", "2026-10-30", "2026-11-03"],
    ["Europe/Berlin", "2026-03-26", "2026-04-01"],
  ])(
    "daily buckets in %s from %s are DST-correct (23/25-hour days) and served by the hourly rollup",
    async (zone, from, to) => {
      const { periods, plan } = await analytics({
        metrics: ["request_count", "cost", "latency"],
        from_date: from,
        to_date: to,
        frequency_unit: "day",
        timezone: zone,
      });
      expect(plan).toBe("total_1h");
      const buckets = localBuckets(from, to, zone, "day");
      expect(periods).toHaveLength(buckets.length);
      const lengths = buckets.map((b) => (b.end - b.start) / 3_600_000);
      expect(lengths.some((h) => h !== 24)).toBe(true);
      const map = byPeriod(periods, zone);
      for (const b of buckets) {
        const p = map.get(b.start)!;
        expect(p).toBeDefined();
        const o = oracleStats(inRange(all, b.start, b.end));
        expect(p.items[0]!.data.request_count!.count).toBe(o.request_count.count);
        expect(close(p.items[0]!.data.cost!.sum as number, o.cost.sum)).toBe(true);
        expect(close(p.items[0]!.data.latency!.avg as number, o.latency.avg)).toBe(true);
      }
      // Labels carry the zone's offset at the bucket start.
      expect(periods.some((p) => p.time_period.endsWith("-04:00") || p.time_period.endsWith("+02:00"))).toBe(
        true,
      );
    },
  );

  it("hourly buckets across the New York spring-forward gap have no 02:00 hour", async () => {
    const { periods } = await analytics({
      metrics: ["request_count"],
      from_date: "2026-03-08T00:00:00",
      to_date: "2026-03-08T06:00:00",
      frequency_unit: "hour",
      timezone: "America/New_York",
    });
    expect(periods.map((p) => p.time_period).reverse()).toEqual([
      "2026-03-08T00:00:00-05:00",
      "2026-03-08T01:00:00-05:00",
      "2026-03-08T03:00:00-04:00",
      "2026-03-08T04:00:00-04:00",
      "2026-03-08T05:00:00-04:00",
    ]);
  });

  it("weekly buckets are ISO weeks starting Monday; monthly buckets are calendar months", async () => {
    const week = await analytics({
      metrics: ["request_count"],
      from_date: "2026-03-01",
      to_date: "2026-04-05",
      frequency_unit: "week",
      timezone: "Europe/Berlin",
    });
    const labels = week.periods.map((p) => DateTime.fromISO(p.time_period, { zone: "Europe/Berlin" }));
    expect(labels.every((d) => d.weekday === 1 && d.hour === 0)).toBe(true);
    const map = byPeriod(week.periods, "Europe/Berlin");
    const buckets = localBuckets("2026-03-01", "2026-04-05", "Europe/Berlin", "week");
    const from = DateTime.fromISO("2026-03-01", { zone: "Europe/Berlin" }).toMillis();
    for (const b of buckets) {
      expect(map.get(b.start)!.items[0]!.data.request_count!.count).toBe(
        inRange(all, Math.max(from, b.start), b.end).length,
      );
    }
    const month = await analytics({
      metrics: ["request_count"],
      time_range: { from_date: "2026-03-01T00:00:00Z", to_date: "2026-05-01T00:00:00Z" },
      interval: "monthly",
    });
    expect(month.plan).toBe("total_1d");
    expect(month.periods.map((p) => p.time_period)).toEqual(["2026-04-01T00:00:00Z", "2026-03-01T00:00:00Z"]);
    expect(month.periods[1]!.items[0]!.data.request_count!.count).toBe(
      inRange(all, Date.parse("2026-03-01T00:00:00Z"), Date.parse("2026-04-01T00:00:00Z")).length,
    );
  });

  it("custom intervals are aligned to from_date (3 days from 10:30, on the 5-minute rollup)", async () => {
    const from = Date.parse("2026-03-02T10:30:00Z");
    const to = Date.parse("2026-03-20T10:30:00Z");
    const { periods, plan } = await analytics({
      metrics: ["request_count", "input_token"],
      from_date: "2026-03-02T10:30:00Z",
      to_date: "2026-03-20T10:30:00Z",
      frequency_unit: "day",
      frequency_interval: 3,
    });
    expect(plan).toBe("dims_5m");
    expect(periods).toHaveLength(6);
    for (const p of periods) {
      const s = Date.parse(p.time_period);
      const e = Math.min(s + 3 * 86_400_000, to);
      expect(s >= from).toBe(true);
      expect(p.items[0]!.data.request_count!.count).toBe(inRange(all, s, e).length);
      expect(p.items[0]!.data.input_token!.count).toBe(oracleStats(inRange(all, s, e)).input_token.count);
    }
  });

  it("a :30 offset zone (Asia/Kolkata) is served exactly by the 5-minute rollup", async () => {
    const { periods, plan } = await analytics({
      metrics: ["request_count"],
      from_date: "2026-03-03",
      to_date: "2026-03-06",
      frequency_unit: "day",
      timezone: "Asia/Kolkata",
    });
    expect(plan).toBe("dims_5m");
    for (const b of localBuckets("2026-03-03", "2026-03-06", "Asia/Kolkata", "day")) {
      const p = byPeriod(periods, "Asia/Kolkata").get(b.start)!;
      expect(p.items[0]!.data.request_count!.count).toBe(inRange(all, b.start, b.end).length);
    }
  });
});

describe("groups, gaps, delta, comparison, top-k, filters", () => {
  const project = () => cat.projects[1]!;

  it("fills gaps over the whole range with a zero row for every group seen", async () => {
    const from = "2026-03-10T00:00:00Z";
    const to = "2026-03-11T00:00:00Z";
    const { periods } = await analytics({
      metrics: ["request_count", "latency"],
      from_date: from,
      to_date: to,
      frequency_unit: "hour",
      filters: { project: project().id },
      group_by: ["model", "endpoint"],
    });
    expect(periods).toHaveLength(24);
    const evs = inRange(all, Date.parse(from), Date.parse(to)).filter((e) => e.d.project_id === project().id);
    const groups = new Set(evs.map((e) => `${e.d.model_id}/${e.d.endpoint_id}`));
    expect(groups.size).toBeGreaterThan(0);
    let zeroRows = 0;
    for (const p of periods) {
      expect(p.items).toHaveLength(groups.size);
      for (const it of p.items) {
        const s = Date.parse(p.time_period);
        const n = evs.filter(
          (e) =>
            e.t >= s &&
            e.t < s + 3_600_000 &&
            e.d.model_id === it.model_id &&
            e.d.endpoint_id === it.endpoint_id,
        ).length;
        expect(it.data.request_count!.count).toBe(n);
        expect(typeof it.model_name).toBe("string");
        if (n === 0) {
          zeroRows++;
          expect(it.data.latency!.avg).toBe(0);
        }
      }
    }
    expect(zeroRows).toBeGreaterThan(0);
    const sparse = await analytics({
      metrics: ["request_count"],
      from_date: from,
      to_date: to,
      frequency_unit: "hour",
      filters: { project: project().id },
      group_by: ["model", "endpoint"],
      fill_time_gaps: false,
    });
    const rows = sparse.periods.flatMap((p) => p.items);
    expect(rows.every((r) => (r.data.request_count!.count as number) > 0)).toBe(true);
    expect(rows.reduce((s, r) => s + (r.data.request_count!.count as number), 0)).toBe(evs.length);
  });

  it("gives delta and delta_percent against the previous bucket as the original (first 0, from zero ±100 %)", async () => {
    const { periods } = await analytics({
      metrics: ["request_count", "latency"],
      from_date: "2026-03-10T00:00:00Z",
      to_date: "2026-03-10T12:00:00Z",
      frequency_unit: "hour",
      filters: { endpoint: cat.endpoints[2]!.name },
    });
    const oldestFirst = [...periods].reverse();
    expect(oldestFirst[0]!.items[0]!.data.request_count!.delta).toBe(0);
    expect(oldestFirst[0]!.items[0]!.data.request_count!.delta_percent).toBe(0);
    const r2 = (x: number) => Math.round(x * 100) / 100;
    for (let i = 1; i < oldestFirst.length; i++) {
      const cur = oldestFirst[i]!.items[0]!.data;
      const prev = oldestFirst[i - 1]!.items[0]!.data;
      const c = cur.request_count!.count as number;
      const p = prev.request_count!.count as number;
      expect(cur.request_count!.delta).toBe(c - p);
      expect(cur.request_count!.delta_percent).toEqual(
        p === 0 ? (c === 0 ? 0 : 100) : r2(((c - p) / p) * 100),
      );
      const l = cur.latency!.avg as number;
      const lp = prev.latency!.avg as number;
      expect(cur.latency!.delta).toBe(r2(l - lp));
    }
    expect(oldestFirst.some((p) => p.items[0]!.data.request_count!.count === 0)).toBe(true);
  });

  it("gives cost deltas exact to the nanodollar (Decimal(38, 9)), without float residue", async () => {
    const from = Date.parse("2026-03-02T00:00:00Z");
    const { periods } = await analytics({
      metrics: ["cost"],
      from_date: "2026-03-02T00:00:00Z",
      to_date: "2026-03-09T00:00:00Z",
      frequency_unit: "day",
    });
    // The oracle in integer nanodollars: every generated cost is a whole number of them.
    const nanos = (s: number) =>
      inRange(all, s, s + 86_400_000).reduce((n, e) => n + Math.round((e.d.cost ?? 0) * 1e9), 0);
    const oldestFirst = [...periods].reverse();
    expect(oldestFirst).toHaveLength(7);
    for (let i = 1; i < 7; i++) {
      const day = from + i * 86_400_000;
      expect(oldestFirst[i]!.items[0]!.data.cost!.delta).toBe((nanos(day) - nanos(day - 86_400_000)) / 1e9);
    }
  });

  it("compares with equal-length previous periods (seed shape)", async () => {
    const { periods } = await analytics({
      metrics: ["request_count"],
      time_range: { from_date: "2026-03-15T00:00:00Z", to_date: "2026-03-22T00:00:00Z" },
      interval: "daily",
      comparison: { type: "previous_period", periods: 2 },
    });
    expect(periods).toHaveLength(7);
    for (const p of periods) {
      const s = Date.parse(p.time_period);
      const obj = p.items[0]!.data.request_count! as {
        value: number;
        comparison: Array<Record<string, unknown>>;
      };
      expect(obj.value).toBe(inRange(all, s, s + 86_400_000).length);
      expect(obj.comparison).toHaveLength(2);
      for (const c of obj.comparison) {
        const k = c.period as number;
        const ps = s - k * 7 * 86_400_000;
        expect(c.time_period).toBe(new Date(ps).toISOString().replace(".000Z", "Z"));
        expect(c.value).toBe(inRange(all, ps, ps + 86_400_000).length);
        expect(c.change).toBe(obj.value - (c.value as number));
      }
    }
  });

  it("keeps the top-k groups ranked over the whole range by the first metric", async () => {
    const from = Date.parse("2026-03-01T00:00:00Z");
    const to = Date.parse("2026-03-15T00:00:00Z");
    const { periods } = await analytics({
      metrics: ["cost", "request_count"],
      from_date: "2026-03-01T00:00:00Z",
      to_date: "2026-03-15T00:00:00Z",
      frequency_unit: "week",
      group_by: ["endpoint"],
      topk: 3,
    });
    const totals = new Map<string, number>();
    for (const e of inRange(all, from, to))
      totals.set(e.d.endpoint_id, (totals.get(e.d.endpoint_id) ?? 0) + Math.round((e.d.cost ?? 0) * 1e9));
    const expected = [...totals.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 3)
      .map(([k]) => k)
      .sort();
    for (const p of periods) expect(p.items.map((i) => i.endpoint_id).sort()).toEqual(expected);
  });

  it("answers the top-k series of tuple groups exactly, also with a comparison period and over no data", async () => {
    const from = Date.parse("2026-03-08T00:00:00Z");
    const to = Date.parse("2026-03-15T00:00:00Z");
    const { periods } = await analytics({
      metrics: ["request_count", "latency"],
      from_date: "2026-03-08T00:00:00Z",
      to_date: "2026-03-15T00:00:00Z",
      frequency_unit: "day",
      group_by: ["cluster", "model"],
      topk: 4,
      comparison: { type: "previous_period", periods: 1 },
    });
    const key = (e: OracleEvent) => `${e.d.cluster_id}|${e.d.model_id}`;
    const counts = new Map<string, number>();
    for (const e of inRange(all, from, to)) counts.set(key(e), (counts.get(key(e)) ?? 0) + 1);
    const top = [...counts.entries()]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
      .slice(0, 4)
      .map(([k]) => k);
    expect(counts.size).toBeGreaterThan(4);
    for (const p of periods) {
      const s = Date.parse(p.time_period);
      expect(p.items.map((i) => `${i.cluster_id}|${i.model_id}`).sort()).toEqual([...top].sort());
      for (const it of p.items) {
        const k = `${it.cluster_id}|${it.model_id}`;
        const n = (a: number, b: number) => inRange(all, a, b).filter((e) => key(e) === k).length;
        expect(it.data.request_count!.count).toBe(n(s, s + 86_400_000));
        const cmp = (it.data.request_count as { comparison: Array<{ value: number }> }).comparison;
        expect(cmp[0]!.value).toBe(n(s - 7 * 86_400_000, s - 6 * 86_400_000));
      }
    }
    const empty = await analytics({
      metrics: ["request_count"],
      from_date: "2025-01-01T00:00:00Z",
      to_date: "2025-01-03T00:00:00Z",
      frequency_unit: "day",
      group_by: ["endpoint"],
      topk: 5,
    });
    expect(empty.periods.every((p) => p.items.length === 0)).toBe(true);
  });

  it("matches UUID filter values on id columns and other values on name columns", async () => {
    const m = cat.models[1]!;
    const body = {
      metrics: ["request_count"],
      from_date: "2026-03-01T00:00:00Z",
      to_date: "2026-03-05T00:00:00Z",
      frequency_unit: "day",
    };
    const byId = await analytics({ ...body, filters: { model: m.id.toUpperCase() } });
    const byName = await analytics({ ...body, filters: { model: [m.name] } });
    // A filter on exactly one id names it in the items (as the original); a name is not an id.
    const withoutModelId = (ps: Period[]) =>
      ps.map((p) => ({ ...p, items: p.items.map(({ model_id: _m, ...rest }) => rest) }));
    expect(byId.periods.every((p) => p.items[0]!.model_id === m.id)).toBe(true);
    expect(byName.periods.every((p) => p.items[0]!.model_id === null)).toBe(true);
    expect(withoutModelId(byName.periods)).toEqual(withoutModelId(byId.periods));
    const total = byId.periods.reduce((s, p) => s + (p.items[0]!.data.request_count!.count as number), 0);
    expect(total).toBe(
      inRange(all, Date.parse(body.from_date), Date.parse(body.to_date)).filter((e) => e.d.model_id === m.id)
        .length,
    );
    const cluster = await analytics({ ...body, filters: { cluster: "staging" } });
    const cTotal = cluster.periods.reduce((s, p) => s + (p.items[0]!.data.request_count!.count as number), 0);
    expect(cTotal).toBe(
      inRange(all, Date.parse(body.from_date), Date.parse(body.to_date)).filter(
        (e) => e.d.cluster_id === "staging",
      ).length,
    );
    const none = await analytics({ ...body, filters: { model: "no-such-model" } });
    expect(none.periods.every((p) => p.items[0]!.data.request_count!.count === 0)).toBe(true);
  });

  it("answers the seed README examples (names that match nothing give zero rows)", async () => {
    const basic = await analytics({
      metrics: ["request_count", "latency"],
      time_range: { from_date: "2024-01-01T00:00:00Z", to_date: "2024-01-31T23:59:59Z" },
      interval: "daily",
      filters: { model: "llama-2-7b", cluster: "production" },
    });
    expect(basic.periods).toHaveLength(31);
    expect(basic.periods[0]!.items[0]!.data.request_count!.value).toBe(0);
    const adv = await analytics({
      metrics: ["latency", "success_rate"],
      time_range: { from_date: "2026-03-15T00:00:00Z", to_date: "2026-03-15T23:59:59Z" },
      interval: "hourly",
      filters: { project: project().name },
      group_by: ["model", "endpoint"],
      aggregation: { type: "percentile", percentile: 95 },
      limit: 100,
    });
    const from = Date.parse("2026-03-15T00:00:00Z");
    for (const p of adv.periods) {
      const s = Date.parse(p.time_period);
      for (const it of p.items) {
        const evs = inRange(all, Math.max(s, from), s + 3_600_000).filter(
          (e) =>
            e.d.project_id === project().id &&
            e.d.model_id === it.model_id &&
            e.d.endpoint_id === it.endpoint_id,
        );
        const lat = evs.map((e) => e.d.response_time_ms).filter((x): x is number => x != null);
        expect(withinSketchError(lat, 0.95, it.data.latency!.value as number | null)).toBe(true);
        const o = oracleStats(evs);
        expect(close(it.data.success_rate!.value as number | null, o.success_request.rate)).toBe(true);
      }
    }
  });

  // Each question merges only the states it needs: a seed aggregation adds its own (min/max, the
  // extra percentile level merged with the standard ones in one pass), a comparison window and a
  // ranking merge the value's states alone. Every path against the oracle.
  it.each(["count", "sum", "avg", "min", "max", "percentile"] as const)(
    "answers seed aggregation %s of latency, ttft and queuing time, with comparison, per daily bucket",
    async (type) => {
      const { periods } = await analytics({
        metrics: ["latency", "ttft", "queuing_time"],
        time_range: { from_date: "2026-03-15T00:00:00Z", to_date: "2026-03-18T00:00:00Z" },
        interval: "daily",
        aggregation: { type, ...(type === "percentile" ? { percentile: 90 } : {}) },
        comparison: { type: "previous_period", periods: 1 },
      });
      expect(periods).toHaveLength(3);
      const values = (evs: OracleEvent[], m: string) =>
        evs
          .map((e) =>
            m === "latency"
              ? e.d.response_time_ms
              : m === "ttft"
                ? e.d.ttft_ms
                : Date.parse(e.d.request_forward_time) - e.t,
          )
          .filter((x): x is number => x != null);
      const check = (got: unknown, xs: number[], m: string) => {
        const sum = xs.reduce((a, b) => a + b, 0);
        if (type === "count") expect(got).toBe(xs.length);
        else if (type === "sum") expect(close(got as number, sum)).toBe(true);
        else if (type === "min") expect(got).toBe(xs.length ? Math.min(...xs) : null);
        else if (type === "max") expect(got).toBe(xs.length ? Math.max(...xs) : null);
        else if (type === "avg")
          expect(close(got as number | null, xs.length ? sum / xs.length : null)).toBe(true);
        // Queuing time has no percentile: its value stays the average.
        else if (m === "queuing_time")
          expect(close(got as number | null, xs.length ? sum / xs.length : null)).toBe(true);
        else expect(withinSketchError(xs, 0.9, got as number | null)).toBe(true);
      };
      for (const p of periods) {
        const s = Date.parse(p.time_period);
        for (const m of ["latency", "ttft", "queuing_time"]) {
          const obj = p.items[0]!.data[m]! as { value: unknown; comparison: Array<{ value: unknown }> };
          check(obj.value, values(inRange(all, s, s + 86_400_000), m), m);
          const ps = s - 3 * 86_400_000;
          check(obj.comparison[0]!.value, values(inRange(all, ps, ps + 86_400_000), m), m);
        }
        const lat = values(inRange(all, s, s + 86_400_000), "latency");
        const o = p.items[0]!.data.latency!;
        expect(withinSketchError(lat, 0.5, o.p50 as number | null)).toBe(true);
        expect(withinSketchError(lat, 0.99, o.p99 as number | null)).toBe(true);
      }
    },
  );

  it("ranks by the seed aggregation's value (p95 latency per model) and compares averages in the Bud shape", async () => {
    const from = Date.parse("2026-03-01T00:00:00Z");
    const to = Date.parse("2026-03-08T00:00:00Z");
    const { periods } = await analytics({
      metrics: ["latency"],
      time_range: { from_date: "2026-03-01T00:00:00Z", to_date: "2026-03-08T00:00:00Z" },
      interval: "daily",
      group_by: ["model"],
      aggregation: { type: "percentile", percentile: 95 },
      limit: 2,
    });
    const lat = (evs: OracleEvent[]) =>
      evs.map((e) => e.d.response_time_ms).filter((x): x is number => x != null);
    const models = [...new Set(inRange(all, from, to).map((e) => e.d.model_id))];
    const p95 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.ceil(0.95 * xs.length) - 1]!;
    const ranked = models
      .map((id) => ({ id, v: p95(lat(inRange(all, from, to).filter((e) => e.d.model_id === id))) }))
      .sort((a, b) => b.v - a.v);
    // Sketch values are within 1 %: the top two are certain only when the third is clearly lower.
    if (ranked[2] && ranked[1]!.v > ranked[2].v * 1.03) {
      for (const p of periods)
        expect(p.items.map((i) => i.model_id).sort()).toEqual([ranked[0]!.id, ranked[1]!.id].sort());
    }
    const bud = await analytics({
      metrics: ["latency", "cache_hit_rate"],
      from_date: "2026-03-15T00:00:00Z",
      to_date: "2026-03-17T00:00:00Z",
      frequency_unit: "day",
      comparison: { type: "previous_period", periods: 1 },
    });
    for (const p of bud.periods) {
      const s = Date.parse(p.time_period);
      const ps = s - 2 * 86_400_000;
      const l = p.items[0]!.data.latency! as { comparison: Array<{ value: number | null }> };
      expect(close(l.comparison[0]!.value, oracleStats(inRange(all, ps, ps + 86_400_000)).latency.avg)).toBe(
        true,
      );
      const c = p.items[0]!.data.cache_hit_rate! as {
        hit_rate: number;
        comparison: Array<{ value: number }>;
      };
      expect(
        close(c.comparison[0]!.value, oracleStats(inRange(all, ps, ps + 86_400_000)).cache.hit_rate),
      ).toBe(true);
    }
  });

  it("answers a metric-sample percentile aggregation with the standard percentiles from one merge", async () => {
    const { periods } = await analytics({
      metrics: ["gpu_utilization"],
      time_range: { from_date: "2026-03-01T00:00:00Z", to_date: "2026-03-04T00:00:00Z" },
      interval: "daily",
      aggregation: { type: "percentile", percentile: 75 },
    });
    for (const p of periods) {
      const s = Date.parse(p.time_period);
      const vals = samples
        .filter((x) => x.timeMs >= s && x.timeMs < s + 86_400_000 && x.data.metric_type === "gpu_utilization")
        .map((x) => x.data.value);
      const g = p.items[0]!.data.gpu_utilization!;
      expect(withinSketchError(vals, 0.75, g.value as number | null)).toBe(true);
      expect(withinSketchError(vals, 0.5, g.p50 as number | null)).toBe(true);
      expect(withinSketchError(vals, 0.99, g.p99 as number | null)).toBe(true);
    }
  });

  it("explains an answer on request: tiers per part, rows and bytes read, cache, step timings", async () => {
    const body = {
      metrics: ["request_count", "latency"],
      from_date: "2026-03-01T00:00:00Z",
      to_date: "2026-03-03T00:00:07Z",
      frequency_unit: "day",
    };
    const plain = await app.post("/observability/analytics", body);
    expect(plain.body.meta).toBeUndefined();
    expect(plain.headers.get("server-timing")).toMatch(/parse;dur=[\d.]+, .*plan;dur=.*run;dur=.*shape;dur=/);
    const res = await app.post("/observability/analytics?explain=1", body);
    expect(res.status).toBe(200);
    const { meta, ...answer } = res.body as { meta: Record<string, unknown> };
    expect(answer).toEqual(plain.body);
    expect(meta.plan).toBe("total_1d+raw");
    const statements = meta.statements as Array<Record<string, unknown>>;
    // The Bud shape first asks whether prompt traffic is in range (data_source inference leaves it out).
    expect(statements.map((x) => x.label)).toEqual(["bud_analytics.prompt_presence", "main.states"]);
    const states = statements[1]!;
    expect(states.parts).toEqual([
      { tier: "total_1d", from: "2026-03-01T00:00:00.000Z", to: "2026-03-03T00:00:00.000Z" },
      { tier: "raw", from: "2026-03-03T00:00:00.000Z", to: "2026-03-03T00:00:07.000Z" },
    ]);
    expect(states.result_rows).toBe(2);
    expect(meta.rows_read).toBeGreaterThan(0);
    expect(meta.bytes_read).toBeGreaterThan(0);
    // The plain request just stored this answer: a plain repeat would be a hit.
    expect(meta.cache).toBe("hit");
    expect(Object.keys(meta.timings_ms as object)).toEqual(
      expect.arrayContaining(["parse", "plan", "run", "shape", "serialise", "engine", "total"]),
    );
  });

  it("answers metric-sample names with count, sum, avg, min, max and percentiles", async () => {
    const from = Date.parse("2026-03-01T00:00:00Z");
    const to = Date.parse("2026-03-10T00:00:00Z");
    const { periods } = await analytics({
      metrics: ["gpu_utilization", "queue_depth"],
      time_range: { from_date: "2026-03-01T00:00:00Z", to_date: "2026-03-10T00:00:00Z" },
      interval: "daily",
      group_by: ["model"],
      aggregation: { type: "max" },
    });
    for (const p of periods) {
      const s = Date.parse(p.time_period);
      for (const it of p.items) {
        const vals = samples
          .filter((x) => x.timeMs >= s && x.timeMs < s + 86_400_000 && x.timeMs >= from && x.timeMs < to)
          .filter((x) => x.data.metric_type === "gpu_utilization" && x.data.model === it.model)
          .map((x) => x.data.value);
        const g = it.data.gpu_utilization!;
        expect(g.count).toBe(vals.length);
        if (vals.length) {
          expect(
            close(
              g.sum as number,
              vals.reduce((a, b) => a + b, 0),
            ),
          ).toBe(true);
          expect(g.max).toBe(Math.max(...vals));
          expect(g.min).toBe(Math.min(...vals));
          expect(g.value).toBe(Math.max(...vals));
          expect(withinSketchError(vals, 0.9, g.p90 as number)).toBe(true);
        }
      }
    }
  });
});
