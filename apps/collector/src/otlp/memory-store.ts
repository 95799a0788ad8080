import type { HeldEvent, TraceState } from "./assemble";
import type { PendingStore } from "./otlp-ingest";

/**
 * PendingStore in process memory: exact for one process (embedded mode, tests). Updates are
 * synchronous inside the event loop, so they are atomic. Pending state does not survive a restart:
 * a deployment that must not lose acknowledged spans across restarts, or that runs several
 * collector replicas, keeps it in a shared store (Redis) instead.
 */
export function createMemoryPendingStore(): PendingStore & { clear(): void } {
  const traces = new Map<string, TraceState>();
  const events = new Map<string, HeldEvent>();
  const links = new Map<string, { traceId: string; untilMs: number }>();

  return {
    async updateTrace(traceId, fn) {
      const { next, result } = fn(traces.get(traceId));
      if (next) traces.set(traceId, next);
      else traces.delete(traceId);
      return result;
    },
    async dueTraces(nowMs, limit) {
      for (const [id, l] of links) if (l.untilMs <= nowMs && !traces.has(l.traceId)) links.delete(id);
      return [...traces.values()]
        .filter((t) => t.dueMs <= nowMs)
        .sort((a, b) => a.dueMs - b.dueMs)
        .slice(0, limit)
        .map((t) => t.traceId);
    },
    async updateEvent(inferenceId, fn) {
      const { next, result } = fn(events.get(inferenceId));
      if (next) events.set(inferenceId, next);
      else events.delete(inferenceId);
      return result;
    },
    async dueEvents(nowMs, limit) {
      return [...events.values()]
        .filter((e) => e.dueMs <= nowMs)
        .sort((a, b) => a.dueMs - b.dueMs)
        .slice(0, limit)
        .map((e) => e.inferenceId);
    },
    async linkInferences(pairs, untilMs) {
      for (const [id, traceId] of pairs) links.set(id, { traceId, untilMs });
    },
    async traceOfInferences(ids) {
      const out = new Map<string, string>();
      for (const id of ids) {
        const l = links.get(id);
        if (l) out.set(id, l.traceId);
      }
      return out;
    },
    async size() {
      let pendingSpans = 0;
      for (const t of traces.values()) pendingSpans += t.pending.length;
      return { pendingSpans, heldEvents: events.size };
    },
    clear() {
      traces.clear();
      events.clear();
      links.clear();
    },
  };
}
