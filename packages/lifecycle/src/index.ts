import fs from "node:fs";
import type { Logger } from "@budmetrics/logger";

/**
 * Ordered, time-boxed shutdown. Steps run in registration order (register "stop taking work"
 * first, "close clients" last); each has its own budget, and the whole run is bounded by the
 * deadline. `shutdown()` runs once; later calls get the same promise.
 */
export interface ShutdownStep {
  name: string;
  run: () => Promise<void> | void;
  timeoutMs: number;
}

export interface ShutdownReport {
  ok: boolean;
  steps: Array<{ name: string; ok: boolean; durationMs: number; error?: string }>;
}

export interface Lifecycle {
  onShutdown(name: string, run: ShutdownStep["run"], timeoutMs?: number): void;
  shutdown(reason: string): Promise<ShutdownReport>;
  readonly shuttingDown: boolean;
  /** Installs SIGTERM/SIGINT handlers that shut down and exit (0 when every step succeeded). */
  installSignalHandlers(exit?: (code: number) => void): void;
  /**
   * Shuts down and exits when this process's parent goes away (the process is re-parented). Package
   * managers do not pass a SIGTERM on to the script they run: `pnpm start` killed would otherwise
   * leave the server holding its port and data folder. Checked every `intervalMs` (unref'd timer).
   */
  watchParent(opts?: { intervalMs?: number; exit?: (code: number) => void }): void;
}

export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Whether `parent` is still this process's parent. `process.ppid` is read once at start in node 20,
 * so the live value comes from /proc; without /proc, whether that process still exists.
 */
function parentAlive(parent: number): boolean {
  try {
    const stat = fs.readFileSync("/proc/self/stat", "utf8");
    // pid (comm) state ppid …: comm may hold spaces and parentheses, so split after the last ")".
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    return ppid === parent;
  } catch {
    try {
      process.kill(parent, 0);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === "EPERM";
    }
  }
}

export function createLifecycle(opts: {
  log: Logger;
  deadlineMs: number;
  defaultStepMs?: number;
}): Lifecycle {
  const steps: ShutdownStep[] = [];
  let running: Promise<ShutdownReport> | undefined;
  const log = opts.log.child({ component: "lifecycle" });

  async function runAll(reason: string): Promise<ShutdownReport> {
    const started = Date.now();
    log.info({ reason, steps: steps.length, deadlineMs: opts.deadlineMs }, "shutdown started");
    const report: ShutdownReport = { ok: true, steps: [] };
    for (const step of steps) {
      const remaining = opts.deadlineMs - (Date.now() - started);
      const budget = Math.max(1, Math.min(step.timeoutMs, remaining));
      const t0 = Date.now();
      try {
        await withTimeout(Promise.resolve().then(step.run), budget, `shutdown step ${step.name}`);
        report.steps.push({ name: step.name, ok: true, durationMs: Date.now() - t0 });
      } catch (err) {
        report.ok = false;
        report.steps.push({ name: step.name, ok: false, durationMs: Date.now() - t0, error: String(err) });
        log.error({ err, step: step.name }, "shutdown step failed");
      }
    }
    log.info({ ok: report.ok, durationMs: Date.now() - started }, "shutdown finished");
    return report;
  }

  return {
    onShutdown(name, run, timeoutMs = opts.defaultStepMs ?? 5000) {
      steps.push({ name, run, timeoutMs });
    },
    shutdown(reason) {
      running ??= runAll(reason);
      return running;
    },
    get shuttingDown() {
      return running !== undefined;
    },
    installSignalHandlers(exit = (code) => process.exit(code)) {
      const handler = (signal: NodeJS.Signals) => {
        void this.shutdown(signal).then((r) => exit(r.ok ? 0 : 1));
      };
      process.once("SIGTERM", handler);
      process.once("SIGINT", handler);
    },
    watchParent({ intervalMs = 500, exit = (code: number) => process.exit(code) } = {}) {
      const parent = process.ppid;
      const timer = setInterval(() => {
        if (parentAlive(parent)) return;
        clearInterval(timer);
        log.warn({ parent }, "parent process gone");
        void this.shutdown("parent exited").then((r) => exit(r.ok ? 0 : 1));
      }, intervalMs);
      timer.unref();
    },
  };
}
