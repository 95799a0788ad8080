// Bundles each entry point into dist/ for container images (no TypeScript loader at run time, no
// node_modules in the image). chdb stays external: it is loaded lazily and only in embedded mode,
// which the image does not support. `node scripts/build.mjs --outdir DIR` writes elsewhere (tests).
import { parseArgs } from "node:util";
import { build } from "esbuild";

const { values } = parseArgs({ options: { outdir: { type: "string", default: "dist" } } });
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
  outdir: values.outdir,
  sourcemap: true,
  external: ["chdb", "chdb/*"],
  logLevel: process.env.CI || values.outdir === "dist" ? "info" : "warning",
});
