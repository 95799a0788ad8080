export { assertDataDirFree, createClickHouse, withQuerySettings, SESSION_SETTINGS } from "./client";
export { openClickHouse } from "./open";
export type { ClickHouse, ClickHouseMode, CallOptions } from "./client";
export { clickhouseConfigSchema, migrateConfigSchema } from "./config";
export type { ClickHouseConfig } from "./config";
export { classifyClickHouseError, DeadlineExceeded, insertOutcome, toClickHouseAppError } from "./errors";
export type { Classified } from "./errors";
export {
  loadMigrations,
  renderMigration,
  bootstrapStatements,
  migrate,
  migrationStatus,
  verifyMigrations,
  renderContextFrom,
  DEFAULT_MIGRATIONS_DIR,
} from "./migrations";
export type { Migration, RenderContext, MigrationStatus, MigrateReport } from "./migrations";
export { createClickHouseEventTable, readRetentionDays } from "./event-table";
export type { ClickHouseEventTable, EventTableTarget, InsertOutcome, StoredRow } from "./event-table";
export {
  backfills,
  createKubeApi,
  inClusterKubeApi,
  withDeploymentPaused,
  KubeApiError,
  PAUSED_REPLICAS_ANNOTATION,
} from "./pause-ingestion";
export type { KubeApi, Deployment, PauseOptions } from "./pause-ingestion";
