/** Browsing, usage and operations endpoints on the real engine, checked against the generated events. */
import type { InferenceData } from "@budmetrics/schema";
import { openTestEngine, type TestEngine } from "../../../test/support/engine";
import { createCatalogue, generateInferences } from "../../../test/support/generate";
import {
  loadInferences,
  loadSamples,
  startApp,
  toOracle,
  type OracleEvent,
  type RunningApp,
} from "./helpers";

const NOW = Date.parse("2026-06-01T00:00:00Z");
let engine: TestEngine;
let app: RunningApp;
let events: InferenceData[];
let all: OracleEvent[];
const cat = createCatalogue(21, { models: 3, projects: 4, endpoints: 6, apiKeys: 5, users: 30 });
const FROM = Date.parse("2026-05-01T00:00:00Z");
const TO = Date.parse("2026-05-08T00:00:00Z");

beforeAll(async () => {
  engine = await openTestEngine("query_browse");
  events = [...generateInferences({ seed: 9, count: 1500, startMs: FROM, endMs: TO, catalogue: cat })];
  events[0]!.prompt_preview = "x".repeat(500);
  events[0]!.response_preview = "hello";
  events[0]!.response_analysis = { sentiment: "positive" };
  events[1]!.prompt_id = "prompt-a";
  await loadInferences(engine.ch, events);
  await loadSamples(engine.ch, [
    { id: "s1", timeMs: FROM + 1000, data: { metric_type: "gpu_utilization", value: 50, model: "m" } },
    { id: "s2", timeMs: FROM + 2000, data: { metric_type: "queue_depth", value: 3 } },
  ]);
  all = toOracle(events);
  app = await startApp(engine.ch, { nowMs: NOW });
}, 60_000);

afterAll(async () => {
  await app?.close();
  await engine?.close();
});

describe("inference list", () => {
  it("filters, sorts newest first and paginates by offset and by cursor without gaps or repeats", async () => {
    const project = cat.projects[0]!;
    const expected = all.filter((e) => e.d.project_id === project.id && e.d.is_success);
    const first = await app.post("/observability/inferences/list", {
      project_id: project.id,
      is_success: true,
      limit: 40,
      cursor: null,
    });
    expect(first.status).toBe(200);
    expect(first.body.total_count).toBe(expected.length);
    expect(first.body.items).toHaveLength(40);
    const times = first.body.items.map((i: { timestamp: string }) => Date.parse(i.timestamp));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    const seen: string[] = first.body.items.map((i: { inference_id: string }) => i.inference_id);
    let cursor = first.body.next_cursor as string | null;
    while (cursor) {
      const page = await app.post("/observability/inferences/list", {
        project_id: project.id,
        is_success: true,
        limit: 40,
        cursor,
      });
      expect(page.status).toBe(200);
      seen.push(...page.body.items.map((i: { inference_id: string }) => i.inference_id));
      cursor = page.body.next_cursor;
    }
    expect(seen).toHaveLength(expected.length);
    expect(new Set(seen)).toEqual(new Set(expected.map((e) => e.d.inference_id)));
    const second = await app.post("/observability/inferences/list", {
      project_id: project.id,
      is_success: true,
      limit: 40,
      offset: 40,
    });
    expect(second.body.items.map((i: { inference_id: string }) => i.inference_id)).toEqual(
      seen.slice(40, 80),
    );
  });

  it("sorts by tokens ascending and truncates previews", async () => {
    const res = await app.post("/observability/inferences/list", {
      sort_by: "tokens",
      sort_order: "asc",
      limit: 1000,
    });
    const tokens = res.body.items.map((i: { total_tokens: number }) => i.total_tokens);
    expect([...tokens].sort((a, b) => a - b)).toEqual(tokens);
    const withPreview = await app.post("/observability/inferences/list", {
      filters: { model_id: events[0]!.model_id },
      limit: 1000,
    });
    const item = withPreview.body.items.find(
      (i: { inference_id: string }) => i.inference_id === events[0]!.inference_id,
    );
    expect(item.prompt_preview).toHaveLength(200);
    expect(item.response_preview).toBe("hello");
  });

  it("returns one inference in full, and 404 for an unknown id", async () => {
    const e = events[0]!;
    const res = await app.get(`/observability/inferences/${e.inference_id.toUpperCase()}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      inference_id: e.inference_id,
      model_id: e.model_id,
      input_tokens: e.input_tokens,
      response_analysis: { sentiment: "positive" },
      timestamp: new Date(Date.parse(e.request_arrival_time)).toISOString(),
    });
    expect(res.body.prompt_preview).toHaveLength(500);
  });
});

describe("usage and catalog", () => {
  it("gives per-project usage, most requests first", async () => {
    const byProject = await app.get(
      `/observability/usage/by-project?from_date=2026-05-01&to_date=2026-05-08`,
    );
    expect(byProject.body.items).toHaveLength(4);
    for (const it of byProject.body.items) {
      expect(it.total_requests).toBe(all.filter((e) => e.d.project_id === it.project_id).length);
    }
    const counts = byProject.body.items.map((i: { total_requests: number }) => i.total_requests);
    expect([...counts].sort((a, b) => b - a)).toEqual(counts);
  });

  it("lists the catalog and stored sample names, and summarises the store", async () => {
    const types = await app.get("/observability/metrics/types");
    const names = types.body.items.map((i: { name: string }) => i.name);
    expect(names).toEqual(
      expect.arrayContaining(["request_count", "concurrent_requests", "gpu_utilization", "queue_depth"]),
    );
    const summary = await app.get("/observability/metrics/summary");
    expect(summary.body).toMatchObject({
      inference_count: 1500,
      metric_sample_count: 2,
      metric_sample_types: 2,
    });
  });
});

describe("operations", () => {
  it("serves health, stats, optimize, cache stats, performance, OpenAPI and docs", async () => {
    const health = await app.get("/observability/health");
    expect(health.status).toBe(200);
    expect(health.body.components.clickhouse.status).toBe("ok");
    const stats = await app.get("/admin/stats");
    const raw = stats.body.tables.find((t: { table: string }) => t.table === "inference_events");
    expect(raw.rows).toBe(1500);
    expect(raw.parts).toBeGreaterThan(0);
    const opt = await app.post("/admin/optimize", { tables: ["inference_rollup"], final: true });
    expect(opt.status).toBe(200);
    const cache = await app.get("/admin/metrics/cache");
    expect(cache.body).toMatchObject({ backend: "memory" });
    expect(typeof cache.body.hits).toBe("number");
    const perf = await app.get("/metrics/query-performance");
    expect(perf.body.routes.length).toBeGreaterThan(0);
    const doc = await app.get("/openapi.json");
    expect(doc.body.openapi).toBe("3.1.0");
    expect(Object.keys(doc.body.paths)).toEqual(
      expect.arrayContaining([
        "/observability/analytics",
        "/observability/inferences/{id}",
        "/admin/optimize",
      ]),
    );
    const docs = await fetch(`${app.url}/docs`);
    expect(docs.headers.get("content-type")).toContain("text/html");
    const prom = await (await fetch(`${app.url}/metrics`)).text();
    expect(prom).toContain("budmetrics_query_http_request_duration_seconds");
    expect(prom).toContain("budmetrics_query_clickhouse_duration_seconds");
  });

  it("compresses large answers with brotli or gzip", async () => {
    const body = JSON.stringify({
      metrics: ["request_count", "latency"],
      from_date: "2026-05-01",
      to_date: "2026-05-08",
      frequency_unit: "hour",
    });
    for (const enc of ["br", "gzip"]) {
      const res = await fetch(`${app.url}/observability/analytics`, {
        method: "POST",
        headers: { "content-type": "application/json", "accept-encoding": enc },
        body,
      });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-encoding")).toBe(enc);
      expect(((await res.json()) as { items: unknown[] }).items).toHaveLength(168);
    }
  });
});
