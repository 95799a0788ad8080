/**
 * The time-ordered copy of the raw rows (migrations/0019) serves what the planner asks of it: every
 * rollup state, grouped by every rollup dimension, filtered by each, with and without prompt traffic,
 * gives what the raw table (FINAL) gives for the same rows. A column the copy lacks fails here.
 */
import { INFERENCE_STATE_NAMES, type InferenceData } from "@budmetrics/schema";
import { openTestEngine, type TestEngine } from "../../../test/support/engine";
import { createCatalogue, generateInferences } from "../../../test/support/generate";
import {
  buildConcurrencyQuery,
  buildInferenceStatesQuery,
  type Dim,
  type Filters,
} from "../src/analytics/queries";
import { close, loadInferences } from "./helpers";

const FROM = Date.parse("2026-06-01T00:00:00Z");
const TO = FROM + 2 * 86_400_000;
const cat = createCatalogue(7, { models: 3, projects: 2, endpoints: 4, apiKeys: 3, users: 12 });
let engine: TestEngine;

beforeAll(async () => {
  engine = await openTestEngine("query_by_time");
  const events: InferenceData[] = [
    ...generateInferences({ seed: 5, count: 1500, startMs: FROM, endMs: TO, catalogue: cat }),
  ].map((e, i) => (i % 9 === 0 ? { ...e, prompt_id: `prompt-${i % 2}` } : e));
  await loadInferences(engine.ch, events);
}, 120_000);

afterAll(async () => {
  await engine?.close();
});

const DIMS: Dim[] = ["model", "project", "endpoint", "user_project", "cluster"];
const edges = Array.from({ length: 9 }, (_, i) => FROM + i * 6 * 3_600_000);

/** Rows in a stable order, every number compared to 1e-9 (sums may add in another order). */
function expectSameRows(a: Record<string, unknown>[], b: Record<string, unknown>[]) {
  const key = (r: Record<string, unknown>) =>
    JSON.stringify(Object.entries(r).filter(([k]) => !k.startsWith("a_")));
  const sa = [...a].sort((x, y) => key(x).localeCompare(key(y)));
  const sb = [...b].sort((x, y) => key(x).localeCompare(key(y)));
  expect(sa.map(key)).toEqual(sb.map(key));
  sa.forEach((r, i) => {
    for (const [k, v] of Object.entries(r)) {
      if (!k.startsWith("a_")) continue;
      const w = sb[i]![k];
      const xs = Array.isArray(v) ? (v as number[]) : [v as number];
      const ys = Array.isArray(w) ? (w as number[]) : [w as number];
      expect([k, xs.length]).toEqual([k, ys.length]);
      xs.forEach((x, j) => expect([k, close(Number(x), Number(ys[j]), 1e-9)]).toEqual([k, true]));
    }
  });
}

describe("inference_events_by_time", () => {
  it.each<[string, { dims: Dim[]; filters: Filters; withoutPrompts?: boolean }]>([
    ["every state, grouped by every rollup dimension", { dims: DIMS, filters: {} }],
    ["prompt traffic left out", { dims: ["model"], filters: {}, withoutPrompts: true }],
    [
      "filtered by each rollup dimension",
      {
        dims: [],
        filters: {
          model: { ids: [cat.models[0]!.id], names: [cat.models[1]!.name] },
          project: { ids: cat.projects.map((p) => p.id), names: [] },
          endpoint: { ids: cat.endpoints.slice(0, 3).map((e) => e.id), names: [] },
          user_project: { ids: cat.projects.map((p) => p.id), names: [] },
          cluster: { ids: [], names: [...new Set(cat.endpoints.map((e) => e.cluster))] },
        },
      },
    ],
  ])("%s: the states the raw table gives", async (_name, spec) => {
    const ask = async (rawByTime: boolean) => {
      const q = buildInferenceStatesQuery({
        db: engine.ch.database,
        edges,
        // A head and a tail off the hour marks, and the middle: three raw stretches in one piece.
        segments: [
          { source: "raw", fromMs: FROM + 1_234, toMs: FROM + 3_600_000 },
          { source: "raw", fromMs: FROM + 3_600_000, toMs: TO - 3_600_000 },
          { source: "raw", fromMs: TO - 3_600_000, toMs: TO - 5_678 },
        ],
        aggs: INFERENCE_STATE_NAMES,
        rawByTime,
        ...spec,
      });
      expect(q.query.includes("inference_events_by_time")).toBe(rawByTime);
      return engine.ch.query<Record<string, unknown>>(q.query, q.query_params);
    };
    const [copy, raw] = [await ask(true), await ask(false)];
    expect(raw.length).toBeGreaterThan(spec.dims.length > 0 ? 10 : 5);
    expectSameRows(copy, raw);
  });

  it("gives the raw table's concurrency", async () => {
    const ask = async (rawByTime: boolean) => {
      const q = buildConcurrencyQuery({
        db: engine.ch.database,
        edges,
        dims: ["model", "endpoint"],
        filters: { project: { ids: [cat.projects[0]!.id], names: [] } },
        lookbackMs: 3_600_000,
        rawByTime,
      });
      return engine.ch.query<Record<string, unknown>>(q.query, q.query_params);
    };
    const [copy, raw] = [await ask(true), await ask(false)];
    expect(raw.length).toBeGreaterThan(10);
    expectSameRows(copy, raw);
  });
});
