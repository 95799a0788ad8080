/** Prints the README configuration table from the config schemas (`pnpm config:table`). */
import { describeConfig } from "@budmetrics/config";
import { standaloneConfigSchema } from "../apps/standalone/src/config";

export function configTable(): string {
  const rows = describeConfig(standaloneConfigSchema).map(
    (r) => `| \`${r.name}\` | ${r.type} | \`${r.default}\` | ${r.doc.replace(/\|/g, "\\|")} |`,
  );
  return ["| variable | type | default | meaning |", "|---|---|---|---|", ...rows].join("\n");
}

if (require.main === module) process.stdout.write(`${configTable()}\n`);
