/**
 * Publishing as daprd does for a Redis Streams pub/sub: the CloudEvent the publisher sent keeps its
 * own id, source, type and data; daprd adds `topic`, `pubsubname` and the trace fields, and the
 * component stores it as `XADD <topic> [MAXLEN ~ <maxLenApprox>] * data <CloudEvent JSON>`.
 */
import type { Redis } from "ioredis";

export interface PublishTarget {
  topic: string;
  pubsubname: string;
  maxLenApprox?: number;
}

const TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/** The stored form of one published CloudEvent (what the stream's `data` field holds). */
export function storedCloudEvent(event: Record<string, unknown>, target: PublishTarget): string {
  return JSON.stringify({
    datacontenttype: "application/json",
    ...event,
    topic: target.topic,
    pubsubname: target.pubsubname,
    traceid: TRACEPARENT,
    traceparent: TRACEPARENT,
    tracestate: "",
  });
}

/** XADDs already-stored events (strings), pipelined in chunks. Resolves when Redis has them all. */
export async function xaddAll(redis: Redis, target: PublishTarget, stored: readonly string[], chunk = 1000) {
  for (let i = 0; i < stored.length; i += chunk) {
    const p = redis.pipeline();
    for (const data of stored.slice(i, i + chunk)) {
      if (target.maxLenApprox && target.maxLenApprox > 0)
        p.xadd(target.topic, "MAXLEN", "~", target.maxLenApprox, "*", "data", data);
      else p.xadd(target.topic, "*", "data", data);
    }
    const results = await p.exec();
    for (const [err] of results ?? []) if (err) throw err;
  }
}

/**
 * Live traffic: publishes `stored` at `perSecond`, in slices every `tickMs`, as many publishers
 * would. Resolves when all are published; returns how far behind schedule the last slice was (ms).
 */
export async function publishAtRate(
  redis: Redis,
  target: PublishTarget,
  stored: readonly string[],
  perSecond: number,
  tickMs = 10,
): Promise<{ lagMs: number }> {
  const t0 = performance.now();
  let sent = 0;
  while (sent < stored.length) {
    const due = Math.min(stored.length, Math.floor(((performance.now() - t0) / 1000) * perSecond) + 1);
    if (due > sent) {
      await xaddAll(redis, target, stored.slice(sent, due));
      sent = due;
    }
    await new Promise((r) => setTimeout(r, tickMs));
  }
  const scheduledEnd = (stored.length / perSecond) * 1000;
  return { lagMs: Math.max(0, performance.now() - t0 - scheduledEnd) };
}

/** Entries still to be delivered or acknowledged for the group: lag (never read) + pending (read, not acked). */
export async function backlog(
  redis: Redis,
  topic: string,
  group: string,
): Promise<{ lag: number; pending: number }> {
  const groups = (await redis.xinfo("GROUPS", topic)) as Array<Array<string | number | null>>;
  for (const g of groups) {
    const f = new Map<string, string | number | null>();
    for (let i = 0; i + 1 < g.length; i += 2) f.set(String(g[i]), g[i + 1]!);
    if (f.get("name") === group)
      return { lag: Number(f.get("lag") ?? 0), pending: Number(f.get("pending") ?? 0) };
  }
  return { lag: 0, pending: 0 };
}
