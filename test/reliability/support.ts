/** Shared pieces of the reliability runner: the service process, HTTP, waiting, the report table. */
import { fork, spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import type { FromService, ToService } from "./service-process";

export interface Service {
  url: string;
  port: number;
  child: ChildProcess;
  sql<T = Record<string, unknown>>(sql: string): Promise<T[]>;
  /** Graceful stop (drain) and wait for the exit. */
  stop(): Promise<void>;
  /** SIGKILL, no drain. */
  kill(): Promise<void>;
  rssMb(): number;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export function tempDir(name: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `bm-rel-${name}-`));
}

/** Starts the service (collector + query on the embedded engine) in a child process. */
export async function startService(env: Record<string, string>): Promise<Service> {
  const port = Number(env.PORT ?? (await freePort()));
  const child = fork(path.join(__dirname, "service-process.ts"), [], {
    env: {
      ...process.env,
      CLICKHOUSE_DATABASE: "bm_reliability",
      RAW_DATA_RETENTION_DAYS: "0",
      AGGREGATED_DATA_RETENTION_DAYS: "0",
      METRICS_RETENTION_DAYS: "0",
      QUARANTINE_RETENTION_DAYS: "0",
      LOG_LEVEL: "fatal",
      ...env,
      PORT: String(port),
    },
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "ignore", "inherit", "ipc"],
  });
  let nextId = 0;
  const waiting = new Map<number, { resolve: (rows: unknown[]) => void; reject: (e: Error) => void }>();
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.once("exit", () => {
      exited = true;
      for (const w of waiting.values()) w.reject(new Error("service exited"));
      resolve();
    }),
  );
  const ready = new Promise<void>((resolve, reject) => {
    child.on("message", (m: FromService) => {
      if (m.type === "ready") resolve();
      else if (m.type === "rows") waiting.get(m.id)?.resolve(m.rows);
      else if (m.type === "error") waiting.get(m.id)?.reject(new Error(m.message));
    });
    void exit.then(() => reject(new Error("service exited before it was ready")));
  });
  await ready;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    child,
    sql<T>(sql: string) {
      const id = nextId++;
      return new Promise<T[]>((resolve, reject) => {
        waiting.set(id, { resolve: (rows) => resolve(rows as T[]), reject });
        child.send({ type: "sql", id, sql } satisfies ToService);
      });
    },
    async stop() {
      if (exited) return;
      child.send({ type: "stop" } satisfies ToService);
      await Promise.race([exit, sleep(30_000).then(() => child.kill("SIGKILL"))]);
      await exit;
    },
    async kill() {
      if (exited) return;
      child.kill("SIGKILL");
      await exit;
    },
    rssMb() {
      try {
        const status = fs.readFileSync(`/proc/${child.pid}/status`, "utf8");
        return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
      } catch {
        return 0;
      }
    },
  };
}

/** A private Redis on its own port (the shared one must not be disturbed). */
export async function startRedis(port: number): Promise<{ stop(): Promise<void> }> {
  const child = spawn(
    "redis-server",
    ["--port", String(port), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"],
    {
      stdio: "ignore",
    },
  );
  for (let i = 0; i < 100; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, "127.0.0.1");
      s.once("connect", () => (s.destroy(), resolve(true)));
      s.once("error", () => resolve(false));
    });
    if (up) break;
    await sleep(50);
  }
  return {
    stop: () =>
      new Promise<void>((resolve) => {
        child.once("exit", () => resolve());
        child.kill("SIGKILL");
      }),
  };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function until(what: string, ok: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

export async function post(
  url: string,
  body: string | Buffer,
  headers: Record<string, string> = {},
): Promise<{ status: number; text: string; ms: number }> {
  const t0 = performance.now();
  try {
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body,
    });
    return { status: res.status, text: await res.text(), ms: performance.now() - t0 };
  } catch (err) {
    return { status: 0, text: err instanceof Error ? err.message : String(err), ms: performance.now() - t0 };
  }
}

export async function get(url: string): Promise<{ status: number; text: string; ms: number }> {
  const t0 = performance.now();
  try {
    const res = await fetch(url);
    return { status: res.status, text: await res.text(), ms: performance.now() - t0 };
  } catch (err) {
    return { status: 0, text: err instanceof Error ? err.message : String(err), ms: performance.now() - t0 };
  }
}

export interface Row {
  scenario: string;
  measured: string;
  result: "PASS" | "FAIL";
  detail?: string;
}

export function table(rows: Row[]): string {
  const head = ["scenario", "measured", "result"];
  const cells = rows.map((r) => [r.scenario, r.measured, r.result + (r.detail ? ` — ${r.detail}` : "")]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => `| ${c.map((x, i) => x.padEnd(widths[i]!)).join(" | ")} |`;
  return [line(head), `| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`, ...cells.map(line)].join("\n");
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}
