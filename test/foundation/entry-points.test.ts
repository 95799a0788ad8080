import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";

/**
 * The three entry points as a user starts them: `pnpm start`, `pnpm start:collector`,
 * `pnpm start:query`. One SIGTERM to the pnpm process stops the server (port and data folder free);
 * a second process on a held data folder or port prints one line naming the variable and exits 2.
 */
const root = path.resolve(__dirname, "../..");
// Generous: under the whole suite on a shared 2-core machine one start (engine, 13 migrations) took
// tens of seconds.
const START_MS = 150_000;
const TEST_MS = 400_000;
const dirs: string[] = [];

function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "bm-entry-"));
  dirs.push(d);
  return d;
}

/** Every process a test started (pnpm, sh, node servers): none may outlive a failed test. */
const pids = new Set<number>();

afterAll(() => {
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: "127.0.0.1" });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A wait with a deadline and a message, so a slow machine fails with what was being waited for. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} not within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

async function until(what: string, check: () => boolean | Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface Running {
  child: ChildProcess;
  /** The node process that serves (from its own log lines). */
  serverPid: number;
  lines: string[];
}

function env(extra: Record<string, string>): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: "info", ...extra };
  // Whatever the test runner was started with, the child's package manager sets its own.
  delete e.npm_lifecycle_event;
  delete e.CLICKHOUSE_URL;
  return e;
}

function waitListening(child: ChildProcess, lines: string[]): Promise<Running> {
  if (child.pid) pids.add(child.pid);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`not listening after ${START_MS / 1000} s:\n${lines.join("\n")}`)),
      START_MS,
    );
    readline.createInterface({ input: child.stdout! }).on("line", (line) => {
      lines.push(line);
      if (!line.startsWith("{")) return;
      const entry = JSON.parse(line) as { msg?: string; pid?: number };
      if (entry.msg === "listening" && entry.pid) {
        pids.add(entry.pid);
        clearTimeout(timer);
        resolve({ child, serverPid: entry.pid, lines });
      }
    });
    child.stderr!.on("data", (d: Buffer) => lines.push(d.toString()));
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code}:\n${lines.join("\n")}`));
    });
  });
}

function pnpmRun(script: string, extra: Record<string, string>): Promise<Running> {
  const child = spawn("pnpm", ["run", "--silent", script], {
    cwd: root,
    env: env(extra),
    stdio: ["ignore", "pipe", "pipe"],
  });
  return waitListening(child, []);
}

/** The entry point without a package manager, and what it wrote to stderr when it exits. */
function nodeRun(
  main: string,
  extra: Record<string, string>,
): { child: ChildProcess; exited: Promise<{ code: number | null; stderr: string }> } {
  const child = spawn(process.execPath, ["--import", "tsx", main], {
    cwd: root,
    env: env(extra),
    stdio: ["ignore", "pipe", "pipe"],
  });
  if (child.pid) pids.add(child.pid);
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  child.stdout!.resume();
  const exited = new Promise<{ code: number | null; stderr: string }>((resolve) =>
    child.once("exit", (code) => resolve({ code, stderr })),
  );
  return { child, exited };
}

describe.each([
  ["start", "budmetrics"],
  ["start:collector", "budmetrics-collector"],
  ["start:query", "budmetrics-query"],
])("pnpm %s", (script) => {
  it(
    "stops the server, frees its port and data folder on one SIGTERM to the pnpm process",
    async () => {
      const port = await freePort();
      const dataDir = tempDir();
      const run = await pnpmRun(script, { PORT: String(port), DATA_DIR: dataDir });
      expect(run.serverPid).not.toBe(run.child.pid);
      expect(await portOpen(port)).toBe(true);
      const pnpmExit = new Promise<void>((resolve) => run.child.once("exit", () => resolve()));
      process.kill(run.child.pid!, "SIGTERM");
      await within(pnpmExit, 60_000, "pnpm exit after SIGTERM");
      await until("server process gone", () => !alive(run.serverPid), 60_000);
      expect(await portOpen(port)).toBe(false);
      // The folder is free: another process opens it.
      const next = await pnpmRun(script, { PORT: String(port), DATA_DIR: dataDir });
      const nextExit = new Promise<void>((resolve) => next.child.once("exit", () => resolve()));
      process.kill(next.child.pid!, "SIGINT");
      await within(nextExit, 60_000, "pnpm exit after SIGINT");
      await until("second server process gone", () => !alive(next.serverPid), 60_000);
    },
    TEST_MS,
  );
});

it(
  "a server run by a package manager drains and exits when its parent dies without passing a signal on",
  async () => {
    const port = await freePort();
    // sh stays the parent (the trailing `:` keeps it from exec-ing node); SIGKILL leaves node orphaned.
    const child = spawn("sh", ["-c", `"${process.execPath}" --import tsx apps/standalone/src/main.ts; :`], {
      cwd: root,
      env: { ...env({ PORT: String(port), DATA_DIR: tempDir() }), npm_lifecycle_event: "start" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const run = await waitListening(child, []);
    expect(run.serverPid).not.toBe(child.pid);
    child.kill("SIGKILL");
    await until("orphaned server gone", () => !alive(run.serverPid), 60_000);
    expect(run.lines.some((l) => l.includes('"parent process gone"'))).toBe(true);
    expect(run.lines.some((l) => l.includes('"shutdown finished"') && l.includes('"ok":true'))).toBe(true);
    expect(await portOpen(port)).toBe(false);
  },
  TEST_MS,
);

describe("start-up conflicts", () => {
  let holder: ChildProcess | undefined;
  afterAll(async () => {
    if (holder && holder.exitCode === null) {
      const gone = new Promise((r) => holder!.once("exit", r));
      holder.kill("SIGTERM");
      await within(gone, 60_000, "holder exit");
    }
  });

  it(
    "a second process on a held data folder or port prints one line naming the variable and exits 2",
    async () => {
      const dataDir = tempDir();
      const port = await freePort();
      const first = nodeRun("apps/standalone/src/main.ts", { PORT: String(port), DATA_DIR: dataDir });
      holder = first.child;
      await until("first process listening", () => portOpen(port), START_MS);

      const otherPort = await freePort();
      const folder = nodeRun("apps/standalone/src/main.ts", { PORT: String(otherPort), DATA_DIR: dataDir });
      const f = await within(folder.exited, START_MS, "second process on the held folder");
      expect(f.code).toBe(2);
      expect(f.stderr.trim().split("\n")).toHaveLength(1);
      expect(f.stderr).toContain("DATA_DIR");
      expect(f.stderr).toContain(String(first.child.pid));
      expect(f.stderr).not.toMatch(/\n\s+at |DB::Exception|Cannot lock/);

      for (const main of [
        "apps/standalone/src/main.ts",
        "apps/collector/src/main.ts",
        "apps/query/src/main.ts",
      ]) {
        const taken = nodeRun(main, { PORT: String(port), DATA_DIR: tempDir() });
        const t = await within(taken.exited, START_MS, `${main} on the taken port`);
        expect({ main, code: t.code }).toEqual({ main, code: 2 });
        expect(t.stderr.trim().split("\n")).toHaveLength(1);
        expect(t.stderr).toContain(`port ${port}`);
        expect(t.stderr).toContain("set PORT");
        expect(t.stderr).not.toMatch(/\n\s+at |EADDRINUSE/);
      }
      // The holder was never disturbed.
      expect(await portOpen(port)).toBe(true);
    },
    TEST_MS,
  );

  it(
    "a data folder left by a killed process is no conflict",
    async () => {
      const dataDir = tempDir();
      const port = await freePort();
      const first = nodeRun("apps/standalone/src/main.ts", { PORT: String(port), DATA_DIR: dataDir });
      await until("first process listening", () => portOpen(port), START_MS);
      first.child.kill("SIGKILL");
      await first.exited;
      const again = nodeRun("apps/standalone/src/main.ts", { PORT: String(port), DATA_DIR: dataDir });
      await until("restarted process listening", () => portOpen(port), START_MS);
      again.child.kill("SIGTERM");
      expect((await within(again.exited, 60_000, "restarted process exit")).code).toBe(0);
    },
    TEST_MS,
  );
});
