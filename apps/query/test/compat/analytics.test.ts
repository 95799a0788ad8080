/**
 * POST /observability/analytics as the Bud stack sends it, against a plain-TS oracle over generated
 * events: frequency_unit's default, prompt traffic left out by default, the original's date rules, ids,
 * zeros for empty buckets and deltas; 422s in FastAPI's form; answers read by the caller's schema.
 */
import fs from "node:fs";
import path from "node:path";
import Ajv2020 from "ajv/dist/2020";
import addFormats from "ajv-formats";
import type { InferenceData } from "@budmetrics/schema";
import { openTestEngine, type TestEngine } from "../../../../test/support/engine";
import { close, loadInferences, loadSamples, startApp, type Reply, type RunningApp } from "../helpers";
import { IDS, makeEvents, NOW, START } from "./data";

interface Ev {
  t: number;
  d: InferenceData;
}

/** An item of the answer as budadmin reads it. */
interface BudItem {
  model_id: string | null;
  project_id: string | null;
  endpoint_id: string | null;
  api_key_id: string | null;
  data: Record<
    "request_count" | "latency" | "cache" | "queuing_time" | "success_request" | "gpu.util",
    Record<string, number | null>
  >;
}
interface BudPeriod {
  time_period: string;
  items: BudItem[];
}

const DAY = 86_400_000;
/** Three empty days before the data starts, then seven with data. */
const FROM_MS = START - 3 * DAY;
const TO_MS = START + 7 * DAY;
const FROM = new Date(FROM_MS).toISOString();
const TO = new Date(TO_MS).toISOString();
const SCHEMA = path.join(
  __dirname,
  "fixtures/schemas/observability-analytics__budapp-proxy-analytics-request.schema.json",
);

let engine: TestEngine;
let app: RunningApp;
let all: Ev[];
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
const callerModel = ajv.compile(JSON.parse(fs.readFileSync(SCHEMA, "utf8")) as object);

beforeAll(async () => {
  engine = await openTestEngine("compat_bud_analytics");
  const events = makeEvents(21, 3000, START, START + 10 * DAY);
  await loadInferences(engine.ch, events);
  await loadSamples(engine.ch, [
    { id: "s1", timeMs: START + DAY, data: { metric_type: "gpu.util", value: 0.5 } },
  ]);
  all = events.map((d) => ({ t: Date.parse(d.request_arrival_time), d }));
  app = await startApp(engine.ch, { nowMs: NOW });
}, 120_000);

afterAll(async () => {
  await app?.close();
  await engine?.close();
});

/** budadmin's body: every field it sends, nulls included. */
function body(over: Record<string, unknown>) {
  return {
    metrics: ["request_count"],
    from_date: FROM,
    to_date: TO,
    frequency_interval: null,
    filters: null,
    group_by: null,
    return_delta: true,
    fill_time_gaps: true,
    topk: null,
    ...over,
  };
}

const isPrompt = (e: Ev) => !!e.d.prompt_id;
const days = Array.from({ length: 10 }, (_, i) => FROM_MS + i * DAY);
const inDay = (e: Ev, start: number) => e.t >= start && e.t < start + DAY;
const avgOr0 = (xs: number[]) => (xs.length ? xs.reduce((s, x) => s + x, 0) / xs.length : 0);
const round2 = (x: number) => Math.round(x * 100) / 100;

/** The original's delta rules over a series, oldest first. */
function deltas(values: number[]) {
  return values.map((v, i) => {
    const p = i === 0 ? v : values[i - 1]!;
    const delta = v - p;
    const pct = p !== 0 ? (delta / p) * 100 : delta === 0 ? 0 : delta > 0 ? 100 : -100;
    return { delta: round2(delta), delta_percent: round2(pct) };
  });
}

function oldestFirst(res: Reply) {
  return [...(res.body.items as Array<{ time_period: string; items: BudItem[] }>)].reverse();
}

function expectCallerAccepts(res: Reply) {
  expect(res.status).toBe(200);
  expect(callerModel(res.body) ? [] : callerModel.errors).toEqual([]);
}

describe("POST /observability/analytics (Bud stack shape)", () => {
  it("defaults frequency_unit to day, leaves out prompt traffic, answers 0 for empty buckets and the original's deltas", async () => {
    const res = await app.post(
      "/observability/analytics",
      body({ metrics: ["request_count", "latency", "cache", "queuing_time", "success_request"] }),
    );
    expectCallerAccepts(res);
    const periods = oldestFirst(res);
    expect(periods.map((p) => Date.parse(p.time_period))).toEqual(days);
    const evs = all.filter((e) => !isPrompt(e));
    const counts = days.map((d) => evs.filter((e) => inDay(e, d)).length);
    const lat = days.map((d) =>
      avgOr0(
        evs.filter((e) => inDay(e, d) && e.d.response_time_ms != null).map((e) => e.d.response_time_ms!),
      ),
    );
    const hit = days.map((d, i) =>
      counts[i] ? (evs.filter((e) => inDay(e, d) && e.d.cached).length * 100) / counts[i]! : 0,
    );
    const dc = deltas(counts);
    const dl = deltas(lat);
    expect(counts.slice(0, 3)).toEqual([0, 0, 0]);
    periods.forEach((p, i) => {
      expect(p.items).toHaveLength(1);
      const it = p.items[0]!;
      expect([it.model_id, it.project_id, it.endpoint_id, it.api_key_id]).toEqual([null, null, null, null]);
      expect(it.data.request_count).toMatchObject({ count: counts[i], ...dc[i] });
      expect(close(it.data.latency.avg, lat[i]!, 1e-9)).toBe(true);
      expect(it.data.latency.delta).toBeCloseTo(dl[i]!.delta, 1);
      expect(close(it.data.cache.hit_rate, hit[i]!, 1e-9)).toBe(true);
      if (counts[i] === 0) {
        expect(it.data.latency).toMatchObject({ avg: 0, delta: 0 });
        expect(it.data.cache).toMatchObject({ hit_rate: 0, hit_count: 0 });
        expect(it.data.queuing_time.avg_time_ms).toBe(0);
        expect(it.data.success_request.rate).toBe(0);
      }
    });
    // The first bucket with data after empty ones: +100 %.
    expect(periods[3]!.items[0]!.data.request_count).toMatchObject({ delta: counts[3], delta_percent: 100 });
  });

  it("data_source prompt keeps only prompt traffic", async () => {
    const res = await app.post(
      "/observability/analytics",
      body({ data_source: "prompt", frequency_unit: "day" }),
    );
    expectCallerAccepts(res);
    const counts = days.map((d) => all.filter((e) => isPrompt(e) && inDay(e, d)).length);
    expect(oldestFirst(res).map((p) => p.items[0]!.data.request_count.count)).toEqual(counts);
  });

  it("grouped by model: the model's id, the other ids null, a series per model with its own deltas", async () => {
    const res = await app.post(
      "/observability/analytics",
      body({ group_by: ["model"], frequency_unit: "day" }),
    );
    expectCallerAccepts(res);
    const models = [...new Set(all.map((e) => e.d.model_id))].sort();
    const periods = oldestFirst(res);
    for (const m of models) {
      const counts = days.map(
        (d) => all.filter((e) => !isPrompt(e) && e.d.model_id === m && inDay(e, d)).length,
      );
      const dc = deltas(counts);
      periods.forEach((p, i) => {
        const found = p.items.find((x) => x.model_id === m);
        const want = { count: counts[i], ...dc[i] };
        if (counts[i] === 0 && !found) return;
        const it = found!;
        expect([it.project_id, it.endpoint_id, it.api_key_id]).toEqual([null, null, null]);
        expect(it.data.request_count).toMatchObject(want);
      });
    }
  });

  it("grouped by user_project: one series per key project, each with its own deltas", async () => {
    const res = await app.post(
      "/observability/analytics",
      body({ group_by: ["user_project"], frequency_unit: "day" }),
    );
    expectCallerAccepts(res);
    const periods = oldestFirst(res);
    const projects = [...new Set(all.map((e) => e.d.api_key_project_id ?? null))];
    expect(projects.length).toBeGreaterThan(2);
    for (const p of projects) {
      const counts = days.map(
        (d) =>
          all.filter((e) => !isPrompt(e) && (e.d.api_key_project_id ?? null) === p && inDay(e, d)).length,
      );
      const dc = deltas(counts);
      periods.forEach((period, i) => {
        const it = period.items.find(
          (x) => (x as unknown as { api_key_project_id: string | null }).api_key_project_id === p,
        );
        if (!it) {
          expect(counts[i]).toBe(0);
          return;
        }
        expect(it.data.request_count).toMatchObject({ count: counts[i], ...dc[i] });
      });
    }
  });

  it("grouped by api_key: requests without a key form a group whose api_key_id is null", async () => {
    const res = await app.post(
      "/observability/analytics",
      body({ group_by: ["api_key"], frequency_unit: "week", frequency_interval: 2 }),
    );
    expectCallerAccepts(res);
    const items = res.body.items.flatMap((p: { items: BudItem[] }) => p.items);
    const noKey = all.filter((e) => !isPrompt(e) && e.d.api_key_id == null && e.t >= FROM_MS && e.t < TO_MS);
    expect(noKey.length).toBeGreaterThan(0);
    const got = items
      .filter((x: BudItem) => x.api_key_id === null)
      .reduce((s: number, x: BudItem) => s + x.data.request_count!.count!, 0);
    expect(got).toBe(noKey.length);
    expect(items.some((x: BudItem) => x.api_key_id === "00000000-0000-0000-0000-000000000000")).toBe(false);
  });

  it("without group_by, a filter on one project names it in every item", async () => {
    const p1 = IDS.projects[0];
    const res = await app.post(
      "/observability/analytics",
      body({ filters: { project: [p1] }, frequency_unit: "day" }),
    );
    expectCallerAccepts(res);
    const counts = days.map(
      (d) => all.filter((e) => !isPrompt(e) && e.d.project_id === p1 && inDay(e, d)).length,
    );
    const periods = oldestFirst(res);
    expect(periods.map((p) => p.items[0]!.project_id)).toEqual(days.map(() => p1));
    expect(periods.map((p) => p.items[0]!.data.request_count!.count)).toEqual(counts);
    const two = await app.post(
      "/observability/analytics",
      body({ filters: { project: [p1, IDS.projects[1]] }, frequency_unit: "day" }),
    );
    expect(two.body.items[0].items[0].project_id).toBeNull();
  });

  it("accepts to_date == from_date: the requests of that instant", async () => {
    const e = all.find((x) => !isPrompt(x) && all.filter((y) => y.t === x.t).length === 1)!;
    const at = new Date(e.t).toISOString();
    const res = await app.post(
      "/observability/analytics",
      body({ from_date: at, to_date: at, frequency_unit: "hour" }),
    );
    expectCallerAccepts(res);
    expect(res.body.items).toHaveLength(1);
    expect(res.body.items[0].items[0].data.request_count).toMatchObject({
      count: 1,
      delta: 0,
      delta_percent: 0,
    });
  });

  it("refuses a to_date more than one day ahead, and one before from_date, in FastAPI's form", async () => {
    const ahead = await app.post(
      "/observability/analytics",
      body({ from_date: FROM, to_date: new Date(NOW + DAY + 60_000).toISOString() }),
    );
    expect(ahead.status).toBe(422);
    expect(ahead.body.detail).toEqual([
      {
        loc: ["body", "to_date"],
        msg: "Value error, to_date cannot be more than 1 day in the future",
        type: "value_error",
      },
    ]);
    const within = await app.post(
      "/observability/analytics",
      body({
        from_date: new Date(NOW - DAY).toISOString(),
        to_date: new Date(NOW + DAY - 60_000).toISOString(),
      }),
    );
    expect(within.status).toBe(200);
    const before = await app.post(
      "/observability/analytics",
      body({ to_date: new Date(FROM_MS - 1).toISOString() }),
    );
    expect(before.status).toBe(422);
    expect(before.body.detail[0]).toMatchObject({
      loc: ["body", "to_date"],
      msg: "Value error, to_date must be after from_date",
    });
    expect(before.body.error.code).toBe("QUERY_RANGE_INVALID");
  });

  it("an unknown metric is a 422 naming it; a stored metric-sample name answers", async () => {
    const typo = await app.post("/observability/analytics", body({ metrics: ["request_count", "latncy"] }));
    expect(typo.status).toBe(422);
    expect(typo.body.detail[0].loc).toEqual(["body", "metrics", 1]);
    expect(typo.body.detail[0].msg).toMatch(/^Value error, unknown metric "latncy"/);
    const sample = await app.post("/observability/analytics", body({ metrics: ["gpu.util"] }));
    expect(sample.status).toBe(200);
    const values = sample.body.items.map((p: BudPeriod) => p.items[0]?.data["gpu.util"]?.avg ?? null);
    expect(values.filter((v: number | null) => v !== null)).toEqual([0.5]);
  });

  it("refuses an empty filter value, which would widen the question to everyone's traffic", async () => {
    const blank = await app.post("/observability/analytics", body({ filters: { project: "" } }));
    expect(blank.status).toBe(422);
    expect(blank.body.detail).toEqual([
      { loc: ["body", "filters"], msg: "Value error, project filter must not be empty", type: "value_error" },
    ]);
    const empty = await app.post("/observability/analytics", body({ filters: { project: [] } }));
    expect(empty.status).toBe(422);
    expect(empty.body.detail[0].loc.slice(0, 3)).toEqual(["body", "filters", "project"]);
  });

  it("a missing from_date and a wrong frequency_unit are 422 with FastAPI's loc", async () => {
    const { from_date: _f, ...noFrom } = body({});
    const missing = await app.post("/observability/analytics", noFrom);
    expect(missing.status).toBe(422);
    expect(missing.body.detail[0].loc).toEqual(["body", "from_date"]);
    const unit = await app.post("/observability/analytics", body({ frequency_unit: "fortnight" }));
    expect(unit.status).toBe(422);
    expect(unit.body.detail[0]).toMatchObject({ loc: ["body", "frequency_unit"], type: "literal_error" });
  });

  it("keeps the seed README's shape (time_range, interval) as BudMetrics defines it", async () => {
    const res = await app.post("/observability/analytics", {
      metrics: ["request_count"],
      time_range: { from_date: FROM, to_date: TO },
      interval: "daily",
    });
    expect(res.status).toBe(200);
    const counts = days.map((d) => all.filter((e) => inDay(e, d)).length);
    const got = [...res.body.items].reverse().map((p: BudPeriod) => p.items[0]!.data.request_count!.value);
    expect(got).toEqual(counts);
  });
});

describe("FastAPI-form 422 on the other Bud-stack routes", () => {
  it("inference list: budapp reads detail[0].loc and msg", async () => {
    const res = await app.post("/observability/inferences/list", { offset: 0, limit: 0, from_date: FROM });
    expect(res.status).toBe(422);
    expect(res.body.detail[0].loc).toEqual(["body", "limit"]);
    expect(typeof res.body.detail[0].msg).toBe("string");
    expect(res.body.error.code).toBe("QUERY_VALIDATION_FAILED");
  });

  it("usage summary (query string): loc starts with query", async () => {
    const res = await app.get(`/observability/usage/summary?user_id=${IDS.users[0]}`);
    expect(res.status).toBe(422);
    expect(res.body.detail[0].loc).toEqual(["query", "start_date"]);
  });
});
