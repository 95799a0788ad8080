import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";

/** The real `pnpm start` entry point as a child process: health, readiness, SIGTERM. */
const root = path.resolve(__dirname, "../..");
const tsx = path.join(root, "node_modules/.bin/tsx");

function startStandalone(
  env: Record<string, string>,
): Promise<{ child: ChildProcess; port: number; lines: string[] }> {
  const child = spawn(tsx, ["apps/standalone/src/main.ts"], {
    cwd: root,
    env: { ...process.env, PORT: "0", LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`not listening after 30 s:\n${lines.join("\n")}`)),
      30_000,
    );
    readline.createInterface({ input: child.stdout! }).on("line", (line) => {
      lines.push(line);
      const entry = JSON.parse(line) as { msg?: string; address?: { port: number } };
      if (entry.msg === "listening" && entry.address) {
        clearTimeout(timer);
        resolve({ child, port: entry.address.port, lines });
      }
    });
    child.stderr!.on("data", (d: Buffer) => lines.push(d.toString()));
    child.once("exit", (code) => reject(new Error(`exited with ${code}:\n${lines.join("\n")}`)));
  });
}

describe("standalone (pnpm start)", () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "bm-standalone-"));
  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it("starts on the embedded engine, reports each component healthy, and exits 0 on SIGTERM", async () => {
    const { child, port, lines } = await startStandalone({
      DATA_DIR: dataDir,
      CLICKHOUSE_DATABASE: "bm_standalone",
    });
    try {
      const health = await fetch(`http://127.0.0.1:${port}/health`);
      expect(health.status).toBe(200);
      const body = (await health.json()) as {
        status: string;
        apps: string[];
        components: Record<string, { status: string }>;
      };
      expect(body.apps).toEqual(["collector", "query"]);
      expect(body.components.clickhouse).toMatchObject({ status: "ok", mode: "embedded" });
      expect(body.components.cache).toBeDefined();
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
      expect(ready.status).toBe(200);
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(metrics).toContain("process_resident_memory_bytes");
    } finally {
      const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
      child.kill("SIGTERM");
      const code = await exited;
      expect(lines.some((l) => l.includes('"shutdown finished"') && l.includes('"ok":true'))).toBe(true);
      expect(code).toBe(0);
    }
  });

  it("refuses to start with every bad variable listed and exit code 2", async () => {
    const child = spawn(tsx, ["apps/standalone/src/main.ts"], {
      cwd: root,
      env: { ...process.env, PORT: "abc", CLICKHOUSE_DATABASE: "bad-name!", DATA_DIR: dataDir },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    expect(code).toBe(2);
    expect(stderr).toContain('PORT must be an integer, got "abc"');
    expect(stderr).toContain("CLICKHOUSE_DATABASE must match");
  });
});
