/**
 * A model of daprd's delivery path for a Redis Streams bulk subscription over HTTP, written from
 * dapr/dapr (pkg/runtime/pubsub/default_bulksub.go, pkg/runtime/subscription/bulksubscription.go,
 * bulkresiliency.go, postman/http/http.go) and components-contrib (pubsub/redis/redis.go), runs
 * against the real Redis, and delivers to the app over HTTP exactly as the sidecar would:
 *
 *   poll loop      XREADGROUP GROUP <consumerID> <consumerID> COUNT <queueDepth> BLOCK … STREAMS <topic> >
 *                  → a channel of queueDepth (the loop waits while it is full);
 *   workers        `concurrency` of them; each takes ONE message and waits until its outcome is known,
 *                  then XACKs it (also on error, as components-contrib ≥ 1.17 does, unless the
 *                  handler ran past processingTimeout);
 *   bulk loop      the default bulk subscriber: messages buffered until maxMessagesCount or the await
 *                  timer (policy "ticker": a Go ticker never reset, daprd 1.17; policy "window":
 *                  reset on every flush and on the first message of a batch, with a drain of waiting
 *                  messages, daprd ≥ 1.18), and ONE flush at a time: the POST is synchronous;
 *   flush          each entry parsed and routed by the subscription's rules, one POST per path, one
 *                  after the other; per-entry SUCCESS / DROP / RETRY; RETRY entries (and a failed POST)
 *                  retried per the inbound resiliency policy (only the failed entries, the loop blocked
 *                  meanwhile), each attempt bounded by the inbound timeout; what still failed goes to
 *                  the dead-letter topic and is then acknowledged; DROP goes there at once;
 *   reclaim loop   every redeliverInterval: XPENDING, XCLAIM of entries idle ≥ processingTimeout,
 *                  back into the channel (a crashed or stuck delivery is redelivered).
 *
 * Without bulkSubscribe each worker POSTs its own message (single delivery), so up to `concurrency`
 * deliveries are in flight at once.
 *
 * Not modelled: circuit breakers, tracing spans, rawPayload subscriptions, message expiry.
 */
import http from "node:http";
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { CLOSED, createChannel, type Channel } from "./channel";
import type { InboundPolicy, RedisPubsubSettings, Subscription } from "./components";
import { createRouter } from "./routing";

export type FlushPolicy = "ticker" | "window";

export interface SidecarOptions {
  redisUrl: string;
  appUrl: string;
  /** Sent as dapr-api-token when set (APP_API_TOKEN on the sidecar). */
  appToken?: string;
  pubsub: RedisPubsubSettings;
  inbound: InboundPolicy;
  subscription: Subscription;
  flushPolicy?: FlushPolicy;
  /** XREADGROUP BLOCK (ms); daprd blocks until messages arrive. */
  readBlockMs?: number;
  /** Observability hooks; must not throw. */
  onBulk?: (info: BulkInfo) => void;
  onAck?: (latencyMs: number) => void;
}

export interface BulkInfo {
  path: string;
  entries: number;
  attempt: number;
  durationMs: number;
  statuses: Record<"SUCCESS" | "RETRY" | "DROP" | "ERROR", number>;
}

export interface SidecarStats {
  bulks: number;
  bulkSizes: number[];
  acked: number;
  deadLettered: number;
  redelivered: number;
  retries: number;
  postErrors: number;
}

export interface Sidecar {
  readonly stats: SidecarStats;
  /** Graceful: stop reading, finish the bulk in flight; whatever is not acknowledged stays pending. */
  stop(): Promise<void>;
  /** The process dies: connections cut at once, nothing more is acknowledged or dead-lettered. */
  kill(): void;
}

interface StreamMessage {
  id: string;
  data: string;
}

interface Waiting {
  entryId: string;
  message: StreamMessage;
  done: (err: Error | undefined) => void;
}

const DEFAULT_MAX_MESSAGES = 100;
const DEFAULT_MAX_AWAIT_MS = 1000;

/** dapr/kit's exponential back-off (cenkalti/backoff defaults: ×1.5, ±50 % jitter). */
function backoffMs(policy: NonNullable<InboundPolicy["retry"]>, attempt: number): number {
  if (policy.policy === "constant") return policy.durationMs;
  const base = Math.min(policy.initialIntervalMs * 1.5 ** attempt, policy.maxIntervalMs);
  return base * (0.5 + Math.random());
}

function fieldValue(fields: string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

export async function startSidecar(opts: SidecarOptions): Promise<Sidecar> {
  const { pubsub, subscription, inbound } = opts;
  const topic = subscription.topic;
  const group = pubsub.consumerID;
  const bulk = subscription.bulkSubscribe;
  const bulkMode = !!bulk?.enabled;
  const maxMessages = bulk?.maxMessagesCount || DEFAULT_MAX_MESSAGES;
  const awaitMs = bulk?.maxAwaitDurationMs || DEFAULT_MAX_AWAIT_MS;
  const policy = opts.flushPolicy ?? "ticker";
  const route = createRouter(subscription.routes);
  const readBlockMs = opts.readBlockMs ?? 1000;

  // Blocking reads get their own connection; everything else is pipelined on the other.
  const reader = new Redis(opts.redisUrl, { maxRetriesPerRequest: null });
  const cmd = new Redis(opts.redisUrl, { enableAutoPipelining: true });
  try {
    await cmd.xgroup("CREATE", topic, group, "0", "MKSTREAM");
  } catch (err) {
    if (!String(err).includes("BUSYGROUP")) throw err;
  }

  const stats: SidecarStats = {
    bulks: 0,
    bulkSizes: [],
    acked: 0,
    deadLettered: 0,
    redelivered: 0,
    retries: 0,
    postErrors: 0,
  };
  let stopping = false;
  let killed = false;
  const queue: Channel<StreamMessage> = createChannel(Math.max(1, pubsub.queueDepth));
  const msgCb: Channel<Waiting> = createChannel(maxMessages);
  // daprd's app channel keeps a connection per concurrent call: one bulk at a time, or one per worker.
  const agent = new http.Agent({
    keepAlive: true,
    maxSockets: bulkMode ? 4 : Math.max(1, pubsub.concurrency),
  });
  const appUrl = new URL(opts.appUrl);

  // --- the app channel ------------------------------------------------------------------------
  function post(
    path: string,
    body: string,
    timeoutMs?: number,
    contentType = "application/json",
  ): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const payload = Buffer.from(body);
      const req = http.request(
        {
          host: appUrl.hostname,
          port: appUrl.port,
          path,
          method: "POST",
          agent,
          headers: {
            "content-type": contentType,
            "content-length": payload.length,
            ...(opts.appToken ? { "dapr-api-token": opts.appToken } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () =>
            resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }),
          );
          res.on("error", reject);
        },
      );
      if (timeoutMs) {
        req.setTimeout(timeoutMs, () => req.destroy(new Error(`resiliency timeout ${timeoutMs} ms`)));
      }
      req.on("error", reject);
      req.end(payload);
    });
  }

  async function deadLetter(messages: StreamMessage[]): Promise<boolean> {
    if (killed || !subscription.deadLetterTopic || messages.length === 0) return false;
    try {
      await Promise.all(
        messages.map((m) =>
          pubsub.maxLenApprox > 0
            ? cmd.xadd(subscription.deadLetterTopic!, "MAXLEN", "~", pubsub.maxLenApprox, "*", "data", m.data)
            : cmd.xadd(subscription.deadLetterTopic!, "*", "data", m.data),
        ),
      );
      stats.deadLettered += messages.length;
      return true;
    } catch {
      return false;
    }
  }

  /** One path's entries, with the inbound retry policy: only failed entries are sent again. */
  async function deliverPath(
    path: string,
    items: Array<{ w: Waiting; text: string }>,
    errors: Map<string, Error>,
  ) {
    let pending = items;
    const retry = inbound.retry;
    for (let attempt = 0; ; attempt++) {
      const entries = pending
        .map(
          (p) =>
            `{"entryId":${JSON.stringify(p.w.entryId)},"event":${p.text},"contentType":"application/cloudevents+json","metadata":{}}`,
        )
        .join(",");
      const body =
        `{"id":${JSON.stringify(randomUUID())},"type":"com.dapr.event.sent.bulk","topic":${JSON.stringify(topic)},` +
        `"pubsubname":${JSON.stringify(subscription.pubsubname)},"metadata":{"pubsubName":${JSON.stringify(subscription.pubsubname)}},` +
        `"entries":[${entries}]}`;
      const t0 = performance.now();
      const tally = { SUCCESS: 0, RETRY: 0, DROP: 0, ERROR: 0 };
      const failed: Array<{ w: Waiting; text: string }> = [];
      const dropped: StreamMessage[] = [];
      try {
        const res = await post(path, body, inbound.timeoutMs);
        if (res.status >= 200 && res.status < 300) {
          const parsed = JSON.parse(res.text) as { statuses?: Array<{ entryId: string; status: string }> };
          const byId = new Map<string, string>();
          for (const s of parsed.statuses ?? []) byId.set(s.entryId, s.status);
          for (const p of pending) {
            const s = byId.get(p.w.entryId);
            if (s === "SUCCESS") {
              tally.SUCCESS++;
              errors.delete(p.w.entryId);
            } else if (s === "DROP") {
              tally.DROP++;
              errors.delete(p.w.entryId);
              dropped.push(p.w.message);
            } else {
              // RETRY, an unknown status or no status for the entry: retried.
              tally.RETRY++;
              errors.set(p.w.entryId, new Error(`RETRY for entry ${p.w.entryId}`));
              failed.push(p);
            }
          }
        } else if (res.status === 404) {
          // Not retriable: every entry is dropped.
          for (const p of pending) {
            tally.DROP++;
            errors.delete(p.w.entryId);
            dropped.push(p.w.message);
          }
        } else {
          throw new Error(`app answered HTTP ${res.status}`);
        }
      } catch (err) {
        stats.postErrors++;
        for (const p of pending) {
          tally.ERROR++;
          errors.set(p.w.entryId, err instanceof Error ? err : new Error(String(err)));
        }
        failed.push(...pending);
      }
      await deadLetter(dropped);
      opts.onBulk?.({
        path,
        entries: pending.length,
        attempt,
        durationMs: performance.now() - t0,
        statuses: tally,
      });
      if (failed.length === 0 || stopping) return;
      if (!retry || (retry.maxRetries >= 0 && attempt >= retry.maxRetries)) return;
      stats.retries++;
      await new Promise((r) => setTimeout(r, backoffMs(retry, attempt)));
      pending = failed;
    }
  }

  /** flushMessages + the subscription's bulk handler. */
  async function flush(batch: Waiting[]) {
    if (batch.length === 0) return;
    stats.bulks++;
    stats.bulkSizes.push(batch.length);
    const errors = new Map<string, Error>();
    const byPath = new Map<string, Array<{ w: Waiting; text: string }>>();
    const unrouted: StreamMessage[] = [];
    for (const w of batch) {
      let event: Record<string, unknown>;
      try {
        event = JSON.parse(w.message.data) as Record<string, unknown>;
        if (typeof event !== "object" || event === null || Array.isArray(event))
          throw new Error("not an object");
      } catch (err) {
        errors.set(w.entryId, err instanceof Error ? err : new Error(String(err)));
        continue;
      }
      const path = route(event);
      if (!path) {
        unrouted.push(w.message);
        continue;
      }
      let list = byPath.get(path);
      if (!list) byPath.set(path, (list = []));
      list.push({ w, text: w.message.data });
    }
    await deadLetter(unrouted);
    for (const [path, items] of byPath) await deliverPath(path, items, errors);

    let failedErr: Error | undefined;
    if (errors.size > 0) {
      // What still failed goes to the dead-letter topic; if that worked the whole bulk is done.
      const failedMsgs = batch.filter((w) => errors.has(w.entryId)).map((w) => w.message);
      if (await deadLetter(failedMsgs)) errors.clear();
      else failedErr = new Error("some entries failed and no dead-letter topic took them");
    }
    for (const w of batch) w.done(failedErr && errors.get(w.entryId));
  }

  /**
   * A subscription without bulkSubscribe: each worker POSTs its own message as a structured
   * CloudEvent and waits for its answer (so up to `concurrency` deliveries are in flight), with the
   * inbound retry policy around it; what still fails goes to the dead-letter topic.
   */
  async function deliverSingle(m: StreamMessage): Promise<Error | undefined> {
    let event: Record<string, unknown>;
    try {
      event = JSON.parse(m.data) as Record<string, unknown>;
    } catch (err) {
      return (await deadLetter([m])) ? undefined : (err as Error);
    }
    const path = route(event);
    if (!path) {
      await deadLetter([m]);
      return undefined;
    }
    const retry = inbound.retry;
    for (let attempt = 0; ; attempt++) {
      let failure: Error | undefined;
      const t0 = performance.now();
      const tally = { SUCCESS: 0, RETRY: 0, DROP: 0, ERROR: 0 };
      try {
        const res = await post(path, m.data, inbound.timeoutMs, "application/cloudevents+json");
        if (res.status >= 200 && res.status < 300) {
          const status = res.text
            ? ((JSON.parse(res.text) as { status?: string }).status ?? "SUCCESS")
            : "SUCCESS";
          if (status === "SUCCESS") tally.SUCCESS++;
          else if (status === "DROP") {
            tally.DROP++;
            await deadLetter([m]);
          } else {
            tally.RETRY++;
            failure = new Error(`${status} for message ${m.id}`);
          }
        } else if (res.status === 404) {
          tally.DROP++;
          await deadLetter([m]);
        } else {
          tally.ERROR++;
          failure = new Error(`app answered HTTP ${res.status}`);
        }
      } catch (err) {
        stats.postErrors++;
        tally.ERROR++;
        failure = err instanceof Error ? err : new Error(String(err));
      }
      opts.onBulk?.({ path, entries: 1, attempt, durationMs: performance.now() - t0, statuses: tally });
      if (!failure) return undefined;
      if (stopping || !retry || (retry.maxRetries >= 0 && attempt >= retry.maxRetries)) {
        return (await deadLetter([m])) ? undefined : failure;
      }
      stats.retries++;
      await new Promise((r) => setTimeout(r, backoffMs(retry, attempt)));
    }
  }

  // --- the bulk loop ----------------------------------------------------------------------------
  // A Go ticker: one pending tick at most (later ticks are dropped while the loop is busy).
  let tickPending = false;
  let wakeOnTick: (() => void) | undefined;
  const onTick = () => {
    tickPending = true;
    const w = wakeOnTick;
    wakeOnTick = undefined;
    w?.();
  };
  let ticker: NodeJS.Timeout | undefined = bulkMode ? setInterval(onTick, awaitMs) : undefined;
  const resetTicker = () => {
    clearInterval(ticker);
    tickPending = false;
    ticker = setInterval(onTick, awaitMs);
  };

  const bulkLoop = (async () => {
    if (!bulkMode) return;
    let buffer: Waiting[] = [];
    const doFlush = async () => {
      const b = buffer;
      buffer = [];
      await flush(b);
      if (policy === "window") resetTicker();
    };
    while (!stopping) {
      if (tickPending) {
        tickPending = false;
        if (buffer.length > 0) await doFlush();
        continue;
      }
      const w = msgCb.tryRecv();
      if (w) {
        if (policy === "window") {
          if (buffer.length === 0) resetTicker();
          buffer.push(w);
          // drainChannel: whatever else is waiting joins this wake-up, up to the count.
          for (let m = buffer.length < maxMessages ? msgCb.tryRecv() : undefined; m;) {
            buffer.push(m);
            m = buffer.length < maxMessages ? msgCb.tryRecv() : undefined;
          }
        } else buffer.push(w);
        if (buffer.length >= maxMessages) await doFlush();
        continue;
      }
      await Promise.race([
        msgCb.readable(),
        new Promise<void>((resolve) => {
          wakeOnTick = resolve;
        }),
      ]);
      wakeOnTick = undefined;
    }
  })();

  // --- workers ----------------------------------------------------------------------------------
  async function processMessage(m: StreamMessage) {
    const t0 = Date.now();
    const err = bulkMode
      ? await new Promise<Error | undefined>((resolve) => {
          msgCb
            .send({ entryId: randomUUID(), message: m, done: resolve })
            .catch(() => resolve(new Error("sidecar stopping")));
        })
      : await deliverSingle(m);
    // Shutdown, or a handler that ran past processingTimeout: no XACK, the message stays pending.
    if (
      killed ||
      (err && (stopping || (pubsub.processingTimeoutMs > 0 && Date.now() - t0 >= pubsub.processingTimeoutMs)))
    )
      return;
    await cmd.xack(topic, group, m.id);
    stats.acked++;
    const publishedMs = Number(m.id.slice(0, m.id.indexOf("-")));
    opts.onAck?.(Date.now() - publishedMs);
  }
  const worker = async () => {
    for (;;) {
      const m = await queue.recv();
      if (m === CLOSED) return;
      try {
        await processMessage(m);
      } catch {
        // An XACK that failed leaves the message pending: the reclaim loop redelivers it.
      }
    }
  };
  for (let i = 0; i < Math.max(1, pubsub.concurrency); i++) void worker();

  // --- poll and reclaim loops -------------------------------------------------------------------
  type XRead = Array<[string, Array<[string, string[]]>]> | null;
  const pollLoop = (async () => {
    while (!stopping) {
      let res: XRead;
      try {
        res = (await reader.xreadgroup(
          "GROUP",
          group,
          group,
          "COUNT",
          pubsub.queueDepth,
          "BLOCK",
          readBlockMs,
          "STREAMS",
          topic,
          ">",
        )) as XRead;
      } catch {
        if (stopping) return;
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      for (const [, messages] of res ?? []) {
        for (const [id, fields] of messages) {
          if (stopping) return;
          await queue.send({ id, data: fieldValue(fields, "data") ?? "" });
        }
      }
    }
  })();

  async function reclaim() {
    for (;;) {
      const pending = (await cmd.xpending(topic, group, "-", "+", pubsub.queueDepth)) as Array<
        [string, string, number, number]
      >;
      const ids = pending.filter((p) => p[2] >= pubsub.processingTimeoutMs).map((p) => p[0]);
      if (ids.length === 0 || stopping) return;
      const claimed = (await cmd.xclaim(topic, group, group, pubsub.processingTimeoutMs, ...ids)) as Array<
        [string, string[]] | null
      >;
      const live = claimed.filter((c): c is [string, string[]] => c !== null);
      const gone = ids.filter((id) => !live.some((c) => c[0] === id));
      if (gone.length > 0) await cmd.xack(topic, group, ...gone);
      stats.redelivered += live.length;
      for (const [id, fields] of live) await queue.send({ id, data: fieldValue(fields, "data") ?? "" });
      if (live.length === 0) return;
    }
  }
  let reclaimTimer: NodeJS.Timeout | undefined;
  if (pubsub.processingTimeoutMs > 0 && pubsub.redeliverIntervalMs > 0) {
    const tick = () => {
      reclaim()
        .catch(() => undefined)
        .finally(() => {
          if (!stopping) reclaimTimer = setTimeout(tick, pubsub.redeliverIntervalMs);
        });
    };
    tick();
  }

  return {
    stats,
    kill() {
      killed = true;
      stopping = true;
      clearTimeout(reclaimTimer);
      clearInterval(ticker);
      agent.destroy();
      reader.disconnect();
      cmd.disconnect();
      onTick();
      msgCb.close();
      queue.close();
    },
    async stop() {
      stopping = true;
      clearTimeout(reclaimTimer);
      clearInterval(ticker);
      reader.disconnect();
      await pollLoop;
      // Wake the bulk loop; the flush in flight (if any) finishes. Messages still buffered or queued
      // are not acknowledged: they stay pending in the stream and are redelivered later.
      onTick();
      msgCb.close();
      queue.close();
      await bulkLoop;
      agent.destroy();
      cmd.disconnect();
    },
  };
}
