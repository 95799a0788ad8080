import { withQuerySettings } from "@budmetrics/clickhouse";
import { AppError } from "@budmetrics/errors";
import { openTestEngine, type TestEngine } from "../support/engine";

let engine: TestEngine;
beforeAll(async () => {
  engine = await openTestEngine("client");
});
afterAll(() => engine.close());

describe("the ClickHouse client on the embedded engine", () => {
  it("a statement-level SETTINGS clause applies to that query only and does not leak into the session", async () => {
    const inside = await engine.ch.query<{ v: number | string }>(
      withQuerySettings("SELECT getSetting('max_rows_to_read') AS v", { max_rows_to_read: 1234 }),
    );
    expect(Number(inside[0]!.v)).toBe(1234);
    const after = await engine.ch.query<{ v: number | string }>("SELECT getSetting('max_rows_to_read') AS v");
    expect(Number(after[0]!.v)).toBe(0);
  });

  it("inserts run with optimize_on_insert = 0 for that statement only", async () => {
    const db = engine.ch.database;
    await engine.ch.command(
      `CREATE TABLE ${db}.oi_probe (k UInt32, v UInt32) ENGINE = ReplacingMergeTree ORDER BY k`,
    );
    // Two rows with one key in one block: collapsed at insert time unless the setting is off.
    await engine.ch.insertJsonEachRow("oi_probe", Buffer.from('{"k":1,"v":1}\n{"k":1,"v":2}\n'), ["k", "v"]);
    const rows = await engine.ch.query<{ n: number }>(`SELECT count() AS n FROM ${db}.oi_probe`);
    expect(Number(rows[0]!.n)).toBe(2);
    const final = await engine.ch.query<{ n: number }>(`SELECT count() AS n FROM ${db}.oi_probe FINAL`);
    expect(Number(final[0]!.n)).toBe(1);
    const after = await engine.ch.query<{ v: number | string | boolean }>(
      "SELECT getSetting('optimize_on_insert') AS v",
    );
    expect(Number(after[0]!.v)).toBe(1);
  });

  it("inserts run synchronously (async_insert = 0, distributed_foreground_insert = 1) whatever the session says", async () => {
    const db = engine.ch.database;
    // Defaults are evaluated while the insert runs, with that statement's settings.
    await engine.ch.command(
      `CREATE TABLE ${db}.ai_probe (k UInt32, a UInt8 DEFAULT toUInt8(getSetting('async_insert')), ` +
        "d UInt8 DEFAULT toUInt8(getSetting('distributed_foreground_insert'))) ENGINE = MergeTree ORDER BY k",
    );
    // The Bud stack's server profile turns asynchronous inserts on; mimic it on this session.
    await engine.ch.command("SET async_insert = 1");
    try {
      await engine.ch.insertJsonEachRow("ai_probe", Buffer.from('{"k":1}\n'), ["k"]);
    } finally {
      await engine.ch.command("SET async_insert = 0");
    }
    const rows = await engine.ch.query<{ a: number; d: number }>(`SELECT a, d FROM ${db}.ai_probe`);
    expect(rows.map((r) => [Number(r.a), Number(r.d)])).toEqual([[0, 1]]);
    const after = await engine.ch.query<{ d: number | string | boolean }>(
      "SELECT toUInt8(getSetting('distributed_foreground_insert')) AS d",
    );
    expect(Number(after[0]!.d)).toBe(0);
  });

  it("session settings are set once: ISO date output and best-effort date input", async () => {
    const rows = await engine.ch.query<{ t: string }>("SELECT toDateTime64({t:String}, 3, 'UTC') AS t", {
      t: "2026-03-08T07:30:00.250Z",
    });
    expect(rows[0]!.t).toBe("2026-03-08T07:30:00.250Z");
  });

  it("binds values as parameters: a quote in a value is data, not SQL", async () => {
    const rows = await engine.ch.query<{ s: string }>("SELECT {s:String} AS s", { s: "x' OR 1=1 --" });
    expect(rows[0]!.s).toBe("x' OR 1=1 --");
  });

  it("a guardrail hit becomes CLICKHOUSE_QUERY_LIMIT, not a crash", async () => {
    const err = await engine.ch
      .query(withQuerySettings("SELECT count() FROM numbers(10000000)", { max_rows_to_read: 1000 }))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe("CLICKHOUSE_QUERY_LIMIT");
    expect((err as AppError).details).toEqual({ reason: "TOO_MANY_ROWS" });
  });

  it("a SQL error becomes CLICKHOUSE_REJECTED with the ClickHouse error type", async () => {
    const err = await engine.ch.query("SELECT * FROM no_such_table_here").catch((e: unknown) => e);
    expect((err as AppError).code).toBe("CLICKHOUSE_REJECTED");
    expect((err as AppError).details).toEqual({ reason: "UNKNOWN_TABLE" });
  });

  it("64-bit integers come back as numbers here (strings from a server) and ping answers", async () => {
    const rows = await engine.ch.query<{ n: unknown }>("SELECT toUInt64(42) AS n");
    expect(["number", "string"]).toContain(typeof rows[0]!.n);
    expect(await engine.ch.ping()).toEqual({ ok: true });
    expect(engine.ch.mode).toBe("embedded");
  });
});
