/** Ports the use cases depend on; adapters live in ops/ (ClickHouse) and cache/ (Redis, memory). */
import type { BuiltQuery } from "./analytics/queries";

export interface SqlRunner {
  readonly db: string;
  /** Runs one SELECT with the app's guardrails; `label` names it in metrics and perf records. */
  run<T = Record<string, unknown>>(
    label: string,
    q: BuiltQuery,
    opts?: { maxResultRows?: number },
  ): Promise<T[]>;
}

export interface CacheStats {
  backend: "redis" | "memory" | "none";
  hits: number;
  misses: number;
  errors: number;
  sets: number;
  hit_rate: number | null;
  keys: number | null;
  status: "ok" | "degraded";
}

export interface Cache {
  /** Never throws: a failing backend reads as a miss (fail-open). */
  get(key: string): Promise<string | null>;
  /** Never throws. ttlSeconds 0 = do not store. */
  set(key: string, value: string, ttlSeconds: number): Promise<void>;
  stats(): Promise<CacheStats>;
  health(): Promise<{ status: "ok" | "degraded"; backend: string; [k: string]: unknown }>;
  close(): Promise<void>;
}
