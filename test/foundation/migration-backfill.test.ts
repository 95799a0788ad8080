import {
  loadMigrations,
  migrate,
  renderContextFrom,
  renderMigration,
  type ClickHouse,
} from "@budmetrics/clickhouse";
import { createSilentLogger } from "@budmetrics/logger";
import {
  INFERENCE_COLUMNS,
  INFERENCE_ROLLUP_KEYS,
  INFERENCE_ROLLUP_TABLE_SETTINGS,
  INFERENCE_ROLLUP_TIERS,
  Tables,
  toNumber,
  type InferenceData,
} from "@budmetrics/schema";
import { openTestEngine, type TestEngine } from "../support/engine";
import { createCatalogue, generateInferences } from "../support/generate";
import { prepareInference } from "../support/load";

/** Migrations over stored data (0006, 0007, 0008 on an engine migrated to 0005 first; 0014 and 0015 on one migrated to 0013). */
const log = createSilentLogger();

/**
 * Raw rows straight into the table, as an installation of an older version stored them: only the
 * columns the table has at that version (later migrations add some).
 */
async function insertRaw(ch: ClickHouse, events: readonly InferenceData[]) {
  const present = new Set(
    (
      await ch.query<{ name: string }>(
        "SELECT name FROM system.columns WHERE database = {db:String} AND table = {t:String}",
        { db: ch.database, t: Tables.inferenceEvents },
      )
    ).map((r) => r.name),
  );
  const columns = INFERENCE_COLUMNS.filter((c) => present.has(c));
  const lines = events.map((e) => {
    const row = JSON.parse(prepareInference(e).line) as Record<string, unknown>;
    return JSON.stringify(Object.fromEntries(columns.map((c) => [c, row[c]])));
  });
  await ch.insertJsonEachRow(Tables.inferenceEvents, Buffer.from(lines.join("\n") + "\n"), columns);
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
  const sums =
    "toString(sum(request_count)), '|', toString(sum(output_tokens_sum)), '|', toString(sum(latency_count)), '|', " +
    "toString(sum(cost_sum)), '|', toString(max(latency_max)), '|', toString(round(quantilesDDMerge(0.01, 0.5, 0.99)(latency_q)[2], 6))";
  /** Per (bucket, model) states of a table (the tier tables before 0008) or of a tier of the rollup (after). */
  const perBucketModel = async (from: string, level = "dims") =>
    (
      await old.ch.query<{ k: string }>(
        `SELECT concat(toString(bucket_start), '|', ${level === "total" ? "'all'" : "toString(model_id)"}, '|', ${sums}) AS k
         FROM ${old.ch.database}.${from} GROUP BY bucket_start${level === "total" ? "" : ", model_id"} ORDER BY k`,
      )
    ).map((r) => r.k);
  const tierOf = (grain: string, level: string) =>
    `${Tables.inferenceRollup} WHERE grain = '${grain}' AND level = '${level}'`;
  const OLD_TABLES: Record<string, string> = {
    "5m dims": "inference_rollup_5m",
    "1h dims": "inference_rollup_1h",
    "1d dims": "inference_rollup_1d",
    "1h model": "inference_model_1h",
    "1d model": "inference_model_1d",
    "1h total": "inference_total_1h",
    "1d total": "inference_total_1d",
  };

  const ids = async () => {
    const [r] = await old.ch.query<{ n: number; d: number }>(
      `SELECT count() AS n, uniqExact(inference_id) AS d FROM ${old.ch.database}.${Tables.inferenceIds}`,
    );
    return { n: toNumber(r?.n), d: toNumber(r?.d) };
  };

  it("0006 fills the per-model tiers, 0007 the id table, 0008 copies every tier into the one rollup; none twice on a re-run; the views follow new inserts", async () => {
    const ctx = renderContextFrom(old.config);
    const all = loadMigrations();
    const upTo = (v: number) => all.filter((m) => m.version <= v);
    await migrate(old.ch, { ctx, log, migrations: upTo(5) });
    for (let i = 0; i < 3; i++) await insertRaw(old.ch, batch(41 + i * 100, 1_000));

    // 0006 and 0007 over the stored rows.
    expect((await migrate(old.ch, { ctx, log, migrations: upTo(7) })).applied.map((a) => a.version)).toEqual([
      6, 7,
    ]);
    const hourly = await perBucketModel(OLD_TABLES["1h dims"]!);
    expect(hourly.length).toBeGreaterThan(100);
    expect(await perBucketModel(OLD_TABLES["1h model"]!)).toEqual(hourly);
    expect(await perBucketModel(OLD_TABLES["1d model"]!)).toEqual(
      await perBucketModel(OLD_TABLES["1d dims"]!),
    );
    expect(await ids()).toEqual({ n: 3_000, d: 3_000 });
    // A run interrupted after a backfill re-runs every statement: no backfill repeats.
    for (const v of [6, 7])
      for (const sql of renderMigration(all.find((m) => m.version === v)!.source, ctx))
        await old.ch.command(sql);
    expect(await perBucketModel(OLD_TABLES["1h model"]!)).toEqual(hourly);
    expect(await ids()).toEqual({ n: 3_000, d: 3_000 });

    // 0008: every tier table copied into its tier of the one rollup, exactly.
    const before = new Map<string, string[]>();
    for (const [tier, table] of Object.entries(OLD_TABLES))
      before.set(tier, await perBucketModel(table, tier.split(" ")[1]));
    await migrate(old.ch, { ctx, log, migrations: upTo(8) });
    for (const sql of renderMigration(all.find((m) => m.version === 8)!.source, ctx))
      await old.ch.command(sql);
    for (const t of INFERENCE_ROLLUP_TIERS) {
      expect([t, await perBucketModel(tierOf(t.grain, t.level), t.level)]).toEqual([
        t,
        before.get(`${t.grain} ${t.level}`),
      ]);
    }

    // The rest (0009 drops the tier tables); from now on the one view keeps every tier current.
    expect((await migrate(old.ch, { ctx, log, migrations: all })).applied.map((a) => a.version)).toEqual(
      all.filter((m) => m.version > 8).map((m) => m.version),
    );
    await insertRaw(old.ch, batch(42, 2_000));
    expect(await ids()).toEqual({ n: 5_000, d: 5_000 });
    const rawPerHour = (
      await old.ch.query<{ k: string }>(
        `SELECT concat(toString(toStartOfHour(request_arrival_time)), '|', toString(model_id), '|', toString(count())) AS k
         FROM ${old.ch.database}.${Tables.inferenceEvents} GROUP BY toStartOfHour(request_arrival_time), model_id ORDER BY k`,
      )
    ).map((r) => r.k);
    for (const level of ["dims", "model"]) {
      const tier = (
        await old.ch.query<{ k: string }>(
          `SELECT concat(toString(bucket_start), '|', toString(model_id), '|', toString(sum(request_count))) AS k
           FROM ${old.ch.database}.${tierOf("1h", level)} GROUP BY bucket_start, model_id ORDER BY k`,
        )
      ).map((r) => r.k);
      expect([level, tier]).toEqual([level, rawPerHour]);
    }
  });
});

describe("0014 and 0015 over a rollup that already holds states", () => {
  let eng: TestEngine;
  beforeAll(async () => {
    eng = await openTestEngine("migrations_granule", {}, { migrate: false });
  });
  afterAll(() => eng.close());

  const catalogue = createCatalogue(5, { models: 3, projects: 2, endpoints: 6 });
  const t0 = Date.UTC(2026, 6, 1);
  const batch = (seed: number, count: number) => [
    ...generateInferences({ seed, count, startMs: t0, endMs: t0 + 2 * 86_400_000, catalogue }),
  ];
  const keys = ["grain", "level", "bucket_start", ...INFERENCE_ROLLUP_KEYS.map((k) => k.column)];
  /**
   * Every row of the rollup with every state, merged per key: after OPTIMIZE FINAL one row per key,
   * so float sums are not reordered and the comparison is exact.
   */
  const dump = async () =>
    (
      await eng.ch.query<{ k: string }>(
        `SELECT concat(${keys.map((k) => `toString(${k})`).join(", '|', ")}, '|',
           toString(sum(request_count)), '|', toString(sum(success_count)), '|', toString(sum(cached_count)), '|',
           toString(sum(queuing_ms_sum)), '|', toString(min(queuing_ms_min)), '|', toString(max(queuing_ms_max)), '|',
           toString(sum(input_tokens_sum)), '|', toString(sum(output_tokens_sum)), '|',
           toString(sum(latency_count)), '|', toString(sum(latency_sum)), '|', toString(min(latency_min)), '|', toString(max(latency_max)), '|',
           toString(quantilesDDMerge(0.01, 0.5, 0.9, 0.99)(latency_q)), '|',
           toString(sum(ttft_count)), '|', toString(sum(ttft_sum)), '|', toString(min(ttft_min)), '|', toString(max(ttft_max)), '|',
           toString(quantilesDDMerge(0.01, 0.5, 0.9, 0.99)(ttft_q)), '|',
           toString(sum(throughput_count)), '|', toString(sum(throughput_sum)), '|', toString(sum(cost_sum)), '|', toString(uniqMerge(users))) AS k
         FROM ${eng.ch.database}.${Tables.inferenceRollup} GROUP BY ${keys.join(", ")} ORDER BY k`,
      )
    ).map((r) => r.k);
  const tables = async () =>
    (
      await eng.ch.query<{ name: string }>(
        "SELECT name FROM system.tables WHERE database = {db:String} AND name LIKE 'inference_rollup%' ORDER BY name",
        { db: eng.ch.database },
      )
    ).map((r) => r.name);

  it("moves every stored state into a table of 256-row granules under the same name; no statement run again copies twice; the view follows new inserts", async () => {
    const ctx = renderContextFrom(eng.config);
    const all = loadMigrations();
    const upTo = (v: number) => all.filter((m) => m.version <= v);
    await migrate(eng.ch, { ctx, log, migrations: upTo(13) });
    for (let i = 0; i < 3; i++) await insertRaw(eng.ch, batch(7 + i * 100, 1_000));
    await eng.ch.command(`OPTIMIZE TABLE ${eng.ch.database}.${Tables.inferenceRollup} FINAL`);
    const before = await dump();
    expect(before.length).toBeGreaterThan(500);

    const m14 = renderMigration(all.find((m) => m.version === 14)!.source, ctx);
    const m15 = renderMigration(all.find((m) => m.version === 15)!.source, ctx);
    expect(m14.map((sql) => sql.split(/\s/)[0])).toEqual(["DROP", "CREATE", "INSERT", "RENAME"]);
    // Interrupted after the copy, before the rename: the re-run (all of 0014) copies nothing again.
    for (const sql of m14.slice(0, 3)) await eng.ch.command(sql);
    expect((await migrate(eng.ch, { ctx, log, migrations: upTo(14) })).applied.map((a) => a.version)).toEqual(
      [14],
    );
    expect(await dump()).toEqual(before);
    // Run again after the rename (recorded as failed): it stops at the RENAME instead of swapping back.
    for (const sql of m14.slice(0, 3)) await eng.ch.command(sql);
    await expect(eng.ch.command(m14[3]!)).rejects.toThrow(/inference_rollup_old/);
    expect(await dump()).toEqual(before);

    await migrate(eng.ch, { ctx, log, migrations: all });
    for (const sql of m15) await eng.ch.command(sql);
    expect(await dump()).toEqual(before);
    expect(await tables()).toEqual([Tables.inferenceRollup, "inference_rollup_mv"]);
    const [t] = await eng.ch.query<{ engine_full: string }>(
      "SELECT engine_full FROM system.tables WHERE database = {db:String} AND name = {t:String}",
      { db: eng.ch.database, t: Tables.inferenceRollup },
    );
    expect(t!.engine_full).toContain(
      `index_granularity = ${INFERENCE_ROLLUP_TABLE_SETTINGS.index_granularity}`,
    );

    // The view on the new table: each new raw row is counted once in every tier.
    await insertRaw(eng.ch, batch(8, 2_000));
    const rawPerHour = (
      await eng.ch.query<{ k: string }>(
        `SELECT concat(toString(toStartOfHour(request_arrival_time)), '|', toString(model_id), '|', toString(count())) AS k
         FROM ${eng.ch.database}.${Tables.inferenceEvents} GROUP BY toStartOfHour(request_arrival_time), model_id ORDER BY k`,
      )
    ).map((r) => r.k);
    for (const t of INFERENCE_ROLLUP_TIERS.filter((x) => x.grain === "1h" && x.level !== "total")) {
      const tier = (
        await eng.ch.query<{ k: string }>(
          `SELECT concat(toString(bucket_start), '|', toString(model_id), '|', toString(sum(request_count))) AS k
           FROM ${eng.ch.database}.${Tables.inferenceRollup} WHERE grain = '1h' AND level = '${t.level}'
           GROUP BY bucket_start, model_id ORDER BY k`,
        )
      ).map((r) => r.k);
      expect([t.level, tier]).toEqual([t.level, rawPerHour]);
    }
  });
});

describe("0018 over stored prompt traffic", () => {
  let eng: TestEngine;
  beforeAll(async () => {
    eng = await openTestEngine("migrations_prompt_hours", {}, { migrate: false });
  });
  afterAll(() => eng.close());

  const catalogue = createCatalogue(9, { models: 2, projects: 2, endpoints: 3 });
  const t0 = Date.UTC(2026, 7, 1);
  /** count events over two days; every 7th is prompt traffic (two prompts), one in 50 an empty prompt id. */
  const batch = (seed: number, count: number, startMs = t0) =>
    [...generateInferences({ seed, count, startMs, endMs: startMs + 2 * 86_400_000, catalogue })].map(
      (e, i) =>
        i % 7 === 0 ? { ...e, prompt_id: `prompt-${i % 2}` } : i % 50 === 1 ? { ...e, prompt_id: "" } : e,
    );
  const hoursOf = (events: readonly InferenceData[]) =>
    [
      ...new Set(
        events
          .filter((e) => e.prompt_id)
          .map((e) =>
            new Date(Math.floor(Date.parse(e.request_arrival_time) / 3_600_000) * 3_600_000).toISOString(),
          ),
      ),
    ].sort();
  const stored = async () =>
    (
      await eng.ch.query<{ h: string }>(
        `SELECT DISTINCT formatDateTime(hour, '%Y-%m-%dT%H:00:00.000Z') AS h FROM ${eng.ch.database}.${Tables.inferencePromptHours} ORDER BY h`,
      )
    ).map((r) => r.h);

  it("holds every hour with prompt traffic already stored, none twice on a re-run, and the view adds new ones", async () => {
    const ctx = renderContextFrom(eng.config);
    const all = loadMigrations();
    await migrate(eng.ch, { ctx, log, migrations: all.filter((m) => m.version < 18) });
    const old = batch(31, 600);
    await insertRaw(eng.ch, old);
    await migrate(eng.ch, { ctx, log, migrations: all });
    expect(hoursOf(old).length).toBeGreaterThan(20);
    expect(await stored()).toEqual(hoursOf(old));
    const m18 = renderMigration(all.find((m) => m.version === 18)!.source, ctx);
    const copy = m18.find((sql) => sql.startsWith("INSERT"))!;
    await eng.ch.command(copy);
    const [count] = await eng.ch.query<{ n: string }>(
      `SELECT count() AS n FROM ${eng.ch.database}.${Tables.inferencePromptHours}`,
    );
    expect(Number(count!.n)).toBe(hoursOf(old).length);

    // New traffic three days later: its prompt hours are added; traffic without a prompt adds none.
    const later = batch(32, 300, t0 + 3 * 86_400_000);
    await insertRaw(eng.ch, later);
    await insertRaw(
      eng.ch,
      batch(33, 100, t0 + 6 * 86_400_000).map((e) => ({ ...e, prompt_id: null })),
    );
    expect(await stored()).toEqual(hoursOf([...old, ...later]));
  });
});

describe("0019 over stored inferences", () => {
  let eng: TestEngine;
  beforeAll(async () => {
    eng = await openTestEngine("migrations_by_time", {}, { migrate: false });
  });
  afterAll(() => eng.close());

  const catalogue = createCatalogue(19, { models: 2, projects: 2, endpoints: 3 });
  const t0 = Date.UTC(2026, 7, 1);
  const COLS =
    "request_arrival_time, project_id, endpoint_id, model_id, api_key_project_id, cluster_id, model_name, " +
    "project_name, endpoint_name, is_success, cached, request_forward_time, input_tokens, output_tokens, " +
    "response_time_ms, ttft_ms, cost, user_id, prompt_id";
  /** Each table's rows as sorted text: the copy must hold every raw row's columns, once. */
  const rowsOf = async (table: string) =>
    (
      await eng.ch.query<{ r: string }>(
        `SELECT toString(tuple(${COLS})) AS r FROM ${eng.ch.database}.${table} ORDER BY r`,
      )
    ).map((x) => x.r);

  it("copies every stored row once, none again on a re-run, and the view copies new ones", async () => {
    const ctx = renderContextFrom(eng.config);
    const all = loadMigrations();
    await migrate(eng.ch, { ctx, log, migrations: all.filter((m) => m.version < 19) });
    const old = [
      ...generateInferences({ seed: 41, count: 700, startMs: t0, endMs: t0 + 2 * 86_400_000, catalogue }),
    ];
    await insertRaw(eng.ch, old);
    await migrate(eng.ch, { ctx, log, migrations: all });
    const raw = await rowsOf(Tables.inferenceEvents);
    expect(raw).toHaveLength(700);
    expect(await rowsOf(Tables.inferenceEventsByTime)).toEqual(raw);

    const m19 = renderMigration(all.find((m) => m.version === 19)!.source, ctx);
    await eng.ch.command(m19.find((sql) => sql.startsWith("INSERT"))!);
    expect(await rowsOf(Tables.inferenceEventsByTime)).toHaveLength(700);

    const later = [
      ...generateInferences({
        seed: 42,
        count: 300,
        startMs: t0 + 3 * 86_400_000,
        endMs: t0 + 4 * 86_400_000,
        catalogue,
      }),
    ];
    await insertRaw(eng.ch, later);
    expect(await rowsOf(Tables.inferenceEventsByTime)).toEqual(await rowsOf(Tables.inferenceEvents));
    expect(await rowsOf(Tables.inferenceEventsByTime)).toHaveLength(1000);
  });
});
