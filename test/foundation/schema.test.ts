/**
 * The declarations in packages/schema against the tables the migrations create, as the engine reports
 * them (`system.columns`): a field declared but not migrated, or migrated with another type, fails here.
 */
import {
  INFERENCE_ENVELOPE_COLUMNS,
  INFERENCE_FIELDS,
  QUARANTINE_COLUMNS,
  SAMPLE_COLUMNS,
  Tables,
  inferenceDataSchema,
} from "@budmetrics/schema";
import { openTestEngine, type TestEngine } from "../support/engine";

let engine: TestEngine;
beforeAll(async () => {
  engine = await openTestEngine("schema_decl");
});
afterAll(() => engine.close());

async function columns(table: string): Promise<Map<string, { type: string; default_kind: string }>> {
  const rows = await engine.ch.query<{ name: string; type: string; default_kind: string }>(
    "SELECT name, type, default_kind FROM system.columns WHERE database = {db:String} AND table = {t:String}",
    { db: engine.ch.database, t: table },
  );
  return new Map(rows.map((r) => [r.name, { type: r.type, default_kind: r.default_kind }]));
}

describe("declared schemas match the engine's tables", () => {
  it("inference_events: every declared field and envelope column, with its declared type", async () => {
    const cols = await columns(Tables.inferenceEvents);
    const declared = [
      ...Object.entries(INFERENCE_FIELDS).map(([k, f]) => [k, f.column] as const),
      ...Object.entries(INFERENCE_ENVELOPE_COLUMNS),
    ];
    expect(declared.map(([k]) => [k, cols.get(k)?.type])).toEqual(declared);
    // Every other column is filled by the engine (a DEFAULT), never expected from a writer.
    const undeclared = [...cols].filter(([k]) => !declared.some(([d]) => d === k));
    expect(undeclared.map(([k, c]) => [k, c.default_kind])).toEqual([["received_at", "DEFAULT"]]);
  });

  it("inference_events_by_time: each column as the raw table declares it (the view copies them)", async () => {
    const raw = await columns(Tables.inferenceEvents);
    const byTime = await columns(Tables.inferenceEventsByTime);
    expect(byTime.size).toBeGreaterThan(10);
    expect([...byTime].map(([k, c]) => [k, c.type])).toEqual([...byTime].map(([k]) => [k, raw.get(k)?.type]));
  });

  it("the inference JSON Schema accepts exactly the declared fields", () => {
    expect(Object.keys(inferenceDataSchema.properties).sort()).toEqual(Object.keys(INFERENCE_FIELDS).sort());
    expect(inferenceDataSchema.required).toEqual(
      Object.entries(INFERENCE_FIELDS)
        .filter(([, f]) => "required" in f && f.required)
        .map(([k]) => k),
    );
  });

  it("metric_samples and quarantine: the written columns exist", async () => {
    const samples = await columns(Tables.metricSamples);
    expect(SAMPLE_COLUMNS.filter((c) => !samples.has(c))).toEqual([]);
    const quarantine = await columns(Tables.quarantine);
    expect(QUARANTINE_COLUMNS.filter((c) => !quarantine.has(c))).toEqual([]);
  });
});
