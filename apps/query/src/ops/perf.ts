/** Recent slow requests with their time split (plan / execute / serialise) for /metrics/query-performance. */
export interface PerfRecord {
  at: string;
  route: string;
  total_ms: number;
  plan_ms: number;
  execute_ms: number;
  serialise_ms: number;
  engine_ms: number;
  /** Every step of the request (parse, cache, plan, run, shape, serialise; engine is within run). */
  steps_ms: Record<string, number>;
  statements: number;
  result_rows: number;
  cache: string;
  plan: string | null;
  status: number;
}

export function createPerfTracker(opts: { slowMs: number; keep?: number }) {
  const keep = opts.keep ?? 100;
  const slow: PerfRecord[] = [];
  const perRoute = new Map<string, number[]>();
  return {
    record(r: PerfRecord) {
      let list = perRoute.get(r.route);
      if (!list) perRoute.set(r.route, (list = []));
      list.push(r.total_ms);
      if (list.length > 1000) list.shift();
      if (r.total_ms >= opts.slowMs) {
        slow.push(r);
        if (slow.length > keep) slow.shift();
      }
    },
    report() {
      const routes = [...perRoute.entries()].map(([route, xs]) => {
        const s = [...xs].sort((a, b) => a - b);
        const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? null;
        return { route, samples: s.length, p50_ms: q(0.5), p95_ms: q(0.95), max_ms: s[s.length - 1] ?? null };
      });
      return {
        object: "query_performance",
        slow_threshold_ms: opts.slowMs,
        routes,
        recent_slow: [...slow].reverse(),
      };
    },
  };
}

export type PerfTracker = ReturnType<typeof createPerfTracker>;
