// Bundles each entry point into dist/ for container images (no TypeScript loader at run time, no
// node_modules in the image). chdb stays external: it is loaded lazily and only in embedded mode,
// which the image does not support. The query app's IP location data (geoip-lite's data files, read
// at run time, not bundled) is copied to dist/geoip, where the bundle looks for it.
// The explorer page (apps/query/ui, options in its bundle.json) is built to dist/ui, where the query
// bundle serves it from; esbuild stays external to the node bundles (only the source run needs it).
// `node scripts/build.mjs --outdir DIR` writes elsewhere (tests).
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
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
  external: ["chdb", "chdb/*", "esbuild"],
  logLevel: process.env.CI || values.outdir === "dist" ? "info" : "warning",
});

const fromQuery = createRequire(path.resolve("apps/query/package.json"));
const geoData = path.join(path.dirname(fromQuery.resolve("geoip-lite/package.json")), "data");
fs.cpSync(geoData, path.join(values.outdir, "geoip"), {
  recursive: true,
  filter: (src) => !src.endsWith(".checksum"),
});

const ui = JSON.parse(fs.readFileSync("apps/query/ui/bundle.json", "utf8"));
await build({
  entryPoints: { app: path.join("apps/query/ui", ui.entry) },
  bundle: true,
  minify: ui.minify,
  target: ui.target,
  format: "iife",
  outdir: path.join(values.outdir, "ui"),
  logLevel: "warning",
});
