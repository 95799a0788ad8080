import fs from "node:fs";
import path from "node:path";
import { configTable } from "../../scripts/config-table";

/** The README's configuration table is generated from the schemas; this keeps it current. */
describe("README", () => {
  const readme = fs.readFileSync(path.resolve(__dirname, "../../README.md"), "utf8");

  it("holds the configuration table exactly as `pnpm config:table` prints it", () => {
    const m = /<!-- config-table:start -->\n([\s\S]*?)\n<!-- config-table:end -->/.exec(readme);
    expect(m).not.toBeNull();
    expect(m![1]).toBe(configTable());
  });

  it("names the two quick-start commands", () => {
    expect(readme).toContain("npm install -g pnpm@12.4.2 && pnpm install --frozen-lockfile && pnpm start");
    expect(readme).toMatch(/^pnpm test\s/m);
  });
});
