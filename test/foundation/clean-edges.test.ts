/**
 * Clean edges on every route of both apps (mounted as `pnpm start` mounts them, one engine):
 * - a body that does not decode as its content-encoding says is 400 on every ingestion route and
 *   every POST route of the query app;
 * - with the engine failing under them (its database dropped: every statement refused with the
 *   engine's own text), no answer carries that text; every 5xx carries a request id (header and
 *   body) and the log has a line with that id and the engine's detail.
 */
import fs from "node:fs";
import path from "node:path";
import { Writable } from "node:stream";
import { createLogger } from "@budmetrics/logger";
import { openTestEngine, type TestEngine } from "../support/engine";
import { createCatalogue, generateInferences, inferenceCloudEvent } from "../support/generate";
import { encodeOtlpJson, type OtlpJsonRequest } from "../support/otlp-gateway";
import { startCollector, bulkEnvelope, type RunningCollector } from "../../apps/collector/test/harness";

let engine: TestEngine;
let c: RunningCollector;
const logLines: string[] = [];
const ENGINE_TEXT =
  /DB::Exception|Code: \d+|UNKNOWN_(DATABASE|TABLE)|bm_clean_edges|SETTINGS|max_execution_time|max_rows_to_read|Stack trace/;

const data = [
  ...generateInferences({
    seed: 13,
    count: 12,
    startMs: Date.now() - 3_600_000,
    endMs: Date.now() - 60_000,
    catalogue: createCatalogue(13),
  }),
];

beforeAll(async () => {
  engine = await openTestEngine("clean_edges");
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logLines.push(...chunk.toString().split("\n").filter(Boolean));
      done();
    },
  });
  c = await startCollector(
    engine.ch,
    { COLLECTOR_FLUSH_MAX_RETRIES: "1", COLLECTOR_FLUSH_RETRY_BACKOFF_MS: "10" },
    { withQuery: true, log: createLogger({ level: "warn", name: "clean-edges" }, sink) },
  );
}, 60_000);

afterAll(async () => {
  await c?.stop();
  await engine?.close();
});

type Op = { method: "GET" | "POST"; path: string; body?: unknown };

/** A value the schema admits, as small as possible (dates in a recent hour, to after from). */
function minimal(schema: Record<string, unknown> | undefined, name = ""): unknown {
  if (!schema) return undefined;
  for (const k of ["oneOf", "anyOf"] as const) {
    const alts = schema[k] as Array<Record<string, unknown>> | undefined;
    if (alts?.length) return minimal(alts.find((a) => a.type !== "null") ?? alts[0], name);
  }
  if (Array.isArray(schema.enum)) return schema.enum.find((v) => v !== null);
  if ("const" in schema) return schema.const;
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== "null") : schema.type;
  const hour = Math.floor(Date.now() / 3_600_000) * 3_600_000;
  switch (type) {
    case "object": {
      const props = (schema.properties ?? {}) as Record<string, Record<string, unknown>>;
      const out: Record<string, unknown> = {};
      for (const k of (schema.required as string[] | undefined) ?? []) out[k] = minimal(props[k], k);
      return out;
    }
    case "array": {
      const n = Math.max(1, Number(schema.minItems ?? 1));
      return Array.from({ length: n }, () => minimal(schema.items as Record<string, unknown>, name));
    }
    case "integer":
    case "number":
      return Math.max(Number(schema.minimum ?? 1), 1);
    case "boolean":
      return true;
    case "string":
      if (schema.format === "uuid" || /_id$|^id$/.test(name)) return "6f1b3e0e-8a8b-4c2e-9d5a-1c1d1e1f2a3b";
      if (schema.format === "date-time" || /date|time|from|to|start|end/.test(name)) {
        return new Date(/to|end/.test(name) ? hour : hour - 86_400_000).toISOString();
      }
      return "x";
    default:
      return undefined;
  }
}

async function queryOps(): Promise<Op[]> {
  const doc = (await (await fetch(`${c.url}/openapi.json`)).json()) as {
    paths: Record<string, Record<string, Record<string, unknown>>>;
  };
  const ops: Op[] = [];
  for (const [p, item] of Object.entries(doc.paths)) {
    for (const [m, op] of Object.entries(item)) {
      const params = (op.parameters ?? []) as Array<{
        name: string;
        in: string;
        required?: boolean;
        schema?: Record<string, unknown>;
      }>;
      let url = p.replace(/\{[^}]+\}/g, "6f1b3e0e-8a8b-4c2e-9d5a-1c1d1e1f2a3b");
      const q = params
        .filter((x) => x.in === "query" && x.required)
        .map((x) => `${x.name}=${encodeURIComponent(String(minimal(x.schema, x.name)))}`);
      if (q.length) url += `?${q.join("&")}`;
      const body = (
        op.requestBody as { content?: Record<string, { schema?: Record<string, unknown> }> } | undefined
      )?.content?.["application/json"]?.schema;
      ops.push({
        method: m.toUpperCase() as "GET" | "POST",
        path: url,
        ...(body ? { body: minimal(body) } : {}),
      });
    }
  }
  return ops;
}

const INGEST_JSON: Array<{ path: string; body: () => unknown; type?: string }> = [
  { path: "/observability/add", body: () => ({ events: [inferenceCloudEvent(data[0]!)] }) },
  { path: "/observability/events", body: () => ({ events: [inferenceCloudEvent(data[1]!)] }) },
  {
    path: "/dapr/events",
    body: () => bulkEnvelope([{ entryId: "e1", event: inferenceCloudEvent(data[2]!) }]),
  },
  {
    path: "/dapr/events/inference",
    body: () => inferenceCloudEvent(data[3]!),
    type: "application/cloudevents+json",
  },
];

describe("a body that does not decode as its content-encoding says", () => {
  it("is 400 on every ingestion route and every POST route of the query app", async () => {
    const posts = [
      ...INGEST_JSON.map((r) => ({ path: r.path, type: r.type ?? "application/json" })),
      { path: "/v1/traces", type: "application/x-protobuf" },
      { path: "/v1/traces", type: "application/json" },
      ...(await queryOps())
        .filter((o) => o.method === "POST" && !o.path.startsWith("/admin/"))
        .map((o) => ({ path: o.path, type: "application/json" })),
    ];
    const answers: Array<{ path: string; encoding: string; status: number }> = [];
    for (const p of posts) {
      for (const encoding of ["gzip", "deflate"]) {
        const res = await fetch(c.url + p.path, {
          method: "POST",
          headers: { "content-type": p.type, "content-encoding": encoding },
          body: "this is not compressed",
        });
        await res.arrayBuffer();
        answers.push({ path: p.path, encoding, status: res.status });
      }
    }
    expect(posts.length).toBeGreaterThan(12);
    expect(answers.filter((a) => a.status !== 400)).toEqual([]);
  }, 60_000);
});

describe("with the engine refusing every statement", () => {
  beforeAll(async () => {
    await engine.ch.command(`DROP DATABASE ${engine.ch.database}`);
  });

  it("no answer carries the engine's text; every 5xx has a request id the log knows, with the detail", async () => {
    const fixture = JSON.parse(
      fs.readFileSync(
        path.join(__dirname, "../../apps/collector/test/fixtures/otlp/otel_traces_sample.otlp.json"),
        "utf8",
      ),
    ) as OtlpJsonRequest;
    const requests: Array<{ method: string; path: string; body?: string; type: string }> = [
      ...INGEST_JSON.map((r) => ({
        method: "POST",
        path: r.path,
        body: JSON.stringify(r.body()),
        type: r.type ?? "application/json",
      })),
      { method: "POST", path: "/v1/traces", body: encodeOtlpJson(fixture), type: "application/json" },
      ...(await queryOps()).map((o) => ({
        method: o.method,
        path: o.path,
        ...(o.body !== undefined ? { body: JSON.stringify(o.body) } : {}),
        type: "application/json",
      })),
    ];
    const fives: Array<{ path: string; status: number; requestId: string | null }> = [];
    const leaks: Array<{ path: string; status: number; text: string }> = [];
    let reachedEngine = 0;
    for (const r of requests) {
      const res = await fetch(c.url + r.path, {
        method: r.method,
        headers: { "content-type": r.type },
        ...(r.body !== undefined ? { body: r.body } : {}),
      });
      const text = await res.text();
      const requestId = res.headers.get("x-request-id");
      expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
      if (ENGINE_TEXT.test(text)) leaks.push({ path: r.path, status: res.status, text: text.slice(0, 300) });
      if (res.status >= 500) {
        fives.push({ path: r.path, status: res.status, requestId });
        if (res.headers.get("content-type")?.includes("json") && r.path !== "/v1/traces") {
          const body = JSON.parse(text) as { error?: { request_id?: string } };
          if (body.error) expect(body.error.request_id).toBe(requestId);
        }
      }
      if (res.status >= 500 || text.includes("RETRY")) reachedEngine++;
    }
    expect(leaks).toEqual([]);
    // The engine was reached: ingestion and most query routes failed for it.
    expect(reachedEngine).toBeGreaterThanOrEqual(10);
    // Every 5xx answer's id is on a log line that holds the engine's detail.
    for (const f of fives.filter((x) => x.path !== "/v1/traces" && !x.path.includes("health"))) {
      const line = logLines.find((l) => l.includes(`"requestId":"${f.requestId}"`));
      expect({ path: f.path, logged: line !== undefined }).toEqual({ path: f.path, logged: true });
      expect(line).toMatch(/UNKNOWN_DATABASE|DB::Exception/);
    }
    process.stdout.write(
      `${requests.length} requests, ${reachedEngine} reached the failing engine, ${fives.length} answered 5xx (${[...new Set(fives.map((f) => f.status))].join(", ")}), 0 with engine text\n`,
    );
  }, 120_000);
});
