/**
 * The Bud-stack endpoints' numbers against a plain-TS oracle computed from the generated events
 * (filters, prompt exclusion, inclusive ranges, exact quantiles, buckets, usage, sync, geography).
 */
import geoip from "geoip-lite";
import type { InferenceData } from "@budmetrics/schema";
import { openTestEngine, type TestEngine } from "../../../../test/support/engine";
import { close, loadInferences, startApp, type RunningApp } from "../helpers";
import { IDS, makeEvents, NOW } from "./data";

interface Ev {
  t: number;
  d: InferenceData;
}

let engine: TestEngine;
let app: RunningApp;
let all: Ev[];

const [P1, P2, P3] = IDS.projects;
const [U1, U2, U3] = IDS.users;
const FROM = "2026-03-07T00:00:00Z";
const TO = "2026-03-14T10:15:03.120000Z";
const fromMs = Date.parse(FROM);
const toMs = Date.parse(TO);

beforeAll(async () => {
  engine = await openTestEngine("compat_oracle");
  const events = makeEvents(7, 4000);
  await loadInferences(engine.ch, events);
  all = events.map((d) => ({ t: Date.parse(d.request_arrival_time), d }));
  app = await startApp(engine.ch, { nowMs: NOW });
}, 120_000);

afterAll(async () => {
  await app?.close();
  await engine?.close();
});

const isPrompt = (e: Ev) => !!e.d.prompt_id;
const inRange = (e: Ev, a = fromMs, b = toMs) => e.t >= a && e.t <= b;
const avg = (xs: number[]) => (xs.length ? xs.reduce((s, x) => s + x, 0) / xs.length : 0);
const sum = (xs: number[]) => xs.reduce((s, x) => s + x, 0);
const nonNull = <T>(xs: Array<T | null | undefined>) =>
  xs.filter((x): x is T => x !== null && x !== undefined);
/** Linear interpolation between closest ranks (quantileExactInclusive). */
function quantile(xs: number[], p: number): number {
  if (!xs.length) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const h = (s.length - 1) * p;
  const lo = Math.floor(h);
  return s[lo]! + (h - lo) * ((s[Math.min(lo + 1, s.length - 1)] ?? s[lo]!) - s[lo]!);
}

function metricsOf(evs: Ev[]): Record<string, number> {
  const n = evs.length;
  const ok = evs.filter((e) => e.d.is_success).length;
  const lat = nonNull(evs.map((e) => e.d.response_time_ms));
  const ttft = nonNull(evs.map((e) => e.d.ttft_ms));
  const costs = nonNull(evs.map((e) => e.d.cost));
  const tokens = evs.map((e) => (e.d.input_tokens ?? 0) + (e.d.output_tokens ?? 0));
  const thr = evs
    .filter((e) => (e.d.response_time_ms ?? 0) > 0)
    .map((e) => ((e.d.output_tokens ?? 0) * 1000) / e.d.response_time_ms!);
  return {
    total_requests: n,
    success_rate: n ? (ok * 100) / n : 0,
    error_rate: n ? ((n - ok) * 100) / n : 0,
    avg_latency: avg(lat),
    p95_latency: quantile(lat, 0.95),
    p99_latency: quantile(lat, 0.99),
    total_tokens: sum(tokens),
    total_input_tokens: sum(evs.map((e) => e.d.input_tokens ?? 0)),
    total_output_tokens: sum(evs.map((e) => e.d.output_tokens ?? 0)),
    avg_tokens: avg(tokens),
    total_cost: sum(costs),
    avg_cost: avg(costs),
    ttft_avg: avg(ttft),
    ttft_p95: quantile(ttft, 0.95),
    ttft_p99: quantile(ttft, 0.99),
    cache_hit_rate: n ? (evs.filter((e) => e.d.cached).length * 100) / n : 0,
    throughput_avg: avg(thr),
    unique_users: new Set(nonNull(evs.map((e) => e.d.user_id))).size,
    p95_inference_cost: quantile(costs, 0.95),
    max_inference_cost: costs.length ? Math.max(...costs) : 0,
    min_inference_cost: costs.length ? Math.min(...costs) : 0,
  };
}

describe("metrics/aggregated", () => {
  it("gives every metric of the filtered, prompt-free range", async () => {
    const metrics = Object.keys(metricsOf([]));
    const res = await app.post("/observability/metrics/aggregated", {
      from_date: FROM,
      to_date: TO,
      group_by: null,
      filters: { project_id: [P1, P2], unknown_key: "ignored" },
      metrics,
      data_source: "inference",
    });
    expect(res.status).toBe(200);
    const o = metricsOf(all.filter((e) => inRange(e) && !isPrompt(e) && [P1, P2].includes(e.d.project_id)));
    for (const m of metrics) {
      expect([m, close(res.body.summary[m].value, o[m], 1e-9)]).toEqual([m, true]);
    }
    expect(res.body.groups).toEqual([]);
    expect(res.body.summary.success_rate.formatted_value).toBe(`${o.success_rate!.toFixed(1)}%`);
    expect(res.body.summary.avg_latency.unit).toBe("ms");
    expect(res.body.date_range).toEqual({ from: "2026-03-07T00:00:00.000Z", to: "2026-03-14T10:15:03.120Z" });
  });

  it.each(["user", "user_project"] as const)("groups by %s, most requests first", async (g) => {
    const res = await app.post("/observability/metrics/aggregated", {
      from_date: FROM,
      to_date: TO,
      group_by: [g],
      filters: { api_key_project_id: P1 },
      metrics: ["total_requests", "total_cost"],
    });
    expect(res.status).toBe(200);
    const evs = all.filter((e) => inRange(e) && !isPrompt(e) && e.d.api_key_project_id === P1);
    const key = (e: Ev) => (g === "user" ? e.d.user_id : e.d.api_key_project_id) ?? null;
    const groups = new Map<string | null, Ev[]>();
    for (const e of evs) groups.set(key(e), [...(groups.get(key(e)) ?? []), e]);
    expect(res.body.summary).toEqual({});
    expect(res.body.total_groups).toBe(groups.size);
    const counts = res.body.groups.map(
      (x: { metrics: { total_requests: { value: number } } }) => x.metrics.total_requests.value,
    );
    expect([...counts].sort((a, b) => b - a)).toEqual(counts);
    for (const grp of res.body.groups) {
      const id = g === "user" ? grp.user_id : grp.api_key_project_id;
      expect(grp.metrics.total_requests.value).toBe(groups.get(id)!.length);
      expect(close(grp.metrics.total_cost.value, metricsOf(groups.get(id)!).total_cost, 1e-9)).toBe(true);
    }
  });

  it("breaks errors down by error_type and status_code, and filters by error_code", async () => {
    const res = await app.post("/observability/metrics/aggregated", {
      from_date: FROM,
      to_date: TO,
      group_by: ["error_type", "status_code"],
      filters: { error_code: ["429"] },
      metrics: ["total_requests"],
    });
    expect(res.status).toBe(200);
    const evs = all.filter((e) => inRange(e) && !isPrompt(e) && e.d.error_code === "429");
    expect(res.body.groups).toEqual([
      expect.objectContaining({
        error_type: "RateLimitExceeded",
        status_code: "429",
        metrics: {
          total_requests: { value: evs.length, formatted_value: expect.any(String), unit: "requests" },
        },
      }),
    ]);
  });

  it("matches nothing for an empty or non-UUID project list (200, never an error)", async () => {
    for (const filters of [{ project_id: [] }, { project_id: ["not-a-uuid"] }, { api_key_project_id: [] }]) {
      const res = await app.post("/observability/metrics/aggregated", {
        from_date: FROM,
        to_date: TO,
        filters,
        metrics: ["total_requests", "avg_latency"],
      });
      expect(res.status).toBe(200);
      expect(res.body.summary.total_requests.value).toBe(0);
      expect(res.body.summary.avg_latency).toEqual({ value: 0, formatted_value: "0ms", unit: "ms" });
    }
  });

  it("keeps only prompt traffic for data_source prompt, and defaults a null from_date", async () => {
    const res = await app.post("/observability/metrics/aggregated", {
      from_date: null,
      to_date: null,
      filters: { prompt_id: IDS.prompt, project_id: [P1, P2] },
      metrics: ["total_requests", "max_inference_cost"],
      data_source: "prompt",
    });
    expect(res.status).toBe(200);
    const evs = all.filter(
      (e) => isPrompt(e) && [P1, P2].includes(e.d.project_id) && e.t >= NOW - 90 * 86_400_000,
    );
    expect(res.body.summary.total_requests.value).toBe(evs.length);
    expect(close(res.body.summary.max_inference_cost.value, metricsOf(evs).max_inference_cost, 1e-9)).toBe(
      true,
    );
  });
});

describe("metrics/time-series", () => {
  const body = {
    from_date: "2026-03-13T10:15:03.120000Z",
    to_date: "2026-03-14T10:15:03.120000Z",
    interval: "1h",
    metrics: ["requests", "avg_latency", "p95_latency", "error_count"],
    filters: { project_id: [P1, P2, P3] },
    group_by: null,
    fill_gaps: true,
    data_source: "inference",
  };
  const a = Date.parse(body.from_date);
  const b = Date.parse(body.to_date);

  it("fills every hour of an ungrouped series", async () => {
    const res = await app.post("/observability/metrics/time-series", body);
    expect(res.status).toBe(200);
    expect(res.body.groups).toHaveLength(1);
    const points = res.body.groups[0].data_points;
    expect(points).toHaveLength(25);
    expect(points[0].timestamp).toBe("2026-03-13T10:00:00.000Z");
    for (const p of points) {
      const start = Date.parse(p.timestamp);
      const evs = all.filter(
        (e) => inRange(e, a, b) && !isPrompt(e) && e.t >= start && e.t < start + 3_600_000,
      );
      const o = metricsOf(evs);
      expect(p.values.requests).toBe(evs.length);
      expect(p.values.error_count).toBe(evs.filter((e) => !e.d.is_success).length);
      expect(close(p.values.avg_latency, o.avg_latency, 1e-9)).toBe(true);
      expect(close(p.values.p95_latency, o.p95_latency, 1e-9)).toBe(true);
    }
  });

  it("answers grouped series with only the buckets that have requests", async () => {
    const res = await app.post("/observability/metrics/time-series", {
      ...body,
      group_by: ["model"],
      metrics: ["requests"],
    });
    expect(res.status).toBe(200);
    const evs = all.filter((e) => inRange(e, a, b) && !isPrompt(e));
    expect(res.body.groups).toHaveLength(new Set(evs.map((e) => e.d.model_id)).size);
    for (const g of res.body.groups) {
      expect(g.model_name).toMatch(/^model-/);
      const mine = evs.filter((e) => e.d.model_id === g.model_id);
      const hours = new Set(mine.map((e) => Math.floor(e.t / 3_600_000) * 3_600_000));
      expect(g.data_points).toHaveLength(hours.size);
      expect(sum(g.data_points.map((p: { values: { requests: number } }) => p.values.requests))).toBe(
        mine.length,
      );
    }
  });

  it("starts weeks on Sunday", async () => {
    const res = await app.post("/observability/metrics/time-series", {
      from_date: FROM,
      to_date: TO,
      interval: "1w",
      metrics: ["requests"],
    });
    expect(res.body.groups[0].data_points.map((p: { timestamp: string }) => p.timestamp)).toEqual([
      "2026-03-01T00:00:00.000Z",
      "2026-03-08T00:00:00.000Z",
    ]);
  });
});

describe("metrics/latency-distribution", () => {
  it("counts nulls as 0 ms, per group and overall, with the default buckets", async () => {
    const res = await app.post("/observability/metrics/latency-distribution", {
      from_date: FROM,
      to_date: TO,
      filters: { project_id: [P1, P2] },
      group_by: ["model"],
      buckets: null,
    });
    expect(res.status).toBe(200);
    const evs = all.filter((e) => inRange(e) && !isPrompt(e) && [P1, P2].includes(e.d.project_id));
    const edges = [0, 100, 500, 1000, 2000, 5000, 10000, Infinity];
    const hist = (xs: Ev[]) =>
      edges.slice(0, -1).map((lo, i) => {
        const inB = xs.map((e) => e.d.response_time_ms ?? 0).filter((v) => v >= lo && v < edges[i + 1]!);
        return { count: inB.length, avg: inB.length ? avg(inB) : null };
      });
    expect(res.body.total_requests).toBe(evs.length);
    const overall = hist(evs);
    res.body.overall_distribution.forEach(
      (bk: { count: number; avg_latency: number | null; percentage: number }, i: number) => {
        expect(bk.count).toBe(overall[i]!.count);
        expect(bk.percentage).toBe(Math.round((overall[i]!.count / evs.length) * 10000) / 100);
        if (overall[i]!.avg)
          expect(Math.abs(bk.avg_latency! - overall[i]!.avg!)).toBeLessThanOrEqual(0.005 + 1e-9);
      },
    );
    for (const g of res.body.groups) {
      const mine = evs.filter((e) => e.d.model_id === g.model_id);
      expect(g.total_requests).toBe(mine.length);
      expect(g.buckets.map((x: { count: number }) => x.count)).toEqual(hist(mine).map((x) => x.count));
    }
    expect(res.body.bucket_definitions.at(-1)).toEqual({ min: 10000, max: 999999999, label: ">10s" });
  });
});

describe("metrics/distribution", () => {
  it("buckets prompt traffic by input tokens (ten equal buckets from the data) with the caller's filters", async () => {
    const res = await app.post("/observability/metrics/distribution", {
      from_date: FROM,
      to_date: TO,
      filters: { prompt_id: IDS.prompt, api_key_project_id: [P1] },
      bucket_by: "input_tokens",
      metric: "response_time_ms",
      buckets: null,
    });
    expect(res.status).toBe(200);
    const evs = all.filter(
      (e) => inRange(e) && e.d.prompt_id === IDS.prompt && e.d.api_key_project_id === P1,
    );
    expect(res.body.total_count).toBe(evs.length);
    const toks = evs.map((e) => e.d.input_tokens ?? 0);
    const lo = Math.min(...toks);
    const w = (Math.max(...toks) - lo) / 10;
    res.body.buckets.forEach((bk: { count: number; avg_value: number }, i: number) => {
      const mine = evs.filter((e) => {
        const v = e.d.input_tokens ?? 0;
        return i === 9 ? v >= lo + i * w : v >= lo + i * w && v < lo + (i + 1) * w;
      });
      expect(bk.count).toBe(mine.length);
      expect(Math.abs(bk.avg_value - avg(mine.map((e) => e.d.response_time_ms ?? 0)))).toBeLessThanOrEqual(
        0.005 + 1e-9,
      );
    });
    expect(sum(res.body.buckets.map((x: { count: number }) => x.count))).toBe(evs.length);
  });

  it("buckets by requests per second (concurrency)", async () => {
    const res = await app.post("/observability/metrics/distribution", {
      from_date: FROM,
      to_date: TO,
      filters: { prompt_id: IDS.prompt },
      bucket_by: "concurrency",
      metric: "ttft_ms",
      buckets: [
        { min: 1, max: 1, label: "1" },
        { min: 2, max: 1000, label: "2+" },
      ],
    });
    const evs = all.filter((e) => inRange(e) && e.d.prompt_id === IDS.prompt);
    const perSecond = new Map<number, number>();
    for (const e of evs)
      perSecond.set(Math.floor(e.t / 1000), (perSecond.get(Math.floor(e.t / 1000)) ?? 0) + 1);
    const conc = (e: Ev) => perSecond.get(Math.floor(e.t / 1000))!;
    expect(res.body.buckets.map((x: { count: number }) => x.count)).toEqual([
      evs.filter((e) => conc(e) === 1).length,
      evs.filter((e) => conc(e) >= 2).length,
    ]);
  });
});

describe("metrics/geography", () => {
  const place = (e: Ev) => (e.d.request_ip ? geoip.lookup(e.d.request_ip) : null);

  it.each(["country", "city"] as const)("counts requests per %s of the request IP", async (groupBy) => {
    const res = await app.post("/observability/metrics/geography", {
      from_date: "2026-03-07T00:00:00+00:00",
      to_date: "2026-03-14T10:15:03.120000+00:00",
      group_by: groupBy,
      limit: 50,
      filters: { project_id: [P1, P2] },
    });
    expect(res.status).toBe(200);
    const evs = all.filter((e) => inRange(e) && !isPrompt(e) && [P1, P2].includes(e.d.project_id));
    expect(res.body.total_requests).toBe(evs.length);
    const key = (e: Ev) => {
      const p = place(e);
      if (!p?.country) return null;
      return groupBy === "country" ? p.country : p.city ? `${p.country}/${p.city}` : null;
    };
    const expected = new Map<string, Ev[]>();
    for (const e of evs) {
      const k = key(e);
      if (k) expected.set(k, [...(expected.get(k) ?? []), e]);
    }
    expect(res.body.locations.length).toBe(expected.size);
    expect(expected.size).toBeGreaterThan(1);
    for (const loc of res.body.locations) {
      const mine = expected.get(
        groupBy === "country" ? loc.country_code : `${loc.country_code}/${loc.city}`,
      )!;
      expect(loc.request_count).toBe(mine.length);
      expect(loc.unique_users).toBe(new Set(nonNull(mine.map((e) => e.d.user_id))).size);
      expect(loc.percentage).toBe(Math.round((mine.length / evs.length) * 10000) / 100);
      if (groupBy === "city") expect(typeof loc.latitude).toBe("number");
    }
  });

  it("filters by country codes on the GET form", async () => {
    const res = await app.get(
      `/observability/metrics/geography?from_date=${FROM}&to_date=2026-03-14T10:15:03Z&country_codes=gb,US&project_id=${P1}`,
    );
    expect(res.status).toBe(200);
    expect(res.body.locations.map((l: { country_code: string }) => l.country_code).sort()).toEqual([
      "GB",
      "US",
    ]);
    expect(res.body.total_requests).toBe(
      sum(res.body.locations.map((l: { request_count: number }) => l.request_count)),
    );
  });

  it("refuses a limit outside 1..1000", async () => {
    const res = await app.post("/observability/metrics/geography", { from_date: FROM, limit: 0 });
    expect(res.status).toBe(422);
    expect(res.body.error.message).toBe("limit must be between 1 and 1000");
  });
});

describe("usage", () => {
  const startText = "2026-03-01T00:00:00+00:00";
  const endText = "2026-03-31T23:59:59+00:00";
  const a = Date.parse(startText);
  const b = Date.parse(endText);
  const usage = (evs: Ev[]) => {
    const input = sum(evs.map((e) => e.d.input_tokens ?? 0));
    const output = sum(evs.map((e) => e.d.output_tokens ?? 0));
    const ok = evs.filter((e) => e.d.is_success).length;
    return {
      total_tokens: input + output,
      total_input_tokens: input,
      total_output_tokens: output,
      request_count: evs.length,
      success_count: ok,
      success_rate: evs.length ? (ok / evs.length) * 100 : 0,
      total_cost: sum(nonNull(evs.map((e) => e.d.cost))),
    };
  };
  const billable = (e: Ev) => e.t >= a && e.t <= b && !isPrompt(e);

  it("summarises one user's billable usage under param", async () => {
    const res = await app.get(
      `/observability/usage/summary?user_id=${U1}&start_date=${encodeURIComponent(startText)}&end_date=${encodeURIComponent(endText)}`,
    );
    expect(res.status).toBe(200);
    const o = usage(all.filter((e) => billable(e) && e.d.user_id === U1));
    expect(res.body.object).toBe("info");
    const { total_cost, success_rate, ...rest } = o;
    expect(res.body.param).toMatchObject(rest);
    expect(close(res.body.param.total_cost, total_cost, 1e-9)).toBe(true);
    expect(close(res.body.param.success_rate, success_rate, 1e-9)).toBe(true);
  });

  it("answers every requested user of a bulk request in order, zeros for users without traffic", async () => {
    const unknown = "00000000-0000-4000-8000-000000000001";
    const res = await app.post("/observability/usage/summary/bulk", {
      user_ids: [U2.toUpperCase(), unknown, U1, U3],
      start_date: startText,
      end_date: endText,
      project_id: P1,
    });
    expect(res.status).toBe(200);
    expect(res.body.param.users.map((u: { user_id: string }) => u.user_id)).toEqual([U2, unknown, U1, U3]);
    for (const u of res.body.param.users) {
      const o = usage(
        all.filter((e) => billable(e) && e.d.user_id === u.user_id && e.d.api_key_project_id === P1),
      );
      expect(u.request_count).toBe(o.request_count);
      expect(u.total_tokens).toBe(o.total_tokens);
      expect(close(u.total_cost, o.total_cost, 1e-9)).toBe(true);
    }
    expect(res.body.param.summary).toMatchObject({ total_users: 4, project_id: P1 });
  });

  it.each<[unknown, string]>([
    [{ user_ids: [], start_date: startText, end_date: endText }, "user_ids list cannot be empty"],
    [{ user_ids: [U1], start_date: startText }, "start_date and end_date are required"],
    [{ user_ids: ["nope"], start_date: startText, end_date: endText }, "Invalid date format or UUID: nope"],
    [
      { user_ids: Array(1001).fill(U1), start_date: startText, end_date: endText },
      "Maximum 1000 users per batch request",
    ],
  ])("refuses a bad bulk request with the original's message (422)", async (body, message) => {
    const res = await app.post("/observability/usage/summary/bulk", body);
    expect(res.status).toBe(422);
    expect(res.body.error.message).toBe(message);
  });

  it.each([
    ["daily", 86_400_000, (ms: number) => new Date(ms).toISOString().slice(0, 10)],
    ["hourly", 3_600_000, (ms: number) => new Date(ms).toISOString().slice(0, 19)],
  ] as const)("gives %s history of periods with requests, oldest first", async (granularity, step, label) => {
    const res = await app.get(
      `/observability/usage/history?user_id=${U1}&start_date=2026-03-10T00:00:00&end_date=2026-03-14T23:59:59&granularity=${granularity}&project_id=${P2}`,
    );
    expect(res.status).toBe(200);
    const evs = all.filter(
      (e) =>
        e.t >= Date.parse("2026-03-10T00:00:00Z") &&
        e.t <= Date.parse("2026-03-14T23:59:59Z") &&
        !isPrompt(e) &&
        e.d.user_id === U1 &&
        e.d.api_key_project_id === P2,
    );
    const periods = new Map<string, Ev[]>();
    for (const e of evs) {
      const k = label(Math.floor(e.t / step) * step);
      periods.set(k, [...(periods.get(k) ?? []), e]);
    }
    expect(res.body.param.granularity).toBe(granularity);
    expect(res.body.param.data.map((d: { date: string }) => d.date)).toEqual([...periods.keys()].sort());
    for (const d of res.body.param.data) {
      expect(d.requests).toBe(periods.get(d.date)!.length);
      expect(d.tokens).toBe(usage(periods.get(d.date)!).total_tokens);
    }
  });
});

describe("metrics-sync and credential usage", () => {
  it("reports credentials and users active in the threshold (incremental)", async () => {
    const res = await app.post("/observability/metrics-sync", {
      sync_mode: "incremental",
      activity_threshold_minutes: 5,
      credential_sync: true,
      user_usage_sync: true,
    });
    expect(res.status).toBe(200);
    const evs = all.filter((e) => e.t >= NOW - 5 * 60_000 && !isPrompt(e));
    expect(evs.length).toBeGreaterThan(0);
    expect(res.body.credential_usage).toHaveLength(new Set(nonNull(evs.map((e) => e.d.api_key_id))).size);
    for (const c of res.body.credential_usage) {
      const mine = evs.filter((e) => e.d.api_key_id === c.credential_id);
      expect(c.request_count).toBe(mine.length);
      expect(Date.parse(c.last_used_at)).toBe(Math.max(...mine.map((e) => e.t)));
    }
    for (const u of res.body.user_usage) {
      const mine = evs.filter((e) => e.d.user_id === u.user_id);
      expect(u.usage_data.request_count).toBe(mine.length);
      expect(u.usage_data.success_rate).toBe(mine.filter((e) => e.d.is_success).length / mine.length);
    }
    expect(res.body.stats.active_users).toBe(res.body.user_usage.length);
  });

  it("lists all-time users and pads requested users without traffic (full)", async () => {
    const idle = "00000000-0000-4000-8000-000000000002";
    const res = await app.post("/observability/metrics-sync", {
      sync_mode: "full",
      activity_threshold_minutes: 525600,
      credential_sync: false,
      user_usage_sync: true,
      user_ids: [U1, idle],
    });
    const users = new Set(nonNull(all.filter((e) => !isPrompt(e)).map((e) => e.d.user_id)));
    expect(res.body.credential_usage).toEqual([]);
    expect(res.body.user_usage).toHaveLength(users.size + 1);
    expect(res.body.user_usage.at(-1)).toMatchObject({ user_id: idle, usage_data: { request_count: 0 } });
    expect(res.body.stats).toEqual({
      active_credentials: 0,
      active_users: users.size,
      total_users_checked: users.size + 1,
    });
  });

  it("answers credential use since a time under `credentials`", async () => {
    const since = "2026-03-14T00:00:00+00:00";
    const res = await app.post("/observability/credential-usage", { since });
    const evs = all.filter((e) => e.t >= Date.parse(since) && !isPrompt(e));
    expect(res.body.credentials).toHaveLength(new Set(nonNull(evs.map((e) => e.d.api_key_id))).size);
    expect(res.body.query_window.since).toBe("2026-03-14T00:00:00.000Z");
  });
});

describe("inference list", () => {
  it("takes budapp's CLIENT body (explicit nulls, api_key_project_id filter) and pages by offset", async () => {
    const body = {
      offset: 5,
      limit: 10,
      endpoint_id: null,
      model_id: null,
      from_date: FROM,
      to_date: null,
      is_success: false,
      min_tokens: null,
      max_tokens: null,
      max_latency_ms: null,
      endpoint_type: null,
      filters: { api_key_project_id: [P1, P2] },
      sort_by: "latency",
      sort_order: "desc",
    };
    const res = await app.post("/observability/inferences/list", body);
    expect(res.status).toBe(200);
    const evs = all
      .filter(
        (e) => e.t >= fromMs && e.t <= NOW && !e.d.is_success && [P1, P2].includes(e.d.api_key_project_id!),
      )
      .sort((x, y) => (y.d.response_time_ms ?? -1) - (x.d.response_time_ms ?? -1));
    expect(res.body.total_count).toBe(evs.length);
    expect(res.body.has_more).toBe(evs.length > 15);
    expect(Object.keys(res.body).sort()).toEqual([
      "has_more",
      "items",
      "limit",
      "object",
      "offset",
      "total_count",
    ]);
    const lat = res.body.items.map((i: { response_time_ms: number }) => i.response_time_ms);
    expect(lat).toEqual(evs.slice(5, 15).map((e) => Math.round(e.d.response_time_ms ?? 0)));
    expect(res.body.items.every((i: { error_code: string }) => i.error_code === "429")).toBe(true);
  });

  it.each<[unknown, number, string]>([
    [{ from_date: "2026-03-07", to_date: "2026-03-06" }, 422, "to_date must be after from_date"],
    [
      { from_date: "2026-03-07", to_date: "2026-03-20" },
      422,
      "to_date cannot be more than 1 day in the future",
    ],
    [{ from_date: "2026-03-07", to_date: "2026-03-07" }, 200, ""],
    [{ from_date: "2026-03-07", limit: null }, 422, "limit must be integer"],
  ])("applies the original's date rules: %j", async (body, status, message) => {
    const res = await app.post("/observability/inferences/list", body);
    expect(res.status).toBe(status);
    if (message) expect(res.body.error.message).toContain(message);
  });
});
