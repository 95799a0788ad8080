import { readRetentionDays, type ClickHouse } from "@budmetrics/clickhouse";
import { Tables } from "@budmetrics/schema";
import type { Retention } from "../analytics/coverage";

/**
 * The retention of the raw inference table and the inference rollup as the tables were created (their
 * TTL, which may differ from today's configuration: docs/OPERATIONS.md, "Retention"), read from the
 * engine and kept for `ttlMs`. A failed read keeps the last value (null before any).
 */
export function createRetentionReader(ch: ClickHouse, ttlMs = 300_000): () => Promise<Retention | null> {
  let value: Retention | null = null;
  let readAt = -Infinity;
  let pending: Promise<Retention | null> | undefined;
  return () => {
    if (performance.now() - readAt < ttlMs) return Promise.resolve(value);
    pending ??= readRetentionDays(ch, [Tables.inferenceEvents, Tables.inferenceRollup])
      .then(
        (days) => {
          value = {
            rawDays: days[Tables.inferenceEvents] ?? 0,
            rollupDays: days[Tables.inferenceRollup] ?? 0,
          };
          readAt = performance.now();
          return value;
        },
        () => value,
      )
      .finally(() => {
        pending = undefined;
      });
    return pending;
  };
}
