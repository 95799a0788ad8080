import { loadMigrations } from "@budmetrics/clickhouse";
import {
  INFERENCE_ROLLUP_KEYS,
  INFERENCE_ROLLUP_STATES,
  SAMPLE_ROLLUP_STATES,
  INFERENCE_ROLLUP_TIERS,
  renderInferenceRollupDdl,
  INFERENCE_ROLLUP_TABLE_SETTINGS,
  QUANTILE_RELATIVE_ACCURACY,
  Tables,
  type InferenceData,
  type RollupTier,
} from "@budmetrics/schema";
import { createCatalogue, generateInferences, generateSamples } from "../support/generate";
import { openTestEngine, type TestEngine } from "../support/engine";
import { createTestWriter, prepareSample, writeInferences } from "../support/load";

/**
 * Rollups against an oracle computed here, in plain TypeScript, from the generated input — and
 * against the raw table. Daily groups per model over three days, merged from each grain.
 */
let engine: TestEngine;
const catalogue = createCatalogue(7, { models: 4, projects: 3, endpoints: 9 });
const start = Date.UTC(2026, 2, 1, 0, 0, 0);
const events: InferenceData[] = [
  ...generateInferences({
    seed: 21,
    count: 12_000,
    startMs: start,
    endMs: start + 3 * 86_400_000,
    catalogue,
  }),
];
const QS = [0.5, 0.9, 0.95, 0.99] as const;

beforeAll(async () => {
  engine = await openTestEngine("rollups");
  await writeInferences(createTestWriter(engine.ch), events, 5_000);
});
afterAll(() => engine.close());

interface Oracle {
  count: number;
  success: number;
  cached: number;
  input: number;
  output: number;
  queuingSum: number;
  queuingMin: number;
  queuingMax: number;
  costNano: bigint;
  latencies: number[];
  ttfts: number[];
}

function oracle(): Map<string, Oracle> {
  const m = new Map<string, Oracle>();
  for (const e of events) {
    const key = `${e.request_arrival_time.slice(0, 10)}|${e.model_id}`;
    let o = m.get(key);
    if (!o) {
      o = {
        count: 0,
        success: 0,
        cached: 0,
        input: 0,
        output: 0,
        queuingSum: 0,
        queuingMin: Infinity,
        queuingMax: -Infinity,
        costNano: 0n,
        latencies: [],
        ttfts: [],
      };
      m.set(key, o);
    }
    const q = Date.parse(e.request_forward_time) - Date.parse(e.request_arrival_time);
    o.count++;
    if (e.is_success) o.success++;
    if (e.cached) o.cached++;
    o.input += e.input_tokens ?? 0;
    o.output += e.output_tokens ?? 0;
    o.queuingSum += q;
    o.queuingMin = Math.min(o.queuingMin, q);
    o.queuingMax = Math.max(o.queuingMax, q);
    o.costNano += BigInt(Math.round((e.cost ?? 0) * 1e9));
    if (e.response_time_ms != null) o.latencies.push(e.response_time_ms);
    if (e.ttft_ms != null) o.ttfts.push(e.ttft_ms);
  }
  for (const o of m.values()) {
    o.latencies.sort((a, b) => a - b);
    o.ttfts.sort((a, b) => a - b);
  }
  return m;
}

interface Row {
  day: string;
  model_id: string;
  request_count: number;
  success_count: number;
  cached_count: number;
  input_tokens: number;
  output_tokens: number;
  queuing_sum: number;
  queuing_min: number;
  queuing_max: number;
  cost: string;
  latency_count: number;
  latency_avg: number;
  latency_min: number;
  latency_max: number;
  latency_q: number[];
  ttft_avg: number;
  ttft_q: number[];
}

const tierWhere = (t: RollupTier) => `grain = '${t.grain}' AND level = '${t.level}'`;
const rollupSql = (t: RollupTier) => `
  SELECT toString(toDate(bucket_start)) AS day, toString(model_id) AS model_id,
         sum(request_count) AS request_count, sum(success_count) AS success_count, sum(cached_count) AS cached_count,
         sum(input_tokens_sum) AS input_tokens, sum(output_tokens_sum) AS output_tokens,
         sum(queuing_ms_sum) AS queuing_sum, min(queuing_ms_min) AS queuing_min, max(queuing_ms_max) AS queuing_max,
         toString(sum(cost_sum)) AS cost,
         sum(latency_count) AS latency_count, sum(latency_sum) / sum(latency_count) AS latency_avg,
         min(latency_min) AS latency_min, max(latency_max) AS latency_max,
         quantilesDDMerge(0.01, 0.5, 0.9, 0.95, 0.99)(latency_q) AS latency_q,
         sum(ttft_sum) / sum(ttft_count) AS ttft_avg,
         quantilesDDMerge(0.01, 0.5, 0.9, 0.95, 0.99)(ttft_q) AS ttft_q
  FROM ${engine.ch.database}.${Tables.inferenceRollup} WHERE ${tierWhere(t)}
  GROUP BY day, model_id ORDER BY day, model_id
  SETTINGS prefer_column_name_to_alias = 1`;

const rawSql = () => `
  SELECT toString(toDate(request_arrival_time)) AS day, toString(model_id) AS model_id,
         count() AS request_count, countIf(is_success) AS success_count, countIf(cached) AS cached_count,
         sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
         sum(toUnixTimestamp64Milli(request_forward_time) - toUnixTimestamp64Milli(request_arrival_time)) AS queuing_sum,
         min(toUnixTimestamp64Milli(request_forward_time) - toUnixTimestamp64Milli(request_arrival_time)) AS queuing_min,
         max(toUnixTimestamp64Milli(request_forward_time) - toUnixTimestamp64Milli(request_arrival_time)) AS queuing_max,
         toString(sum(ifNull(cost, toDecimal64(0, 9)))) AS cost,
         count(response_time_ms) AS latency_count, avg(response_time_ms) AS latency_avg,
         min(response_time_ms) AS latency_min, max(response_time_ms) AS latency_max,
         quantilesDD(0.01, 0.5, 0.9, 0.95, 0.99)(response_time_ms) AS latency_q,
         avg(ttft_ms) AS ttft_avg,
         quantilesDD(0.01, 0.5, 0.9, 0.95, 0.99)(ttft_ms) AS ttft_q
  FROM ${engine.ch.database}.${Tables.inferenceEvents} FINAL
  GROUP BY day, model_id ORDER BY day, model_id`;

function nanoToString(n: bigint): string {
  const s = n.toString().padStart(10, "0");
  return `${s.slice(0, -9)}.${s.slice(-9)}`.replace(/\.?0+$/, "");
}

function expectQuantileWithinError(value: number, sorted: number[], q: number) {
  // DDSketch: the answer is within the relative accuracy of an order statistic at (or next to) the rank.
  const rank = q * (sorted.length - 1);
  const lo = sorted[Math.max(0, Math.floor(rank) - 1)]!;
  const hi = sorted[Math.min(sorted.length - 1, Math.ceil(rank) + 1)]!;
  expect(value).toBeGreaterThanOrEqual(lo * (1 - QUANTILE_RELATIVE_ACCURACY));
  expect(value).toBeLessThanOrEqual(hi * (1 + QUANTILE_RELATIVE_ACCURACY));
}

function checkAgainstOracle(rows: Row[]) {
  const expected = oracle();
  expect(rows.map((r) => `${r.day}|${r.model_id}`).sort()).toEqual([...expected.keys()].sort());
  for (const r of rows) {
    const o = expected.get(`${r.day}|${r.model_id}`)!;
    expect(Number(r.request_count)).toBe(o.count);
    expect(Number(r.success_count)).toBe(o.success);
    expect(Number(r.cached_count)).toBe(o.cached);
    expect(Number(r.input_tokens)).toBe(o.input);
    expect(Number(r.output_tokens)).toBe(o.output);
    expect(Number(r.queuing_sum)).toBe(o.queuingSum);
    expect(Number(r.queuing_min)).toBe(o.queuingMin);
    expect(Number(r.queuing_max)).toBe(o.queuingMax);
    expect(r.cost.replace(/\.?0+$/, "")).toBe(nanoToString(o.costNano));
    expect(Number(r.latency_count)).toBe(o.latencies.length);
    const avg = o.latencies.reduce((a, b) => a + b, 0) / o.latencies.length;
    expect(r.latency_avg).toBeCloseTo(avg, 6);
    expect(r.latency_min).toBe(o.latencies[0]);
    expect(r.latency_max).toBe(o.latencies[o.latencies.length - 1]);
    expect(r.ttft_avg).toBeCloseTo(o.ttfts.reduce((a, b) => a + b, 0) / o.ttfts.length, 6);
    QS.forEach((q, i) => {
      expectQuantileWithinError(r.latency_q[i]!, o.latencies, q);
      expectQuantileWithinError(r.ttft_q[i]!, o.ttfts, q);
    });
  }
}

describe("the rollup declaration (packages/schema rollups.ts)", () => {
  it("is the table the engine holds: every column, its type and order", async () => {
    const cols = await engine.ch.query<{ name: string; type: string }>(
      "SELECT name, type FROM system.columns WHERE database = {db:String} AND table = {t:String} ORDER BY position",
      { db: engine.ch.database, t: Tables.inferenceRollup },
    );
    expect(cols.map((c) => [c.name, c.type])).toEqual([
      ["grain", "Enum8('5m' = 1, '1h' = 2, '1d' = 3)"],
      ["level", "Enum8('dims' = 1, 'model' = 2, 'total' = 3)"],
      ["bucket_start", "DateTime('UTC')"],
      ...INFERENCE_ROLLUP_KEYS.map((k) => [k.column, k.type]),
      ...Object.values(INFERENCE_ROLLUP_STATES).map((st) => [st.column, st.type]),
    ]);
  });

  it("declares the metric-sample rollups' states as each grain's table holds them", async () => {
    for (const table of Object.values(Tables.sampleRollup)) {
      const cols = await engine.ch.query<{ name: string; type: string }>(
        "SELECT name, type FROM system.columns WHERE database = {db:String} AND table = {t:String} ORDER BY position",
        { db: engine.ch.database, t: table },
      );
      expect(cols.slice(-5).map((c) => [c.name, c.type])).toEqual(
        Object.values(SAMPLE_ROLLUP_STATES).map((st) => [st.column, st.type]),
      );
    }
  });

  it("was rendered into migrations/0014 and 0015 as it stands (change it through a new migration)", () => {
    const all = loadMigrations();
    // 0014 creates the table under a temporary name and renames it; 0015 creates the view.
    expect(all.find((m) => m.version === 14)!.source).toContain(
      renderInferenceRollupDdl("inference_rollup_next").table,
    );
    expect(all.find((m) => m.version === 15)!.source).toContain(renderInferenceRollupDdl().view);
  });

  it("holds the table settings it declares", async () => {
    const [t] = await engine.ch.query<{ engine_full: string }>(
      "SELECT engine_full FROM system.tables WHERE database = {db:String} AND name = {t:String}",
      { db: engine.ch.database, t: Tables.inferenceRollup },
    );
    const settings = /SETTINGS (.*)$/.exec(t!.engine_full)?.[1] ?? "";
    expect(settings).toBe(
      Object.entries(INFERENCE_ROLLUP_TABLE_SETTINGS)
        .map(([k, v]) => `${k} = ${v}`)
        .join(", "),
    );
    // And the engine keeps to it: a part's granules hold at most index_granularity rows (plus a final
    // mark in wide parts).
    const parts = await engine.ch.query<{ rows: number | string; marks: number | string }>(
      "SELECT rows, marks FROM system.parts WHERE database = {db:String} AND table = {t:String} AND active AND rows > 0",
      { db: engine.ch.database, t: Tables.inferenceRollup },
    );
    expect(parts.length).toBeGreaterThan(0);
    for (const p of parts)
      expect(Number(p.marks)).toBeGreaterThanOrEqual(
        Math.ceil(Number(p.rows) / INFERENCE_ROLLUP_TABLE_SETTINGS.index_granularity),
      );
  });
});

describe("rollups agree with the oracle and with the raw table", () => {
  it("raw table (FINAL) matches the oracle", async () => {
    checkAgainstOracle(await engine.ch.query<Row>(rawSql()));
  });

  it.each(
    INFERENCE_ROLLUP_TIERS.filter((t) => t.level !== "total").map(
      (t) => [`${t.grain} ${t.level}`, t] as const,
    ),
  )("%s rollup matches the oracle and the raw answer", async (_name, tier) => {
    const rolled = await engine.ch.query<Row>(rollupSql(tier));
    checkAgainstOracle(rolled);
    const raw = await engine.ch.query<Row>(rawSql());
    // Exact columns equal the raw answer exactly; float averages up to summation order.
    const rawByKey = new Map(raw.map((r) => [`${r.day}|${r.model_id}`, r]));
    expect(rolled).toHaveLength(raw.length);
    for (const a of rolled) {
      const b = rawByKey.get(`${a.day}|${a.model_id}`)!;
      for (const k of [
        "request_count",
        "success_count",
        "cached_count",
        "input_tokens",
        "output_tokens",
        "queuing_sum",
        "queuing_min",
        "queuing_max",
        "cost",
        "latency_count",
        "latency_min",
        "latency_max",
      ] as const) {
        expect([k, Number(a[k])]).toEqual([k, Number(b[k])]);
      }
      expect(a.latency_avg).toBeCloseTo(b.latency_avg, 6);
    }
  });

  it.each(INFERENCE_ROLLUP_TIERS.filter((t) => t.level === "total").map((t) => [t.grain, t] as const))(
    "%s totals (no dimensions) match the oracle summed over models",
    async (_g, tier) => {
      const rows = await engine.ch.query<{
        day: string;
        n: number;
        out: number;
        lat_n: number;
        lmax: number;
        q: number[];
      }>(
        `SELECT toString(toDate(bucket_start)) AS day, sum(request_count) AS n, sum(output_tokens_sum) AS out,
                sum(latency_count) AS lat_n, max(latency_max) AS lmax,
                quantilesDDMerge(0.01, 0.5, 0.9, 0.95, 0.99)(latency_q) AS q
         FROM ${engine.ch.database}.${Tables.inferenceRollup} WHERE ${tierWhere(tier)} GROUP BY day ORDER BY day`,
      );
      const days = new Map<string, { n: number; out: number; lat: number[] }>();
      for (const [key, o] of oracle()) {
        const d = days.get(key.split("|")[0]!) ?? { n: 0, out: 0, lat: [] };
        d.n += o.count;
        d.out += o.output;
        d.lat.push(...o.latencies);
        days.set(key.split("|")[0]!, d);
      }
      expect(rows.map((r) => r.day)).toEqual([...days.keys()].sort());
      for (const r of rows) {
        const d = days.get(r.day)!;
        d.lat.sort((a, b) => a - b);
        expect([Number(r.n), Number(r.out), Number(r.lat_n), r.lmax]).toEqual([
          d.n,
          d.out,
          d.lat.length,
          d.lat[d.lat.length - 1],
        ]);
        QS.forEach((q, i) => expectQuantileWithinError(r.q[i]!, d.lat, q));
      }
    },
  );

  it("sample rollups match an oracle of count, sum, min and max per metric and hour", async () => {
    const hourStart = Date.UTC(2026, 2, 5);
    const samples = [
      ...generateSamples({ seed: 31, count: 3_000, startMs: hourStart, endMs: hourStart + 6 * 3_600_000 }),
    ];
    await createTestWriter(engine.ch).write(
      "sample",
      samples.map((s) => prepareSample(s)),
    );
    const expected = new Map<string, { n: number; sum: number; min: number; max: number }>();
    for (const s of samples) {
      const key = `${Math.floor(s.timeMs / 3_600_000) * 3_600_000}|${s.data.metric_type}`;
      const e = expected.get(key) ?? { n: 0, sum: 0, min: Infinity, max: -Infinity };
      e.n++;
      e.sum += s.data.value;
      e.min = Math.min(e.min, s.data.value);
      e.max = Math.max(e.max, s.data.value);
      expected.set(key, e);
    }
    for (const table of Object.values(Tables.sampleRollup).slice(0, 2)) {
      const rows = await engine.ch.query<{
        h: number;
        metric_type: string;
        n: number;
        s: number;
        mn: number;
        mx: number;
      }>(
        `SELECT toUnixTimestamp(toStartOfHour(bucket_start)) * 1000 AS h, metric_type, sum(sample_count) AS n,
                sum(value_sum) AS s, min(value_min) AS mn, max(value_max) AS mx
         FROM ${engine.ch.database}.${table} GROUP BY h, metric_type`,
      );
      expect(rows).toHaveLength(expected.size);
      for (const r of rows) {
        const e = expected.get(`${r.h}|${r.metric_type}`)!;
        expect(Number(r.n)).toBe(e.n);
        expect(r.s).toBeCloseTo(e.sum, 6);
        expect(r.mn).toBe(e.min);
        expect(r.mx).toBe(e.max);
      }
    }
  });
});
