import {
  loadMigrations,
  migrate,
  renderContextFrom,
  renderMigration,
  type ClickHouse,
} from "@budmetrics/clickhouse";
import { createSilentLogger } from "@budmetrics/logger";
import { INFERENCE_COLUMNS, Tables, toNumber, type InferenceData } from "@budmetrics/schema";
import { openTestEngine, type TestEngine } from "../support/engine";
import { createCatalogue, generateInferences } from "../support/generate";
import { prepareInference } from "../support/load";

/** Migrations that add tables over existing data (0006, 0007) on an engine migrated to 0005 first. */
const log = createSilentLogger();

/** Raw rows straight into the table, as an installation of an older version stored them. */
async function insertRaw(ch: ClickHouse, events: readonly InferenceData[]) {
  const lines = events.map((e) => prepareInference(e).line);
  await ch.insertJsonEachRow(Tables.inferenceEvents, Buffer.from(lines.join("\n") + "\n"), INFERENCE_COLUMNS);
}

describe("migrations over an installation that already holds data", () => {
  let old: TestEngine;
  beforeAll(async () => {
    old = await openTestEngine("migrations_backfill", {}, { migrate: false });
  });
  afterAll(() => old.close());

  const catalogue = createCatalogue(3, { models: 3, projects: 2, endpoints: 6 });
  const t0 = Date.UTC(2026, 4, 1);
  const batch = (seed: number, count: number) => [
    ...generateInferences({ seed, count, startMs: t0, endMs: t0 + 2 * 86_400_000, catalogue }),
  ];
  /** Per (hour, model) request counts and output tokens from a table, as comparable text. */
  const perModel = async (table: string, grain: "hour" | "day") =>
    (
      await old.ch.query<{ k: string }>(
        `SELECT concat(toString(toStartOf${grain === "hour" ? "Hour" : "Day"}(bucket_start)), '|', toString(model_id), '|',
                toString(sum(request_count)), '|', toString(sum(output_tokens_sum)), '|',
                toString(sum(latency_count)), '|', toString(sum(cost_sum))) AS k
         FROM ${old.ch.database}.${table} GROUP BY toStartOf${grain === "hour" ? "Hour" : "Day"}(bucket_start), model_id ORDER BY k`,
      )
    ).map((r) => r.k);

  const ids = async () => {
    const [r] = await old.ch.query<{ n: number; d: number }>(
      `SELECT count() AS n, uniqExact(inference_id) AS d FROM ${old.ch.database}.${Tables.inferenceIds}`,
    );
    return { n: toNumber(r?.n), d: toNumber(r?.d) };
  };

  it("0006 backfills both per-model tables from the hourly rollup, never twice on a re-run, then follows new inserts; 0007 the id table likewise", async () => {
    const ctx = renderContextFrom(old.config);
    const all = loadMigrations();
    await migrate(old.ch, { ctx, log, migrations: all.filter((m) => m.version < 6) });
    for (let i = 0; i < 3; i++) await insertRaw(old.ch, batch(41 + i * 100, 1_000));

    const report = await migrate(old.ch, { ctx, log, migrations: all });
    expect(report.applied.map((a) => a.version)).toEqual(
      all.filter((m) => m.version >= 6).map((m) => m.version),
    );
    expect(await ids()).toEqual({ n: 3_000, d: 3_000 });
    const hourly = await perModel(Tables.inferenceRollup["1h"], "hour");
    expect(hourly.length).toBeGreaterThan(100);
    expect(await perModel(Tables.inferenceModel["1h"], "hour")).toEqual(hourly);
    expect(await perModel(Tables.inferenceModel["1d"], "day")).toEqual(
      await perModel(Tables.inferenceRollup["1d"], "day"),
    );

    // A run interrupted after the backfill re-runs every statement: the backfill must not repeat.
    for (const v of [6, 7])
      for (const sql of renderMigration(all.find((m) => m.version === v)!.source, ctx))
        await old.ch.command(sql);
    expect(await perModel(Tables.inferenceModel["1h"], "hour")).toEqual(hourly);
    expect(await ids()).toEqual({ n: 3_000, d: 3_000 });

    // From now on the views keep them current.
    await insertRaw(old.ch, batch(42, 2_000));
    expect(await ids()).toEqual({ n: 5_000, d: 5_000 });
    const after = await perModel(Tables.inferenceRollup["1h"], "hour");
    expect(after).not.toEqual(hourly);
    expect(await perModel(Tables.inferenceModel["1h"], "hour")).toEqual(after);
    expect(await perModel(Tables.inferenceModel["1d"], "day")).toEqual(
      await perModel(Tables.inferenceRollup["1d"], "day"),
    );
  });
});
