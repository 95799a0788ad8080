import { loadMigrations, migrate, renderContextFrom, renderMigration } from "@budmetrics/clickhouse";
import { createSilentLogger } from "@budmetrics/logger";
import { Tables } from "@budmetrics/schema";
import { openTestEngine, type TestEngine } from "../support/engine";
import { createCatalogue, generateInferences } from "../support/generate";
import { createTestWriter, writeInferences } from "../support/load";

/** A migration that adds tables over existing data (0006) on an engine migrated to 0005 first. */
const log = createSilentLogger();

describe("0006 per-model rollups on an installation that already holds data", () => {
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

  it("backfills both tables from the hourly rollup, never twice on a re-run, then follows new inserts", async () => {
    const ctx = renderContextFrom(old.config);
    const all = loadMigrations();
    await migrate(old.ch, { ctx, log, migrations: all.filter((m) => m.version < 6) });
    await writeInferences(createTestWriter(old.ch), batch(41, 3_000), 1_000);

    const report = await migrate(old.ch, { ctx, log, migrations: all });
    expect(report.applied.map((a) => a.version)).toEqual([6]);
    const hourly = await perModel(Tables.inferenceRollup["1h"], "hour");
    expect(hourly.length).toBeGreaterThan(100);
    expect(await perModel(Tables.inferenceModel["1h"], "hour")).toEqual(hourly);
    expect(await perModel(Tables.inferenceModel["1d"], "day")).toEqual(
      await perModel(Tables.inferenceRollup["1d"], "day"),
    );

    // A run interrupted after the backfill re-runs every statement: the backfill must not repeat.
    for (const sql of renderMigration(all.find((m) => m.version === 6)!.source, ctx))
      await old.ch.command(sql);
    expect(await perModel(Tables.inferenceModel["1h"], "hour")).toEqual(hourly);

    // From now on the views keep them current.
    await writeInferences(createTestWriter(old.ch), batch(42, 2_000), 1_000);
    const after = await perModel(Tables.inferenceRollup["1h"], "hour");
    expect(after).not.toEqual(hourly);
    expect(await perModel(Tables.inferenceModel["1h"], "hour")).toEqual(after);
    expect(await perModel(Tables.inferenceModel["1d"], "day")).toEqual(
      await perModel(Tables.inferenceRollup["1d"], "day"),
    );
  });
});
