import { isAppError } from "@budmetrics/errors";
import { collectorErrors } from "../errors";
import type { PreparedRow, WriteOutcome } from "./ports";

/**
 * The OpenTelemetry batch span processor's skeleton (bounded queue, one flush in flight, a timeout
 * per flush, an unref'd timer, a drain that runs once) with three changes that carry the collector's
 * guarantee and its latency:
 *   1. `write()` resolves only when the rows are committed (never on enqueue), so a delivery is
 *      acknowledged after its rows are stored and not before;
 *   2. a full queue refuses (SINK_QUEUE_FULL → RETRY / 503) instead of dropping;
 *   3. group commit instead of a batch timer: rows are written at once when no write is in flight,
 *      and gathered only while one is (or while the insert-rate bound says wait). A Dapr sidecar
 *      delivers one bulk at a time and waits for its answer, so time spent waiting before a write
 *      is time the whole subscription stands still. The bound (`minIntervalMs` between the starts of
 *      two writes, unless a full batch is waiting) keeps light traffic from making one part per
 *      event: every insert makes a part in the raw table and in each rollup its views feed.
 * One `write()` call (one delivery's rows) is never split across batches, so its outcomes arrive
 * together.
 */
export interface BatchWriter {
  (rows: readonly PreparedRow[]): Promise<{ outcomes: WriteOutcome[] }>;
}

export interface BatcherOptions {
  maxBatchRows: number;
  /** Least time between the starts of two writes (the insert-rate bound), unless a full batch waits. */
  minIntervalMs: number;
  /** Rows queued plus rows in flight. */
  maxQueueRows: number;
  /** Serialised bytes queued plus in flight. */
  maxQueueBytes: number;
  flushTimeoutMs: number;
  maxRetries: number;
  retryBackoffMs: number;
  /** Observability hooks; must not throw. */
  onFlush?: (info: FlushInfo) => void;
  onRetry?: (err: unknown, attempt: number) => void;
}

export interface FlushInfo {
  rows: number;
  bytes: number;
  durationMs: number;
  attempts: number;
  ok: boolean;
  error?: unknown;
}

export interface BatcherStats {
  queuedRows: number;
  queuedBytes: number;
  inFlightRows: number;
  inFlightBytes: number;
  flushing: boolean;
}

export interface Batcher {
  write(rows: readonly PreparedRow[]): Promise<WriteOutcome[]>;
  /** Would a write of this size be refused right now? (Lets a caller refuse a whole delivery up front.) */
  hasRoomFor(rows: number, bytes: number): boolean;
  stats(): BatcherStats;
  /** New writes are refused with SINK_SHUTTING_DOWN from now on. */
  stopAccepting(): void;
  /** Flushes everything queued, ignoring the wait; resolves when nothing is queued or in flight. */
  drain(): Promise<void>;
  /** Answers every still-queued write with SINK_SHUTTING_DOWN (rows in flight finish on their own). */
  abandon(): void;
}

interface Unit {
  rows: readonly PreparedRow[];
  bytes: number;
  enqueuedAt: number;
  resolve(outcomes: WriteOutcome[]): void;
  reject(err: unknown): void;
}

export function rowBytes(rows: readonly PreparedRow[]): number {
  let bytes = 0;
  for (const r of rows) bytes += r.line.length + 1;
  return bytes;
}

export function createBatcher(sink: BatchWriter, opts: BatcherOptions): Batcher {
  const queue: Unit[] = [];
  let queuedRows = 0;
  let queuedBytes = 0;
  let inFlightRows = 0;
  let inFlightBytes = 0;
  let flushing = false;
  let accepting = true;
  let draining = false;
  let timer: NodeJS.Timeout | undefined;
  let lastFlushAt = -Infinity;
  let idleWaiters: Array<() => void> = [];

  function clearTimer() {
    if (timer) clearTimeout(timer);
    timer = undefined;
  }

  function notifyIdle() {
    if (queue.length === 0 && !flushing) {
      const waiters = idleWaiters;
      idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  /**
   * Group commit: flush now unless a write is in flight (rows gather meanwhile) or the last write
   * started less than `minIntervalMs` ago (then flush when that interval is over).
   */
  function schedule() {
    if (flushing) return;
    if (queue.length === 0) {
      clearTimer();
      notifyIdle();
      return;
    }
    const sinceLastMs = Date.now() - lastFlushAt;
    if (queuedRows >= opts.maxBatchRows || draining || sinceLastMs >= opts.minIntervalMs) {
      clearTimer();
      void flush();
      return;
    }
    if (!timer) {
      timer = setTimeout(
        () => {
          timer = undefined;
          schedule();
        },
        Math.max(1, opts.minIntervalMs - sinceLastMs),
      );
      timer.unref();
    }
  }

  function sleep(ms: number) {
    return new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      t.unref();
    });
  }

  async function writeWithRetries(rows: PreparedRow[], state: { timedOut: boolean; attempts: number }) {
    for (let attempt = 0; ; attempt++) {
      state.attempts = attempt + 1;
      try {
        return await sink(rows);
      } catch (err) {
        const retryable = isAppError(err) && err.retryable;
        if (!retryable || attempt >= opts.maxRetries || state.timedOut) throw err;
        opts.onRetry?.(err, attempt + 1);
        await sleep(opts.retryBackoffMs * 2 ** attempt);
        if (state.timedOut) throw err;
      }
    }
  }

  async function flush() {
    // Take whole units up to the batch size (at least one, even if it alone is larger).
    const batch: Unit[] = [];
    let rowsCount = 0;
    let bytes = 0;
    while (queue.length > 0) {
      const next = queue[0]!;
      if (batch.length > 0 && rowsCount + next.rows.length > opts.maxBatchRows) break;
      queue.shift();
      batch.push(next);
      rowsCount += next.rows.length;
      bytes += next.bytes;
    }
    queuedRows -= rowsCount;
    queuedBytes -= bytes;
    inFlightRows += rowsCount;
    inFlightBytes += bytes;
    flushing = true;
    lastFlushAt = Date.now();

    const rows: PreparedRow[] = batch.length === 1 ? (batch[0]!.rows as PreparedRow[]) : [];
    if (batch.length > 1) for (const u of batch) for (const r of u.rows) rows.push(r);

    const t0 = Date.now();
    const state = { timedOut: false, attempts: 0 };
    let deadline: NodeJS.Timeout | undefined;
    try {
      const result = await Promise.race([
        writeWithRetries(rows, state),
        new Promise<never>((_, reject) => {
          deadline = setTimeout(() => {
            state.timedOut = true;
            reject(
              collectorErrors.create(
                "SINK_FLUSH_TIMEOUT",
                `batch of ${rowsCount} rows not committed within ${opts.flushTimeoutMs} ms`,
              ),
            );
          }, opts.flushTimeoutMs);
          deadline.unref();
        }),
      ]);
      opts.onFlush?.({
        rows: rowsCount,
        bytes,
        durationMs: Date.now() - t0,
        attempts: state.attempts,
        ok: true,
      });
      let offset = 0;
      for (const u of batch) {
        u.resolve(result.outcomes.slice(offset, offset + u.rows.length));
        offset += u.rows.length;
      }
    } catch (err) {
      opts.onFlush?.({
        rows: rowsCount,
        bytes,
        durationMs: Date.now() - t0,
        attempts: state.attempts,
        ok: false,
        error: err,
      });
      for (const u of batch) u.reject(err);
    } finally {
      clearTimeout(deadline);
      inFlightRows -= rowsCount;
      inFlightBytes -= bytes;
      flushing = false;
      schedule();
    }
  }

  function hasRoomFor(rows: number, bytes: number): boolean {
    const pendingRows = queuedRows + inFlightRows;
    const pendingBytes = queuedBytes + inFlightBytes;
    // An empty queue takes any single delivery, or an oversized one could never be written.
    if (pendingRows === 0) return true;
    return pendingRows + rows <= opts.maxQueueRows && pendingBytes + bytes <= opts.maxQueueBytes;
  }

  return {
    write(rows) {
      if (!accepting) {
        return Promise.reject(
          collectorErrors.create("SINK_SHUTTING_DOWN", "the collector is shutting down; retry later"),
        );
      }
      if (rows.length === 0) return Promise.resolve([]);
      const bytes = rowBytes(rows);
      if (!hasRoomFor(rows.length, bytes)) {
        return Promise.reject(
          collectorErrors.create(
            "SINK_QUEUE_FULL",
            `queue full (${queuedRows + inFlightRows} rows, ${queuedBytes + inFlightBytes} bytes pending); retry later`,
          ),
        );
      }
      return new Promise<WriteOutcome[]>((resolve, reject) => {
        queue.push({ rows, bytes, enqueuedAt: Date.now(), resolve, reject });
        queuedRows += rows.length;
        queuedBytes += bytes;
        schedule();
      });
    },
    hasRoomFor,
    stats: () => ({ queuedRows, queuedBytes, inFlightRows, inFlightBytes, flushing }),
    stopAccepting() {
      accepting = false;
    },
    drain() {
      draining = true;
      const idle = new Promise<void>((resolve) => idleWaiters.push(resolve));
      schedule();
      notifyIdle();
      return idle;
    },
    abandon() {
      accepting = false;
      clearTimer();
      const err = collectorErrors.create(
        "SINK_SHUTTING_DOWN",
        "the collector shut down before this batch was written",
      );
      while (queue.length > 0) {
        const u = queue.shift()!;
        queuedRows -= u.rows.length;
        queuedBytes -= u.bytes;
        u.reject(err);
      }
      notifyIdle();
    },
  };
}
