/**
 * Prints the README configuration table from the config schemas (`pnpm config:table`), or rewrites
 * the table between the README's config-table markers (`pnpm config:table --write`).
 */
import fs from "node:fs";
import path from "node:path";
import { describeConfig } from "@budmetrics/config";
import { standaloneConfigSchema } from "../apps/standalone/src/config";

export function configTable(): string {
  const rows = describeConfig(standaloneConfigSchema).map(
    (r) => `| \`${r.name}\` | ${r.type} | \`${r.default}\` | ${r.doc.replace(/\|/g, "\\|")} |`,
  );
  return ["| variable | type | default | meaning |", "|---|---|---|---|", ...rows].join("\n");
}

if (require.main === module) {
  if (process.argv.includes("--write")) {
    const file = path.resolve(__dirname, "../README.md");
    const text = fs.readFileSync(file, "utf8");
    const re = /(<!-- config-table:start -->\n)[\s\S]*?(\n<!-- config-table:end -->)/;
    if (!re.test(text)) throw new Error("README.md has no config-table markers");
    fs.writeFileSync(
      file,
      text.replace(re, (_m, a: string, b: string) => `${a}${configTable()}${b}`),
    );
  } else {
    process.stdout.write(`${configTable()}\n`);
  }
}
