/**
 * pnpm migration:rollup — prints the inference rollup's table and view as declared in
 * packages/schema/src/rollups.ts, with the migration template tokens. Paste it into a NEW migration
 * when the declaration changes (applied migrations are never edited; migrations/0008 holds the first
 * rendering), with the backfill and clean-up that change needs.
 */
import { renderInferenceRollupDdl } from "@budmetrics/schema";

const ddl = renderInferenceRollupDdl();
process.stdout.write(`${ddl.table}\n\n${ddl.view}\n`);
