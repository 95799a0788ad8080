/**
 * Every YAML file of the repository that is YAML before rendering (not the Helm templates, not the
 * generated lockfile): yamllint with the repository's .yamllint.yaml, warnings included (skipped with
 * the reason printed where yamllint is not installed; .ci/run installs it from Debian), and always a
 * strict parse with the `yaml` package that refuses duplicate keys and any parse warning.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import YAML from "yaml";
import { findTool, ROOT, skipNotice } from "./tools";

const SKIP_DIRS = new Set([
  "node_modules",
  ".git",
  ".tools",
  ".data",
  "dist",
  "coverage",
  ".bench",
  ".scratch",
]);
function yamlFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    const rel = path.relative(ROOT, p);
    if (e.isDirectory()) {
      if (!SKIP_DIRS.has(e.name) && rel !== "helm/budmetrics/templates") out.push(...yamlFiles(p));
    } else if (/\.ya?ml$/.test(e.name) && rel !== "pnpm-lock.yaml") out.push(rel);
  }
  return out.sort();
}
const files = yamlFiles(ROOT);

function strictParse(text: string): string[] {
  return YAML.parseAllDocuments(text, { uniqueKeys: true, strict: true }).flatMap((d) => [
    ...d.errors.map((e) => e.message),
    ...d.warnings.map((w) => w.message),
  ]);
}

describe("YAML files, strict parse (yaml package)", () => {
  it("finds the files it should", () => {
    expect(files).toEqual(
      expect.arrayContaining(["components/subscription.yaml", "helm/budmetrics/values.yaml"]),
    );
  });

  it("refuses a duplicate key", () => {
    expect(strictParse("a: 1\nb: 2\na: 3\n").join()).toMatch(/unique/i);
  });

  it.each(files)("%s parses without duplicate keys or warnings", (file) => {
    expect(strictParse(fs.readFileSync(path.join(ROOT, file), "utf8"))).toEqual([]);
  });
});

const yamllint = findTool("yamllint", [], ["--version"]);
if (!yamllint) {
  skipNotice(
    "test/deploy/yaml-lint.test.ts (yamllint)",
    "yamllint is not installed (apt-get install yamllint; .ci/run does)",
    "The strict parse of every YAML file ran regardless.",
  );
}
(yamllint ? describe : describe.skip)("yamllint (the repository's .yamllint.yaml)", () => {
  it("reports nothing, warnings included, on every YAML file", () => {
    const r = spawnSync(yamllint ?? "yamllint", ["--strict", "-f", "parsable", ...files], {
      cwd: ROOT,
      encoding: "utf8",
    });
    expect(r.stdout.trim()).toBe("");
    expect(r.status).toBe(0);
  });

  it("would report a problem (the config is in force)", () => {
    const r = spawnSync(yamllint ?? "yamllint", ["--strict", "-f", "parsable", "-"], {
      cwd: ROOT,
      input: "a: 1\na: 2\nb:   [ x ]\n",
      encoding: "utf8",
    });
    expect(r.stdout).toContain("key-duplicates");
    expect(r.status).not.toBe(0);
  });
});
