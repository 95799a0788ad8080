import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { commonErrors } from "@budmetrics/errors";
import type { Logger } from "@budmetrics/logger";
import { Tables } from "@budmetrics/schema";
import type { ClickHouse } from "./client";

/**
 * Numbered SQL migrations (`migrations/NNNN_name.sql`) rendered for single-node or cluster mode and
 * recorded in `schema_migrations` (version, name, checksum of the file, statements, applied_at).
 * Every statement is idempotent (IF NOT EXISTS), so a run that failed half-way is simply re-run;
 * a version is recorded only after all of its statements succeeded.
 *
 * Template tokens (all other text is passed through):
 *   {{db}}                      database name
 *   {{on_cluster}}              "" or ON CLUSTER '<cluster>'
 *   {{local NAME}}              NAME, or NAME_local in cluster mode (the shard-local table)
 *   {{engine E}}                E, or the Replicated variant of E in cluster mode
 *   {{ttl COLUMN SETTING}}      TTL toDateTime(COLUMN) + INTERVAL <SETTING> DAY, or "" when the setting is 0
 *   {{distributed NAME KEY}}    "" or a Distributed table NAME over NAME_local sharded by KEY
 *   {{cluster_only}}            the statement it is in runs in cluster mode only (a change to the
 *                               Distributed tables, which single-node mode does not have)
 */
export interface Migration {
  version: number;
  name: string;
  file: string;
  source: string;
  checksum: string;
}

export interface RenderContext {
  database: string;
  cluster: string | null;
  ttlDays: Readonly<Record<string, number>>;
}

/** The repo's migrations/ folder: the nearest one above this file (source tree or a bundle in dist/). */
function findMigrationsDir(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, "migrations");
    if (fs.existsSync(path.join(candidate, "0001_inference_events.sql"))) return candidate;
    if (path.dirname(dir) === dir) return path.resolve(__dirname, "../../../migrations");
  }
}

export const DEFAULT_MIGRATIONS_DIR = findMigrationsDir();

const FILE_RE = /^(\d{4})_([a-z0-9_]+)\.sql$/;

export function loadMigrations(dir: string = DEFAULT_MIGRATIONS_DIR): Migration[] {
  const out: Migration[] = [];
  for (const file of fs.readdirSync(dir).sort()) {
    if (!file.endsWith(".sql")) continue;
    const m = FILE_RE.exec(file);
    if (!m) throw new Error(`migration file ${file} does not match NNNN_name.sql`);
    const source = fs.readFileSync(path.join(dir, file), "utf8");
    out.push({
      version: Number(m[1]),
      name: m[2]!,
      file,
      source,
      checksum: crypto.createHash("sha256").update(source).digest("hex"),
    });
  }
  const seen = new Set<number>();
  for (const mg of out) {
    if (seen.has(mg.version)) throw new Error(`two migration files share version ${mg.version}`);
    seen.add(mg.version);
  }
  return out;
}

function replicated(engine: string): string {
  const m = /^(\w*MergeTree)(?:\((.*)\))?$/.exec(engine.trim());
  if (!m) throw new Error(`cannot replicate engine ${engine}`);
  const args = ["'/clickhouse/tables/{shard}/{database}/{table}'", "'{replica}'"];
  if (m[2] && m[2].trim().length > 0) args.push(m[2].trim());
  return `Replicated${m[1]}(${args.join(", ")})`;
}

/** Marks a statement that single-node mode leaves out (`{{cluster_only}}`); never valid SQL. */
const SINGLE_NODE_SKIP = "\u0000cluster-only\u0000";

/** Renders one migration into its statements for the given mode. Pure; tested on exact SQL. */
export function renderMigration(source: string, ctx: RenderContext): string[] {
  const q = (s: string) => `'${s}'`;
  const rendered = source.replace(
    /\{\{\s*([a-z_]+)\s*([^}]*)\}\}/g,
    (_all, token: string, argText: string) => {
      const args = argText.trim().split(/\s+/).filter(Boolean);
      switch (token) {
        case "db":
          return ctx.database;
        case "on_cluster":
          return ctx.cluster ? `ON CLUSTER ${q(ctx.cluster)}` : "";
        case "local":
          return ctx.cluster ? `${args[0]}_local` : args[0]!;
        case "engine":
          return ctx.cluster ? replicated(argText) : argText.trim();
        case "ttl": {
          const [column, setting] = args;
          const days = ctx.ttlDays[setting!];
          if (days === undefined) throw new Error(`unknown TTL setting ${setting}`);
          return days > 0 ? `TTL toDateTime(${column}) + INTERVAL ${days} DAY` : "";
        }
        case "cluster_only":
          return ctx.cluster ? "" : SINGLE_NODE_SKIP;
        case "distributed": {
          if (!ctx.cluster) return "";
          const [name, ...key] = args;
          return (
            `CREATE TABLE IF NOT EXISTS ${ctx.database}.${name} ON CLUSTER ${q(ctx.cluster)} ` +
            `AS ${ctx.database}.${name}_local ` +
            `ENGINE = Distributed(${q(ctx.cluster)}, ${q(ctx.database)}, ${q(`${name}_local`)}, ${key.join(" ")})`
          );
        }
        default:
          throw new Error(`unknown migration token {{${token}}}`);
      }
    },
  );
  return rendered
    .split("\n")
    .filter((line) => !line.trimStart().startsWith("--"))
    .join("\n")
    .split(/;\s*(?:\n|$)/)
    .map((s) => s.replace(/[ \t]+\n/g, "\n").trim())
    .filter((s) => s.length > 0 && !s.includes(SINGLE_NODE_SKIP));
}

/** The statements that create the database and the version table. */
export function bootstrapStatements(ctx: RenderContext): string[] {
  const onCluster = ctx.cluster ? ` ON CLUSTER '${ctx.cluster}'` : "";
  const engine = ctx.cluster
    ? replicated("ReplacingMergeTree(applied_at)")
    : "ReplacingMergeTree(applied_at)";
  return [
    `CREATE DATABASE IF NOT EXISTS ${ctx.database}${onCluster}`,
    `CREATE TABLE IF NOT EXISTS ${ctx.database}.${Tables.migrations}${onCluster}\n(\n` +
      `    version UInt32,\n    name String,\n    checksum String,\n    statements UInt32,\n` +
      `    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)\n)\nENGINE = ${engine}\nORDER BY version`,
  ];
}

export interface AppliedMigration {
  version: number;
  name: string;
  checksum: string;
  statements: number;
  applied_at: string;
}

export interface MigrationStatus {
  applied: AppliedMigration[];
  pending: Migration[];
  /** Applied versions whose file changed since (or disappeared). */
  mismatched: Array<{ version: number; name: string; reason: string }>;
}

async function readApplied(ch: ClickHouse, database: string): Promise<AppliedMigration[]> {
  const exists = await ch.query<{ n: number | string }>(
    "SELECT count() AS n FROM system.tables WHERE database = {db:String} AND name = {t:String}",
    { db: database, t: Tables.migrations },
  );
  if (Number(exists[0]?.n ?? 0) === 0) return [];
  const rows = await ch.query<AppliedMigration>(
    `SELECT version, name, checksum, statements, applied_at FROM ${database}.${Tables.migrations} FINAL ORDER BY version`,
  );
  return rows.map((r) => ({ ...r, version: Number(r.version), statements: Number(r.statements) }));
}

export async function migrationStatus(
  ch: ClickHouse,
  ctx: RenderContext,
  migrations: Migration[] = loadMigrations(),
): Promise<MigrationStatus> {
  const applied = await readApplied(ch, ctx.database);
  const byVersion = new Map(applied.map((a) => [a.version, a]));
  const files = new Map(migrations.map((m) => [m.version, m]));
  const mismatched: MigrationStatus["mismatched"] = [];
  for (const a of applied) {
    const file = files.get(a.version);
    if (!file)
      mismatched.push({ version: a.version, name: a.name, reason: "applied but the file is missing" });
    else if (file.checksum !== a.checksum) {
      mismatched.push({ version: a.version, name: a.name, reason: "file changed after it was applied" });
    }
  }
  return { applied, pending: migrations.filter((m) => !byVersion.has(m.version)), mismatched };
}

export interface MigrateOptions {
  ctx: RenderContext;
  log: Logger;
  dryRun?: boolean;
  migrations?: Migration[];
  /** Receives each statement in dry-run mode. */
  print?: (sql: string) => void;
}

export interface MigrateReport {
  applied: Array<{ version: number; name: string; statements: number; durationMs: number }>;
  skipped: number;
}

export async function migrate(ch: ClickHouse, opts: MigrateOptions): Promise<MigrateReport> {
  const migrations = opts.migrations ?? loadMigrations();
  const log = opts.log.child({ component: "migrate" });
  const report: MigrateReport = { applied: [], skipped: 0 };

  if (opts.dryRun) {
    // Dry run prints everything it would run for pending versions; with no database yet, all of them.
    let pending = migrations;
    try {
      pending = (await migrationStatus(ch, opts.ctx, migrations)).pending;
    } catch {
      /* database unreachable in a dry run: print all */
    }
    for (const sql of bootstrapStatements(opts.ctx)) opts.print?.(`${sql};\n`);
    for (const m of pending) {
      opts.print?.(`-- ${m.file}\n`);
      for (const sql of renderMigration(m.source, opts.ctx)) opts.print?.(`${sql};\n`);
    }
    report.skipped = migrations.length - pending.length;
    return report;
  }

  for (const sql of bootstrapStatements(opts.ctx)) await ch.command(sql);
  const status = await migrationStatus(ch, opts.ctx, migrations);
  if (status.mismatched.length > 0) {
    const first = status.mismatched[0]!;
    throw commonErrors.create(
      "MIGRATION_CHECKSUM_MISMATCH",
      `migration ${String(first.version).padStart(4, "0")}_${first.name}: ${first.reason}; add a new migration instead of editing an applied one`,
    );
  }
  report.skipped = migrations.length - status.pending.length;
  for (const m of status.pending) {
    const statements = renderMigration(m.source, opts.ctx);
    const t0 = Date.now();
    for (let i = 0; i < statements.length; i++) {
      const sql = statements[i]!;
      try {
        await ch.command(sql, undefined, { timeoutMs: 300_000 });
      } catch (err) {
        const firstLine = sql.split("\n")[0];
        throw commonErrors.create(
          "MIGRATION_FAILED",
          `migration ${m.file}, statement ${i + 1} of ${statements.length} (${firstLine}) failed: ${
            err instanceof Error ? err.message : String(err)
          }`,
          { cause: err, details: { file: m.file, statement: i + 1 } },
        );
      }
    }
    await ch.command(
      `INSERT INTO ${opts.ctx.database}.${Tables.migrations} (version, name, checksum, statements) ` +
        "VALUES ({version:UInt32}, {name:String}, {checksum:String}, {statements:UInt32})",
      { version: m.version, name: m.name, checksum: m.checksum, statements: statements.length },
    );
    const durationMs = Date.now() - t0;
    report.applied.push({ version: m.version, name: m.name, statements: statements.length, durationMs });
    log.info(
      { version: m.version, name: m.name, statements: statements.length, durationMs },
      "migration applied",
    );
  }
  return report;
}

/** Every migration applied, unchanged, and every table it declares present (unless a later one drops it). */
export async function verifyMigrations(
  ch: ClickHouse,
  ctx: RenderContext,
  migrations: Migration[] = loadMigrations(),
): Promise<{ ok: boolean; problems: string[] }> {
  const problems: string[] = [];
  const status = await migrationStatus(ch, ctx, migrations);
  for (const p of status.pending) problems.push(`migration ${p.file} is not applied`);
  for (const m of status.mismatched) problems.push(`migration ${m.version} (${m.name}): ${m.reason}`);
  const expected = new Set<string>();
  for (const m of migrations) {
    for (const sql of renderMigration(m.source, ctx)) {
      const mt = /^CREATE (?:MATERIALIZED VIEW|TABLE) IF NOT EXISTS ([\w]+)\.([\w]+)/.exec(sql);
      if (mt) expected.add(mt[2]!);
      const dropped = /^DROP (?:VIEW|TABLE) IF EXISTS ([\w]+)\.([\w]+)/.exec(sql);
      if (dropped) expected.delete(dropped[2]!);
    }
  }
  const rows = await ch.query<{ name: string }>(
    "SELECT name FROM system.tables WHERE database = {db:String}",
    {
      db: ctx.database,
    },
  );
  const present = new Set(rows.map((r) => r.name));
  for (const t of expected) if (!present.has(t)) problems.push(`table ${ctx.database}.${t} is missing`);
  return { ok: problems.length === 0, problems };
}

export function renderContextFrom(config: {
  CLICKHOUSE_DATABASE: string;
  CLICKHOUSE_CLUSTER: string | null;
  RAW_DATA_RETENTION_DAYS: number;
  METRICS_RETENTION_DAYS: number;
  AGGREGATED_DATA_RETENTION_DAYS: number;
  QUARANTINE_RETENTION_DAYS: number;
}): RenderContext {
  return {
    database: config.CLICKHOUSE_DATABASE,
    cluster: config.CLICKHOUSE_CLUSTER,
    ttlDays: {
      RAW_DATA_RETENTION_DAYS: config.RAW_DATA_RETENTION_DAYS,
      METRICS_RETENTION_DAYS: config.METRICS_RETENTION_DAYS,
      AGGREGATED_DATA_RETENTION_DAYS: config.AGGREGATED_DATA_RETENTION_DAYS,
      QUARANTINE_RETENTION_DAYS: config.QUARANTINE_RETENTION_DAYS,
    },
  };
}
