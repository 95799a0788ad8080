/**
 * Whether spans are arriving: with COLLECTOR_OTLP_ENABLED=auto the collector holds inference
 * CloudEvents for their spans only while spans arrive (seen within a window), so a deployment that
 * sends no spans keeps the CloudEvent path as it was — every event written at once — while one that
 * sends them gets each inference written once, complete (docs/OTLP.md). Replicas share the answer
 * through the pending store's Redis (an exporter's keep-alive connection may send every span to one
 * replica while CloudEvents reach all of them).
 */
export interface SpanActivity {
  /** Spans arrived at `nowMs`. */
  seen(nowMs: number): Promise<void>;
  /** Did spans arrive within the window before `nowMs`? */
  active(nowMs: number): Promise<boolean>;
}

/** One process (embedded mode, tests). */
export function createMemorySpanActivity(windowMs: number): SpanActivity {
  let last = -Infinity;
  return {
    async seen(nowMs) {
      last = Math.max(last, nowMs);
    },
    async active(nowMs) {
      return nowMs - last <= windowMs;
    },
  };
}
