/**
 * One inference, two paths, through the running collector's HTTP routes: generated gateway traffic
 * (test/support/otlp-gateway.ts) sent as the gateway's CloudEvents — over /observability/events,
 * /observability/add and Dapr bulk deliveries — and as its spans on /v1/traces (shuffled across
 * requests, some requests resent), all interleaved. Checked against an oracle computed from the
 * generator's truth, never from what the collector wrote: every inference once in the raw table and
 * once in every tier of the rollup, per project, with the spans' measurements and the CloudEvent
 * merged into the same row. Once with one collector (in-process pending store), once with two
 * replicas sharing the pending store and the claims in the real Redis.
 */
import crypto from "node:crypto";
import { Redis } from "ioredis";
import { Tables, toNumber } from "@budmetrics/schema";
import { createRedisClaimStore } from "../src/adapters/redis-claims";
import { createRedisPendingStore, createRedisSpanActivity } from "../src/adapters/redis-pending-store";
import { openTestEngine, type TestEngine } from "../../../test/support/engine";
import { createRng } from "../../../test/support/generate";
import {
  expectedRecords,
  exportRequests,
  generateGatewayRequests,
  type GatewayRequest,
} from "../../../test/support/otlp-gateway";
import { bulkEnvelope, startCollector, type RunningCollector } from "./harness";
import { otlpBody, postTraces } from "./otlp-harness";

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const BOUND_MS = 60_000;
let engine: TestEngine;
let redis: Redis;
const prefix = `bmtest:{otlp-mixed-${crypto.randomUUID()}}:`;

beforeAll(async () => {
  engine = await openTestEngine("otlp_mixed");
  redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  await redis.ping();
});
afterAll(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
  await engine.close();
});

const db = () => engine.ch.database;
async function truncate() {
  for (const t of [Tables.inferenceEvents, Tables.inferenceIds, Tables.inferenceRollup])
    await engine.ch.command(`TRUNCATE TABLE ${db()}.${t}`);
}

type Send = { what: string; run: (c: RunningCollector) => Promise<boolean> };

/** Every send of a run, in one interleaved order: span requests and CloudEvent deliveries. */
function plan(reqs: GatewayRequest[], seed: number): Send[] {
  const rng = createRng(seed);
  const sends: Send[] = [];
  exportRequests(reqs, { seed, maxSpansPerRequest: 48, shuffle: true, duplicateRate: 0.2 }).forEach(
    (body, k) => {
      const format = k % 3 === 0 ? "json" : "protobuf";
      const bytes = otlpBody(body, format);
      sends.push({
        what: "spans",
        run: async (c) => {
          const res = await postTraces(c.url, bytes, {
            "content-type": format === "json" ? "application/json" : "application/x-protobuf",
            "content-encoding": "gzip",
          });
          if (res.status === 503) return false; // another replica is writing the record: resend
          expect(res.status).toBe(200);
          return true;
        },
      });
    },
  );
  const events = reqs.flatMap((r) => (r.cloudEvent ? [r.cloudEvent] : []));
  // Some events are published twice (the gateway's retry, a redelivery).
  const all = [...events, ...events.filter(() => rng() < 0.2)];
  for (let k = 0; k < all.length; k += 7) {
    const batch = all.slice(k, k + 7);
    const route = (k / 7) % 3;
    if (route === 0) {
      sends.push({
        what: "events",
        run: async (c) => {
          const res = await c.post("/observability/events", batch, {
            "content-type": "application/cloudevents-batch+json",
          });
          if (res.status === 503) return false;
          expect(res.status).toBe(200);
          for (const r of res.body.results) expect(["held", "inserted", "duplicate"]).toContain(r.status);
          return true;
        },
      });
    } else if (route === 1) {
      sends.push({
        what: "add",
        run: async (c) => {
          const res = await c.post("/observability/add", { events: batch });
          if (res.status === 503) return false;
          expect(res.status).toBe(200);
          return true;
        },
      });
    } else {
      sends.push({
        what: "dapr",
        run: async (c) => {
          const res = await c.post(
            "/dapr/events/inference",
            bulkEnvelope(batch.map((event, j) => ({ entryId: `e-${k + j}`, event }))),
          );
          expect(res.status).toBe(200);
          const statuses = (res.body.statuses as Array<{ status: string }>).map((s) => s.status);
          expect(statuses.filter((s) => s !== "SUCCESS" && s !== "RETRY")).toEqual([]);
          return statuses.every((s) => s === "SUCCESS");
        },
      });
    }
  }
  for (let k = sends.length - 1; k > 0; k--) {
    const j = Math.floor(rng() * (k + 1));
    [sends[k], sends[j]] = [sends[j]!, sends[k]!];
  }
  return sends;
}

/** Sends everything, four at a time, each to a replica chosen at random; resends what was not acknowledged. */
async function deliver(sends: Send[], replicas: RunningCollector[], seed: number) {
  const rng = createRng(seed ^ 0x9e3779b9);
  let next = 0;
  let resent = 0;
  const worker = async () => {
    for (;;) {
      const s = sends[next++];
      if (!s) return;
      for (let attempt = 0; ; attempt++) {
        const c = replicas[Math.floor(rng() * replicas.length)]!;
        if (await s.run(c)) break;
        resent++;
        if (attempt > 50) throw new Error(`${s.what} never acknowledged`);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  return resent;
}

/** The oracle: what the rollups must hold, from the generator's truth. */
function oracle(truth: GatewayRequest[]) {
  const roll = (rs: GatewayRequest[]) => ({
    n: rs.length,
    ok: rs.filter((r) => r.isSuccess).length,
    tin: rs.reduce((a, r) => a + (r.inputTokens ?? 0), 0),
    tout: rs.reduce((a, r) => a + (r.outputTokens ?? 0), 0),
    cached: rs.filter((r) => r.cached).length,
    costNano: rs.reduce((a, r) => a + Math.round((r.cost ?? 0) * 1e9), 0),
    latN: rs.filter((r) => r.responseTimeMs !== null).length,
  });
  const projects = [...new Set(truth.map((r) => r.projectId))].sort();
  return {
    total: roll(truth),
    perProject: projects.map((p) => ({ p, ...roll(truth.filter((r) => r.projectId === p)) })),
  };
}

const STATES =
  "sum(request_count) AS n, sum(success_count) AS ok, sum(input_tokens_sum) AS tin, sum(output_tokens_sum) AS tout, " +
  "sum(cached_count) AS cached, toInt64(sum(cost_sum) * 1000000000) AS costNano, sum(latency_count) AS latN";

async function check(reqs: GatewayRequest[]) {
  const truth = expectedRecords(reqs);
  const want = oracle(truth);
  const num = (r: Record<string, unknown>) =>
    Object.fromEntries(Object.entries(r).map(([k, v]) => [k, k === "p" || k === "tier" ? v : toNumber(v)]));

  // Raw: one row per inference (no FINAL needed: nothing was written twice).
  const [raw] = await engine.ch.query<Record<string, unknown>>(
    `SELECT count() AS rows, uniqExact(inference_id) AS ids, uniqExact(trace_id, record_kind, inference_id) AS records
     FROM ${db()}.${Tables.inferenceEvents}`,
  );
  expect(num(raw!)).toEqual({ rows: truth.length, ids: truth.length, records: truth.length });

  // Every tier of the rollup: the same totals; the dims level per project too.
  const tiers = await engine.ch.query<Record<string, unknown>>(
    `SELECT concat(toString(grain), '/', toString(level)) AS tier, ${STATES}
     FROM ${db()}.${Tables.inferenceRollup} GROUP BY grain, level ORDER BY grain, level`,
  );
  expect(tiers).toHaveLength(7);
  for (const t of tiers) expect(num(t)).toEqual({ tier: t.tier, ...want.total });
  for (const grain of ["5m", "1h", "1d"]) {
    const perProject = await engine.ch.query<Record<string, unknown>>(
      `SELECT toString(project_id) AS p, ${STATES} FROM ${db()}.${Tables.inferenceRollup}
       WHERE grain = {g:String} AND level = 'dims' GROUP BY project_id ORDER BY p`,
      { g: grain },
    );
    expect(perProject.map(num)).toEqual(want.perProject);
  }

  // Every row has the spans' fields. A CloudEvent that came before its spans completed the record is
  // merged into it (its envelope, one row); one that came after is a duplicate of the written record
  // (docs/OTLP.md: the record is written once, complete, when its spans are).
  const withEvent = truth.filter((r) => r.cloudEvent);
  const [rows] = await engine.ch.query<Record<string, unknown>>(
    `SELECT countIf(trace_id IS NULL) AS withoutSpans, countIf(event_source = 'gateway-service') AS merged,
            countIf(event_source = 'otlp') AS spansOnly,
            countIf(record_kind = 'inference' AND NOT is_success AND error_code = 'AllVariantsFailed') AS spanErrorCode
     FROM ${db()}.${Tables.inferenceEvents}`,
  );
  const r = num(rows!) as Record<string, number>;
  expect(r.withoutSpans).toBe(0);
  expect(r.merged! + r.spansOnly!).toBe(truth.length);
  expect(r.merged).toBeGreaterThan(withEvent.length / 4);
  // The span's error variant wins over the CloudEvent's "502".
  expect(r.spanErrorCode).toBe(truth.filter((x) => x.kind === "chat_failed").length);
  return r;
}

describe("CloudEvents and spans of the same inferences, interleaved, through the HTTP routes", () => {
  it("one collector (in-process pending store): each inference once in raw and every rollup tier", async () => {
    await truncate();
    const c = await startCollector(engine.ch, {
      COLLECTOR_OTLP_ENABLED: "true",
      COLLECTOR_OTLP_BOUND_MS: String(BOUND_MS),
    });
    try {
      const reqs = generateGatewayRequests({
        seed: 5,
        count: 150,
        startMs: Date.UTC(2026, 0, 7, 9),
        spacingMs: 2_000,
      });
      await deliver(plan(reqs, 5), [c], 5);
      // Whatever is still incomplete is written at its bound (nothing is: every span was sent).
      expect((await c.app.sweep!(Date.now() + BOUND_MS + 1)).failed).toBe(false);
      await check(reqs);
      const metrics = await (await fetch(`${c.url}/metrics`)).text();
      expect(metrics).toMatch(/budmetrics_collector_otlp_held_events_total\{decision="held"\} [1-9]/);
      expect(metrics).toMatch(/budmetrics_collector_otlp_pending\{what="events"\} 0/);
    } finally {
      await c.stop();
    }
  });

  it("two replicas sharing the pending store and the claims in Redis: the same", async () => {
    await truncate();
    const replicas: RunningCollector[] = [];
    for (const owner of ["a", "b"]) {
      replicas.push(
        await startCollector(
          engine.ch,
          { COLLECTOR_OTLP_ENABLED: "true", COLLECTOR_OTLP_BOUND_MS: String(BOUND_MS) },
          {
            claims: createRedisClaimStore({
              redis,
              prefix: `${prefix}claim:`,
              pendingTtlMs: 30_000,
              committedTtlSeconds: 600,
              ownerToken: owner,
            }),
            otlp: {
              store: createRedisPendingStore({ redis, prefix: `${prefix}otlp:` }),
              activity: createRedisSpanActivity({ redis, prefix: `${prefix}otlp:`, windowMs: 900_000 }),
              shared: true,
            },
          },
        ),
      );
    }
    try {
      const reqs = generateGatewayRequests({
        seed: 6,
        count: 120,
        startMs: Date.UTC(2026, 0, 8, 9),
        spacingMs: 2_000,
      });
      await deliver(plan(reqs, 6), replicas, 6);
      for (const c of replicas) expect((await c.app.sweep!(Date.now() + BOUND_MS + 1)).failed).toBe(false);
      await check(reqs);
      expect(await redis.zcard(`${prefix}otlp:due:e`)).toBe(0); // no CloudEvent left held
    } finally {
      for (const c of replicas) await c.stop();
    }
  });
});
