/**
 * `pnpm migrate [--status | --verify-only | --dry-run] [--max-retries N] [--retry-delay SECONDS]
 *               [--pause-deployment NAME [--pause-timeout SECONDS] [--namespace NS] [--kube-api URL]]`
 * Applies pending migrations to the configured ClickHouse (CLICKHOUSE_URL, or the embedded engine
 * in DATA_DIR). With --pause-deployment (the Helm hook passes the collector's Deployment), a run whose
 * pending migrations backfill scales that Deployment to 0 first and restores it afterwards
 * (pause-ingestion.ts). Exit codes: 0 ok, 1 failure, 2 bad usage or configuration.
 */
import { parseArgs } from "node:util";
import { ConfigError, loadConfig } from "@budmetrics/config";
import { AppError } from "@budmetrics/errors";
import { createLogger } from "@budmetrics/logger";
import { createClickHouse, type ClickHouse } from "./client";
import { migrateConfigSchema } from "./config";
import { migrate, migrationStatus, renderContextFrom, verifyMigrations } from "./migrations";
import { backfills, inClusterKubeApi, withDeploymentPaused } from "./pause-ingestion";

const schema = migrateConfigSchema;

async function connectWithRetries(connect: () => Promise<ClickHouse>, maxRetries: number, delayMs: number) {
  for (let attempt = 0; ; attempt++) {
    const ch = await connect();
    const ping = await ch.ping();
    if (ping.ok) return ch;
    await ch.close().catch(() => undefined);
    if (attempt >= maxRetries)
      throw new Error(`ClickHouse not reachable after ${attempt + 1} attempts: ${ping.detail}`);
    process.stderr.write(
      `clickhouse not ready (${ping.detail}); retry ${attempt + 1}/${maxRetries} in ${delayMs} ms\n`,
    );
    await new Promise((r) => setTimeout(r, delayMs));
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      status: { type: "boolean", default: false },
      "verify-only": { type: "boolean", default: false },
      "dry-run": { type: "boolean", default: false },
      "max-retries": { type: "string", default: "0" },
      "retry-delay": { type: "string", default: "2" },
      "pause-deployment": { type: "string" },
      "pause-timeout": { type: "string", default: "300" },
      namespace: { type: "string" },
      "kube-api": { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(
      "usage: pnpm migrate [--status | --verify-only | --dry-run] [--max-retries N] [--retry-delay SECONDS]\n" +
        "                    [--pause-deployment NAME [--pause-timeout SECONDS] [--namespace NS] [--kube-api URL]]\n" +
        "  --pause-deployment: when a pending migration backfills, scale this Kubernetes Deployment (the collector)\n" +
        "  to 0 for the run, wait until its pods are gone (at most --pause-timeout), restore it afterwards\n",
    );
    return 0;
  }
  const maxRetries = Number(values["max-retries"]);
  const retryDelaySeconds = Number(values["retry-delay"]);
  const pauseTimeoutSeconds = Number(values["pause-timeout"]);
  if (!Number.isInteger(maxRetries) || maxRetries < 0 || !(retryDelaySeconds >= 0)) {
    process.stderr.write("--max-retries must be an integer ≥ 0 and --retry-delay a number of seconds ≥ 0\n");
    return 2;
  }
  if (!(pauseTimeoutSeconds > 0)) {
    process.stderr.write("--pause-timeout must be a number of seconds > 0\n");
    return 2;
  }
  let config;
  try {
    config = loadConfig(schema, process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const log = createLogger({ level: config.LOG_LEVEL, name: "migrate" });
  const ctx = renderContextFrom(config);

  if (values["dry-run"] && !config.CLICKHOUSE_URL) {
    // Printing SQL needs no engine; do not take the embedded data folder's lock for it.
    const { loadMigrations, bootstrapStatements, renderMigration } = await import("./migrations");
    for (const sql of bootstrapStatements(ctx)) process.stdout.write(`${sql};\n\n`);
    for (const m of loadMigrations()) {
      process.stdout.write(`-- ${m.file}\n`);
      for (const sql of renderMigration(m.source, ctx)) process.stdout.write(`${sql};\n\n`);
    }
    return 0;
  }

  const ch = await connectWithRetries(
    () => createClickHouse(config, log),
    maxRetries,
    retryDelaySeconds * 1000,
  );
  try {
    if (values.status) {
      const s = await migrationStatus(ch, ctx);
      for (const a of s.applied) {
        process.stdout.write(`applied  ${String(a.version).padStart(4, "0")}_${a.name}  ${a.applied_at}\n`);
      }
      for (const p of s.pending) process.stdout.write(`pending  ${p.file}\n`);
      for (const m of s.mismatched) process.stdout.write(`CHANGED  ${m.version} ${m.name}: ${m.reason}\n`);
      return s.mismatched.length > 0 ? 1 : 0;
    }
    if (values["verify-only"]) {
      const v = await verifyMigrations(ch, ctx);
      if (v.ok) process.stdout.write("schema verified: every migration applied and every table present\n");
      for (const p of v.problems) process.stdout.write(`problem: ${p}\n`);
      return v.ok ? 0 : 1;
    }
    const run = () =>
      migrate(ch, {
        ctx,
        log,
        dryRun: values["dry-run"],
        print: (sql) => process.stdout.write(`${sql}\n`),
      });
    const deployment = values["pause-deployment"];
    const needPause =
      deployment && !values["dry-run"]
        ? (await migrationStatus(ch, ctx)).pending.filter((m) => backfills(m, ctx))
        : [];
    let report;
    if (deployment && needPause.length > 0) {
      const { api, namespace: own } = inClusterKubeApi(process.env, values["kube-api"]);
      const namespace = values.namespace ?? own;
      if (!namespace) {
        process.stderr.write("--pause-deployment needs --namespace outside a Kubernetes pod\n");
        return 2;
      }
      process.stdout.write(
        `${needPause.map((m) => m.file).join(", ")} backfill(s): pausing deployment ${namespace}/${deployment} for this run\n`,
      );
      report = await withDeploymentPaused(
        api,
        { namespace, deployment, timeoutMs: pauseTimeoutSeconds * 1000, log },
        run,
      );
    } else {
      report = await run();
    }
    if (!values["dry-run"]) {
      process.stdout.write(
        `applied ${report.applied.length} migration(s), ${report.skipped} already applied\n`,
      );
    }
    return 0;
  } finally {
    await ch.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    // A held data folder is the operator's to resolve (DATA_DIR), as at the apps' start: exit 2.
    if (err instanceof AppError && err.code === "STARTUP_CONFLICT") {
      process.stderr.write(`migrate cannot start: ${err.publicMessage}\n`);
      process.exit(2);
    }
    process.stderr.write(`migrate failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
