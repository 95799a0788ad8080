import {
  bootstrapStatements,
  loadMigrations,
  renderMigration,
  type RenderContext,
} from "@budmetrics/clickhouse";
import { INFERENCE_FIELDS } from "@budmetrics/schema";

const ttlDays = {
  RAW_DATA_RETENTION_DAYS: 90,
  METRICS_RETENTION_DAYS: 365,
  AGGREGATED_DATA_RETENTION_DAYS: 730,
  QUARANTINE_RETENTION_DAYS: 0,
};
const single: RenderContext = { database: "bm", cluster: null, ttlDays };
const cluster: RenderContext = { database: "bm", cluster: "prod", ttlDays };

function render(ctx: RenderContext, version: number): string[] {
  const m = loadMigrations().find((x) => x.version === version)!;
  return renderMigration(m.source, ctx);
}

describe("migration rendering", () => {
  it("single node: plain engines, no ON CLUSTER, no local or distributed tables", () => {
    const sql = loadMigrations()
      .flatMap((m) => renderMigration(m.source, single))
      .join("\n");
    expect(sql).not.toMatch(/ON CLUSTER|_local|Replicated|Distributed/);
    const [raw] = render(single, 1);
    expect(raw).toMatch(/^CREATE TABLE IF NOT EXISTS bm\.inference_events\n\(/);
    expect(raw).toContain("ENGINE = ReplacingMergeTree(received_at)");
    expect(raw).toContain("TTL toDateTime(request_arrival_time) + INTERVAL 90 DAY");
    expect(render(single, 1)).toHaveLength(1);
  });

  it("a retention of 0 days renders no TTL", () => {
    const [q] = render(single, 3);
    expect(q).not.toContain("TTL");
  });

  it("cluster mode: ON CLUSTER, Replicated engines on *_local tables, Distributed tables over them", () => {
    const stmts = render(cluster, 1);
    expect(stmts).toHaveLength(2);
    expect(stmts[0]).toMatch(/^CREATE TABLE IF NOT EXISTS bm\.inference_events_local ON CLUSTER 'prod'\n\(/);
    expect(stmts[0]).toContain(
      "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', received_at)",
    );
    expect(stmts[1]).toBe(
      "CREATE TABLE IF NOT EXISTS bm.inference_events ON CLUSTER 'prod' AS bm.inference_events_local " +
        "ENGINE = Distributed('prod', 'bm', 'inference_events_local', cityHash64(inference_id))",
    );
  });

  it("cluster mode: quarantine uses ReplicatedMergeTree with only the path and replica arguments", () => {
    const [q] = render(cluster, 3);
    expect(q).toContain(
      "ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')",
    );
  });

  it("cluster mode: views read local tables and write local rollups (5m from raw, 1h from 5m, 1d from 1h)", () => {
    const stmts = render(cluster, 4);
    const mv = (name: string) =>
      stmts.find((s) => s.startsWith(`CREATE MATERIALIZED VIEW IF NOT EXISTS bm.${name}_mv`))!;
    expect(mv("inference_rollup_5m")).toContain("ON CLUSTER 'prod'\nTO bm.inference_rollup_5m_local\n");
    expect(mv("inference_rollup_5m")).toContain("FROM bm.inference_events_local\n");
    expect(mv("inference_rollup_1h")).toContain("ON CLUSTER 'prod'\nTO bm.inference_rollup_1h_local\n");
    expect(mv("inference_rollup_1h")).toContain("FROM bm.inference_rollup_5m_local\n");
    expect(mv("inference_rollup_1d")).toContain("FROM bm.inference_rollup_1h_local\n");
    expect(stmts).toContain(
      "CREATE TABLE IF NOT EXISTS bm.inference_rollup_1h ON CLUSTER 'prod' AS bm.inference_rollup_1h_local " +
        "ENGINE = Distributed('prod', 'bm', 'inference_rollup_1h_local', cityHash64(project_id))",
    );
    const rollup = stmts.find((s) =>
      s.startsWith("CREATE TABLE IF NOT EXISTS bm.inference_rollup_1d_local"),
    )!;
    expect(rollup).toContain(
      "ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')",
    );
  });

  it("cluster mode: the database and version table are created on the cluster", () => {
    const [db, versions] = bootstrapStatements(cluster);
    expect(db).toBe("CREATE DATABASE IF NOT EXISTS bm ON CLUSTER 'prod'");
    expect(versions).toContain("CREATE TABLE IF NOT EXISTS bm.schema_migrations ON CLUSTER 'prod'");
    expect(versions).toContain(
      "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', applied_at)",
    );
  });

  it("0013 adds the span fields to the raw table, and in cluster mode to its Distributed table too", () => {
    const columnsOf = (stmt: string) =>
      [...stmt.matchAll(/ADD COLUMN IF NOT EXISTS (\w+)\s+(.+?)(?: CODEC\(.*\))?,?$/gm)].map((m) => [
        m[1],
        m[2],
      ]);
    const [alone, ...rest] = render(single, 13);
    expect(rest).toEqual([]);
    expect(alone).toMatch(/^ALTER TABLE bm\.inference_events\n/);
    const [local, distributed, ...more] = render(cluster, 13);
    expect(more).toEqual([]);
    expect(local).toMatch(/^ALTER TABLE bm\.inference_events_local ON CLUSTER 'prod'\n/);
    expect(distributed).toMatch(/^ALTER TABLE bm\.inference_events ON CLUSTER 'prod'\n/);
    expect(distributed).not.toContain("CODEC");
    // The same columns with the same types and defaults on both, and every one a declared field.
    expect(columnsOf(distributed!)).toEqual(columnsOf(local!));
    expect(columnsOf(local!).length).toBe(20);
    const declared = INFERENCE_FIELDS as Record<string, { column: string }>;
    for (const [name, type] of columnsOf(local!)) {
      expect([name, String(type).replace(/ DEFAULT .*$/, "")]).toEqual([name, declared[name!]?.column]);
    }
  });

  it("0014 and 0015 move the rollup: the shard-local tables are renamed, the Distributed inference_rollup keeps reading inference_rollup_local", () => {
    const [stop, create, distributed, copy, rename] = render(cluster, 14);
    expect(stop).toBe("DROP VIEW IF EXISTS bm.inference_rollup_mv ON CLUSTER 'prod'");
    expect(create).toMatch(
      /^CREATE TABLE IF NOT EXISTS bm\.inference_rollup_next_local ON CLUSTER 'prod'\n\(/,
    );
    expect(create).toContain(
      "ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')",
    );
    expect(create).toContain("SETTINGS index_granularity = 256, non_replicated_deduplication_window = 1000");
    expect(distributed).toBe(
      "CREATE TABLE IF NOT EXISTS bm.inference_rollup_next ON CLUSTER 'prod' AS bm.inference_rollup_next_local " +
        "ENGINE = Distributed('prod', 'bm', 'inference_rollup_next_local', cityHash64(project_id))",
    );
    // The copy goes from Distributed to Distributed (same sharding key: rows stay on their shard).
    expect(copy).toMatch(/^INSERT INTO bm\.inference_rollup_next\n/);
    expect(copy).toContain(
      "FROM bm.inference_rollup\nWHERE (SELECT count() FROM bm.inference_rollup_next) = 0",
    );
    expect(rename).toBe(
      "RENAME TABLE bm.inference_rollup_local TO bm.inference_rollup_old_local, " +
        "bm.inference_rollup_next_local TO bm.inference_rollup_local ON CLUSTER 'prod'",
    );
    const [view, dropOld, dropNext] = render(cluster, 15);
    expect(view).toMatch(
      /^CREATE MATERIALIZED VIEW IF NOT EXISTS bm\.inference_rollup_mv ON CLUSTER 'prod'\nTO bm\.inference_rollup_local\n/,
    );
    expect(view).toContain("FROM bm.inference_events_local");
    expect(dropOld).toBe("DROP TABLE IF EXISTS bm.inference_rollup_old_local ON CLUSTER 'prod'");
    expect(dropNext).toBe("DROP TABLE IF EXISTS bm.inference_rollup_next ON CLUSTER 'prod'");
    expect(render(single, 14)).toHaveLength(4);
    expect(render(single, 15)).toHaveLength(3);
  });

  it("{{cluster_only}} leaves its statement out in single-node mode only", () => {
    const src =
      "CREATE TABLE {{db}}.a (x UInt8) ENGINE = Memory;\n{{cluster_only}}\nALTER TABLE {{db}}.b ADD COLUMN y UInt8;";
    expect(renderMigration(src, single)).toEqual(["CREATE TABLE bm.a (x UInt8) ENGINE = Memory"]);
    expect(renderMigration(src, cluster)).toEqual([
      "CREATE TABLE bm.a (x UInt8) ENGINE = Memory",
      "ALTER TABLE bm.b ADD COLUMN y UInt8",
    ]);
  });

  it("unknown tokens are an error, not silently passed through", () => {
    expect(() => renderMigration("CREATE TABLE {{nope x}}", single)).toThrow(/unknown migration token/);
  });
});
