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
}

export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
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
  };
}
