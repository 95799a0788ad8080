/** Test data loading (the collector's way: toInferenceRow + event writer) and a plain-TS oracle. */
import type { ClickHouse } from "@budmetrics/clickhouse";
import {
  toInferenceRow,
  toSampleRow,
  sampleKey,
  type InferenceData,
  type SampleData,
} from "@budmetrics/schema";
import { createTestWriter } from "../../../test/support/load";

export async function loadInferences(ch: ClickHouse, events: InferenceData[]): Promise<void> {
  const writer = createTestWriter(ch);
  for (let i = 0; i < events.length; i += 5_000) {
    const rows = events.slice(i, i + 5_000).map((d) => ({
      key: d.inference_id,
      timeMs: Date.parse(d.request_arrival_time),
      line: JSON.stringify(toInferenceRow(d, { id: d.inference_id, source: "test" })),
    }));
    const r = await writer.write("inference", rows);
    if (r.inserted !== rows.length) throw new Error(`inserted ${r.inserted} of ${rows.length}`);
  }
}

export async function loadSamples(
  ch: ClickHouse,
  samples: Array<{ id: string; timeMs: number; data: SampleData }>,
): Promise<void> {
  const writer = createTestWriter(ch);
  const rows = samples.map((s) => ({
    key: sampleKey("test", s.id),
    timeMs: s.timeMs,
    line: JSON.stringify(
      toSampleRow(s.data, { id: s.id, source: "test", type: "model.inference", timeMs: s.timeMs }),
    ),
  }));
  const r = await writer.write("sample", rows);
  if (r.inserted !== rows.length) throw new Error(`inserted ${r.inserted} of ${rows.length}`);
}

export interface OracleEvent {
  t: number;
  d: InferenceData;
}

export function toOracle(events: InferenceData[]): OracleEvent[] {
  return events.map((d) => ({ t: Date.parse(d.request_arrival_time), d }));
}

/** Exact statistics of a set of inferences, Bud stack field names. */
export function oracleStats(evs: OracleEvent[]) {
  const n = evs.length;
  const success = evs.filter((e) => e.d.is_success).length;
  const cached = evs.filter((e) => e.d.cached).length;
  const lat = evs.map((e) => e.d.response_time_ms).filter((x): x is number => x != null);
  const ttft = evs.map((e) => e.d.ttft_ms).filter((x): x is number => x != null);
  const input = evs.reduce((s, e) => s + (e.d.input_tokens ?? 0), 0);
  const output = evs.reduce((s, e) => s + (e.d.output_tokens ?? 0), 0);
  const queue = evs.reduce((s, e) => s + (Date.parse(e.d.request_forward_time) - e.t), 0);
  const thr = evs.filter((e) => (e.d.response_time_ms ?? 0) > 0);
  const thrSum = thr.reduce((s, e) => s + ((e.d.output_tokens ?? 0) * 1000) / e.d.response_time_ms!, 0);
  const cost = evs.reduce((s, e) => s + Math.round((e.d.cost ?? 0) * 1e9), 0) / 1e9;
  const avg = (xs: number[]) => (xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length);
  return {
    request_count: { count: n },
    success_request: { count: success, rate: n === 0 ? null : (success / n) * 100 },
    failure_request: { count: n - success, rate: n === 0 ? null : ((n - success) / n) * 100 },
    queuing_time: { avg_time_ms: n === 0 ? null : queue / n },
    input_token: { count: input },
    output_token: { count: output },
    total_token: { count: input + output },
    cache: { hit_rate: n === 0 ? null : (cached / n) * 100, hit_count: cached },
    cost: { sum: cost },
    throughput: { avg: thr.length === 0 ? null : thrSum / thr.length },
    latency: {
      avg: avg(lat),
      values: lat,
      min: lat.length ? Math.min(...lat) : null,
      max: lat.length ? Math.max(...lat) : null,
    },
    ttft: { avg: avg(ttft), values: ttft },
  };
}

/**
 * DDSketch guarantee: the returned value lies within relative accuracy (1%) of some order statistic
 * near the requested rank. Checks |got − x| ≤ 1% · x for an x among the sorted values at ranks
 * within ±1 of q·(n−1) (ClickHouse's rank convention), widened by float rounding.
 */
export function withinSketchError(values: number[], q: number, got: number | null): boolean {
  if (values.length === 0) return got === null;
  if (got === null) return false;
  const s = [...values].sort((a, b) => a - b);
  const r = q * (s.length - 1);
  const lo = Math.max(0, Math.floor(r) - 1);
  const hi = Math.min(s.length - 1, Math.ceil(r) + 1);
  for (let i = lo; i <= hi; i++) {
    if (Math.abs(got - s[i]!) <= 0.0101 * Math.abs(s[i]!) + 1e-9) return true;
  }
  return false;
}

/**
 * Peak requests in flight in [from, to) (same definition as the concurrency query): the largest
 * number in flight at an arrival inside the bucket or at its start.
 */
export function oraclePeak(all: OracleEvent[], from: number, to: number): number {
  const end = (o: OracleEvent) => o.t + Math.max(o.d.response_time_ms ?? 0, 0);
  // At the bucket start: requests that arrived before it and end after it.
  let peak = all.filter((o) => o.t < from && end(o) > from).length;
  for (const e of all) {
    if (e.t < from || e.t >= to) continue;
    let n = 0;
    for (const o of all) {
      if (o.t <= e.t && (end(o) > e.t || (o.t === e.t && end(o) === o.t))) n++;
    }
    peak = Math.max(peak, n);
  }
  return peak;
}

export function close(a: number | null | undefined, b: number | null | undefined, rel = 1e-9): boolean {
  if (a === null || a === undefined || b === null || b === undefined) return a == b;
  return Math.abs(a - b) <= rel * Math.max(1, Math.abs(a), Math.abs(b));
}

import http from "node:http";
import type { AddressInfo } from "node:net";
import { loadConfig } from "@budmetrics/config";
import { createHost, createRegistry, type MountedApp } from "@budmetrics/http";
import { createSilentLogger } from "@budmetrics/logger";
import { createQueryApp } from "../src/app";
import { queryConfigSchema } from "../src/config";
import type { Cache } from "../src/ports";

/** A reply as the tests read it: JSON bodies are loosely typed on purpose (assertions check them). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Reply = { status: number; body: any; headers: Headers };

export interface RunningApp {
  url: string;
  app: MountedApp;
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<Reply>;
  get(path: string): Promise<Reply>;
  close(): Promise<void>;
}

/** The query app on a real HTTP server (port 0), as the standalone launcher mounts it. */
export async function startApp(
  ch: ClickHouse,
  opts: { env?: Record<string, string>; cache?: Cache; nowMs?: number } = {},
): Promise<RunningApp> {
  const config = loadConfig(queryConfigSchema, { ...(opts.env ?? {}) });
  const log = createSilentLogger();
  const registry = createRegistry(false);
  const app = await createQueryApp({
    ch,
    log,
    config,
    registry,
    ...(opts.cache ? { cache: opts.cache } : {}),
    ...(opts.nowMs !== undefined ? { now: () => opts.nowMs! } : {}),
  });
  // As the all-in-one mounts it: /admin/* from loopback without ADMIN_API_TOKEN.
  const host = createHost({ apps: [app], log, registry, adminWithoutToken: "loopback" });
  const server = http.createServer(host);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const parse = async (res: Response) => {
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON
    }
    return { status: res.status, body, headers: res.headers };
  };
  return {
    url,
    app,
    async post(path, body, headers = {}) {
      const res = await fetch(url + path, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: typeof body === "string" ? body : JSON.stringify(body),
      });
      return parse(res);
    },
    async get(path) {
      return parse(await fetch(url + path));
    },
    async close() {
      await app.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
