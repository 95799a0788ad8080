// Bundles each entry point into dist/ for container images (no TypeScript loader at run time).
// chdb stays external: it is loaded lazily and only in embedded mode.
import { build } from "esbuild";

const entries = {
  collector: "apps/collector/src/main.ts",
  query: "apps/query/src/main.ts",
  standalone: "apps/standalone/src/main.ts",
  migrate: "packages/clickhouse/src/migrate-cli.ts",
};
await build({
  entryPoints: entries,
  bundle: true,
  platform: "node",
  target: "node20",
  format: "cjs",
  outdir: "dist",
  sourcemap: true,
  external: ["chdb", "chdb/*"],
  logLevel: "info",
});
