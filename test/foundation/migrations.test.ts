import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  loadMigrations,
  migrate,
  migrationStatus,
  renderContextFrom,
  verifyMigrations,
  DEFAULT_MIGRATIONS_DIR,
} from "@budmetrics/clickhouse";
import { AppError } from "@budmetrics/errors";
import { createSilentLogger } from "@budmetrics/logger";
import { Tables } from "@budmetrics/schema";
import { openTestEngine, type TestEngine } from "../support/engine";

const log = createSilentLogger();
let engine: TestEngine;

beforeAll(async () => {
  engine = await openTestEngine("migrations", {}, { migrate: false });
});
afterAll(() => engine.close());

function copyMigrations(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bm-mig-"));
  for (const f of fs.readdirSync(DEFAULT_MIGRATIONS_DIR))
    fs.copyFileSync(path.join(DEFAULT_MIGRATIONS_DIR, f), path.join(dir, f));
  return dir;
}

describe("migrations on the embedded engine", () => {
  it("apply from empty, creating every table and recording every version", async () => {
    const ctx = renderContextFrom(engine.config);
    const files = loadMigrations();
    const report = await migrate(engine.ch, { ctx, log });
    expect(report.applied.map((a) => a.version)).toEqual(files.map((f) => f.version));
    expect(report.skipped).toBe(0);

    const tables = await engine.ch.query<{ name: string }>(
      "SELECT name FROM system.tables WHERE database = {db:String} ORDER BY name",
      { db: ctx.database },
    );
    const names = tables.map((t) => t.name);
    for (const t of [
      Tables.inferenceEvents,
      Tables.metricSamples,
      Tables.quarantine,
      Tables.inferenceIds,
      Tables.inferenceRollup,
      ...Object.values(Tables.sampleRollup),
      Tables.migrations,
    ]) {
      expect(names).toContain(t);
    }
    expect(names).toContain("inference_rollup_mv");
    // The tier tables of 0004/0006 are gone (0008 copied them, 0009 dropped them).
    expect(names.filter((n) => /^inference_(rollup|total|model)_\d[mhd]/.test(n))).toEqual([]);
    expect(await verifyMigrations(engine.ch, ctx)).toEqual({ ok: true, problems: [] });
  });

  it("re-apply as a no-op", async () => {
    const ctx = renderContextFrom(engine.config);
    const before = await engine.ch.query<{ n: number }>(
      `SELECT count() AS n FROM ${ctx.database}.${Tables.migrations}`,
    );
    const report = await migrate(engine.ch, { ctx, log });
    expect(report.applied).toEqual([]);
    expect(report.skipped).toBe(loadMigrations().length);
    const after = await engine.ch.query<{ n: number }>(
      `SELECT count() AS n FROM ${ctx.database}.${Tables.migrations}`,
    );
    expect(Number(after[0]!.n)).toBe(Number(before[0]!.n));
  });

  it("status lists the applied versions with their names and nothing pending", async () => {
    const status = await migrationStatus(engine.ch, renderContextFrom(engine.config));
    expect(status.applied.map((a) => `${a.version}_${a.name}`)).toEqual(
      loadMigrations().map((m) => `${m.version}_${m.name}`),
    );
    expect(status.pending).toEqual([]);
    expect(status.mismatched).toEqual([]);
  });

  it("refuses to run when an applied file was edited, naming the version", async () => {
    const dir = copyMigrations();
    const file = path.join(dir, "0002_metric_samples.sql");
    fs.appendFileSync(file, "\n-- edited after it was applied\n");
    const migrations = loadMigrations(dir);
    await expect(
      migrate(engine.ch, { ctx: renderContextFrom(engine.config), log, migrations }),
    ).rejects.toThrow(/migration 0002_metric_samples: file changed after it was applied/);
    const v = await verifyMigrations(engine.ch, renderContextFrom(engine.config), migrations);
    expect(v.ok).toBe(false);
  });

  it("a failing statement names the file and the statement, and records nothing", async () => {
    const dir = copyMigrations();
    fs.writeFileSync(
      path.join(dir, "0099_broken.sql"),
      "CREATE TABLE IF NOT EXISTS {{db}}.ok_table (a UInt8) ENGINE = MergeTree ORDER BY a;\n\nCREATE TABLE {{db}}.bad (a NoSuchType) ENGINE = MergeTree ORDER BY a;\n",
    );
    const ctx = renderContextFrom(engine.config);
    const err = await migrate(engine.ch, { ctx, log, migrations: loadMigrations(dir) }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe("MIGRATION_FAILED");
    expect((err as AppError).message).toMatch(
      /migration 0099_broken\.sql, statement 2 of 2 \(CREATE TABLE \w+\.bad/,
    );
    const status = await migrationStatus(engine.ch, ctx, loadMigrations(dir));
    expect(status.pending.map((p) => p.version)).toEqual([99]);
  });
});
