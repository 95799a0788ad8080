/**
 * POST /v1/traces on a running collector (real host, real embedded engine, the query app mounted
 * beside it as in embedded mode): the original's trace fixture as OTLP protobuf and as OTLP/JSON,
 * gzip, gives the numbers the original's ground truth expects, read back through the query app's own
 * endpoint and with SQL on the raw table and every rollup tier.
 */
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { Tables, toNumber } from "@budmetrics/schema";
import { ExportTraceServiceResponse } from "../src/otlp/decode";
import { openTestEngine, type TestEngine } from "../../../test/support/engine";
import {
  exportRequests,
  generateGatewayRequests,
  type OtlpJsonRequest,
} from "../../../test/support/otlp-gateway";
import { startCollector, type RunningCollector } from "./harness";
import { CT, otlpBody, perSpan, postTraces, type Format } from "./otlp-harness";

const FIX = path.join(__dirname, "fixtures", "otlp");
const fixture = JSON.parse(
  fs.readFileSync(path.join(FIX, "otel_traces_sample.otlp.json"), "utf8"),
) as OtlpJsonRequest;

let engine: TestEngine;
beforeAll(async () => {
  engine = await openTestEngine("otlp_route");
});
afterAll(() => engine.close());

const db = () => engine.ch.database;

/** Empties the inference tables between scenarios (each scenario starts a new collector too). */
async function truncate() {
  for (const t of [Tables.inferenceEvents, Tables.inferenceIds, Tables.inferenceRollup, Tables.quarantine])
    await engine.ch.command(`TRUNCATE TABLE ${db()}.${t}`);
}

/** The original's ground truth for the fixture (test_aggregated_metrics.py, its SQL over InferenceFact). */
const TRUTH = {
  requests: 6,
  successes: 4,
  inputTokens: 86,
  outputTokens: 114,
  avgLatencyMs: 1375,
  avgTtftMs: 312.5,
  cached: 3,
  cost: 0.00125,
};

async function rawTotals() {
  const [r] = await engine.ch.query<Record<string, number | string>>(
    `SELECT count() AS n, uniqExact(inference_id) AS ids, countIf(is_success) AS ok, sum(input_tokens) AS tin,
            sum(output_tokens) AS tout, avg(response_time_ms) AS lat, avg(ttft_ms) AS ttft, countIf(cached) AS cached,
            toFloat64(sum(cost)) AS cost
     FROM ${db()}.${Tables.inferenceEvents}`,
  );
  return Object.fromEntries(Object.entries(r!).map(([k, v]) => [k, toNumber(v)]));
}

/** Per tier (grain × level) of the one rollup table: the same totals from the states. */
async function rollupTotals() {
  const rows = await engine.ch.query<Record<string, number | string>>(
    `SELECT toString(grain) AS g, toString(level) AS l, sum(request_count) AS n, sum(success_count) AS ok,
            sum(input_tokens_sum) AS tin, sum(output_tokens_sum) AS tout, sum(latency_sum) / sum(latency_count) AS lat,
            sum(ttft_sum) / sum(ttft_count) AS ttft, sum(cached_count) AS cached, toFloat64(sum(cost_sum)) AS cost
     FROM ${db()}.${Tables.inferenceRollup} GROUP BY grain, level ORDER BY grain, level`,
  );
  return rows.map(({ g, l, ...states }) => ({
    grain: String(g),
    level: String(l),
    ...Object.fromEntries(Object.entries(states).map(([k, v]) => [k, toNumber(v)])),
  })) as Array<Record<string, number> & { grain: string; level: string }>;
}

describe.each<Format>(["protobuf", "json"])("the original's fixture as gzip %s on /v1/traces", (format) => {
  let c: RunningCollector;
  beforeAll(async () => {
    await truncate();
    c = await startCollector(engine.ch, {}, { withQuery: true });
  });
  afterAll(() => c.stop());

  it("is answered 200 with an empty ExportTraceServiceResponse, in the request's encoding", async () => {
    const res = await postTraces(c.url, otlpBody(fixture, format), {
      "content-type": CT[format],
      "content-encoding": "gzip",
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe(CT[format]);
    if (format === "json") expect(res.bytes.toString()).toBe("{}");
    else
      expect(ExportTraceServiceResponse.toObject(ExportTraceServiceResponse.decode(res.bytes))).toEqual({});
  });

  it("stores the six records once: raw table", async () => {
    expect(await rawTotals()).toEqual({
      n: TRUTH.requests,
      ids: TRUTH.requests,
      ok: TRUTH.successes,
      tin: TRUTH.inputTokens,
      tout: TRUTH.outputTokens,
      lat: TRUTH.avgLatencyMs,
      ttft: TRUTH.avgTtftMs,
      cached: TRUTH.cached,
      cost: TRUTH.cost,
    });
  });

  it("and every tier of the rollup counts each of them once", async () => {
    const tiers = await rollupTotals();
    expect(tiers.map((t) => `${t.grain}/${t.level}`)).toEqual([
      "5m/dims",
      "1h/dims",
      "1h/model",
      "1h/total",
      "1d/dims",
      "1d/model",
      "1d/total",
    ]); // the declared tiers (packages/schema rollups.ts), in the table's order
    for (const t of tiers) {
      expect({ ...t, cost: Number(t.cost!.toFixed(9)) }).toEqual({
        grain: t.grain,
        level: t.level,
        n: TRUTH.requests,
        ok: TRUTH.successes,
        tin: TRUTH.inputTokens,
        tout: TRUTH.outputTokens,
        lat: TRUTH.avgLatencyMs,
        ttft: TRUTH.avgTtftMs,
        cached: TRUTH.cached,
        cost: TRUTH.cost,
      });
    }
  });

  it("the query app's aggregated metrics give the original's numbers", async () => {
    const res = await c.post("/observability/metrics/aggregated", {
      from_date: "2026-01-07T00:00:00Z",
      to_date: "2026-01-08T00:00:00Z",
      metrics: [
        "total_requests",
        "success_rate",
        "total_input_tokens",
        "total_output_tokens",
        "avg_latency",
        "ttft_avg",
        "cache_hit_rate",
        "total_cost",
      ],
    });
    expect(res.status).toBe(200);
    const m = res.body.summary as Record<string, { value: number }>;
    expect({
      requests: m.total_requests!.value,
      successRate: m.success_rate!.value,
      input: m.total_input_tokens!.value,
      output: m.total_output_tokens!.value,
      latency: m.avg_latency!.value,
      ttft: m.ttft_avg!.value,
      cacheRate: m.cache_hit_rate!.value,
    }).toEqual({
      requests: TRUTH.requests,
      successRate: (TRUTH.successes * 100) / TRUTH.requests,
      input: TRUTH.inputTokens,
      output: TRUTH.outputTokens,
      latency: TRUTH.avgLatencyMs,
      ttft: TRUTH.avgTtftMs,
      cacheRate: (TRUTH.cached * 100) / TRUTH.requests,
    });
    expect(m.total_cost!.value).toBeCloseTo(TRUTH.cost, 9);
  });

  it("keeps the span fields: kind, trace, messages, client, agent, request", async () => {
    const rows = await engine.ch.query<Record<string, unknown>>(
      `SELECT record_kind, trace_id, JSONExtractString(input_messages, 1, 'role') AS role, country_code, city,
              user_agent, device_type, browser_name, os_name, IPv6NumToString(request_ip) AS ip, method, path,
              is_blocked, event_source, event_id
       FROM ${db()}.${Tables.inferenceEvents} WHERE trace_id = 'eabbcee5ecd7bde08b51580b32136a17'`,
    );
    expect(rows).toEqual([
      {
        record_kind: "inference",
        trace_id: "eabbcee5ecd7bde08b51580b32136a17",
        role: "user",
        country_code: "US",
        city: "Mountain View",
        user_agent: "PostmanRuntime/7.51.0",
        device_type: "desktop",
        browser_name: "PostmanRuntime",
        os_name: "Other",
        ip: "::ffff:192.168.1.100",
        method: "POST",
        path: "/v1/chat/completions",
        is_blocked: false,
        event_source: "otlp",
        event_id: expect.stringMatching(/^[0-9a-f]{16}$/),
      },
    ]);
  });

  it("a resent request (the exporter's retry, in the other encoding too) is answered 200 and stored nothing twice", async () => {
    for (const f of ["protobuf", "json"] as const) {
      const res = await postTraces(c.url, otlpBody(fixture, f), {
        "content-type": CT[f],
        "content-encoding": "gzip",
      });
      expect(res.status).toBe(200);
    }
    expect((await rawTotals()).n).toBe(TRUTH.requests);
    for (const t of await rollupTotals()) expect(t.n).toBe(TRUTH.requests);
  });
});

describe("blocked requests and /v1/responses through the route", () => {
  let c: RunningCollector;
  beforeAll(async () => {
    await truncate();
    c = await startCollector(engine.ch);
  });
  afterAll(() => c.stop());

  it("a blocked request is one record of kind blocked: counted as a request, never a success; zero UUID for what it lacks", async () => {
    const reqs = generateGatewayRequests({
      seed: 31,
      count: 6,
      startMs: Date.UTC(2026, 0, 7, 9),
      mix: {
        chat: 2,
        chat_stream: 0,
        chat_failed: 0,
        embedding: 0,
        audio_transcription: 0,
        image_generation: 0,
        blocked: 2,
        response: 2,
      },
    });
    for (const body of exportRequests(reqs, { seed: 31, maxSpansPerRequest: 7 })) {
      const res = await postTraces(c.url, otlpBody(body, "protobuf"), {
        "content-type": CT.protobuf,
        "content-encoding": "gzip",
      });
      expect(res.status).toBe(200);
    }
    const blocked = reqs.filter((r) => r.kind === "blocked");
    const responses = reqs.filter((r) => r.kind === "response");
    expect(blocked.length).toBeGreaterThan(0);
    expect(responses.length).toBeGreaterThan(0);
    const rows = await engine.ch.query<Record<string, unknown>>(
      `SELECT record_kind, endpoint_type, toString(model_id) AS model, is_success, is_blocked, block_reason,
              toBool(rule_id IS NOT NULL) AS has_rule, rule_name, rule_type, block_reason_detail, error_code, toBool(response_id IS NOT NULL) AS has_response_id
       FROM ${db()}.${Tables.inferenceEvents} WHERE record_kind != 'inference' ORDER BY record_kind, trace_id`,
    );
    expect(rows.filter((r) => r.record_kind === "blocked")).toEqual(
      blocked.map(() => ({
        record_kind: "blocked",
        endpoint_type: "blocked",
        model: "00000000-0000-0000-0000-000000000000",
        is_success: false,
        is_blocked: true,
        block_reason: "Rate limit exceeded",
        has_rule: true,
        rule_name: "API Rate Limit (100/min)",
        rule_type: "RateBasedBlocking",
        block_reason_detail: "Rate limit exceeded",
        error_code: "BLOCKED",
        has_response_id: false,
      })),
    );
    expect(rows.filter((r) => r.record_kind === "response").map((r) => r.endpoint_type)).toEqual(
      responses.map(() => "response"),
    );
    // Every record (a /v1/responses request is two: its own and its nested chat) once, in every tier.
    const expected = reqs.length + responses.length;
    expect((await rawTotals()).n).toBe(expected);
    for (const t of await rollupTotals()) {
      expect([t.grain, t.level, t.n]).toEqual([t.grain, t.level, expected]);
      expect(t.ok).toBe(reqs.filter((r) => r.isSuccess).length + responses.length);
    }
  });
});

describe("a late handler span, across requests", () => {
  let c: RunningCollector;
  const BOUND = 60_000;
  beforeAll(async () => {
    await truncate();
    c = await startCollector(engine.ch, { COLLECTOR_OTLP_BOUND_MS: String(BOUND) });
  });
  afterAll(() => c.stop());

  // data_6 of the fixture: gateway span, HTTP server span and handler span, one request each.
  const trace = "eabbcee5ecd7bde08b51580b32136a17";
  const spans = perSpan(fixture).filter(
    (r) => r.resourceSpans[0]!.scopeSpans[0]!.spans[0]!.traceId === trace,
  );
  const named = (name: string) =>
    spans.filter((r) => r.resourceSpans[0]!.scopeSpans[0]!.spans[0]!.name === name);
  const send = (req: OtlpJsonRequest) =>
    postTraces(c.url, otlpBody(req, "json", false), { "content-type": CT.json });

  it("the gateway span alone waits; at the bound its record is written as it is; the handler that comes after is late", async () => {
    const [gateway] = named("gateway_analytics");
    const handler = spans.filter((r) =>
      r.resourceSpans[0]!.scopeSpans[0]!.spans[0]!.name.endsWith("_observability"),
    );
    expect(gateway).toBeDefined();
    expect(handler).toHaveLength(1);
    expect((await send(gateway!)).status).toBe(200);
    expect((await rawTotals()).n).toBe(0); // pending: the handler may still come
    const swept = await c.app.sweep!(Date.now() + BOUND + 1);
    expect(swept).toMatchObject({ traces: 1, records: 1, failed: false });
    expect(await rawTotals()).toMatchObject({ n: 1, tin: 0, tout: 0 });
    const [gatewayOnly] = await engine.ch.query<{ lat: number; model: string; messages: number }>(
      `SELECT count(response_time_ms) AS lat, model_name AS model, count(input_messages) AS messages
       FROM ${db()}.${Tables.inferenceEvents} GROUP BY model_name`,
    );
    // What the gateway span alone says: its model name, no latency, no messages (the handler's).
    const gatewayModel = gateway!.resourceSpans[0]!.scopeSpans[0]!.spans[0]!.attributes.find(
      (a) => a.key === "gateway_analytics.model_name",
    )?.value.stringValue;
    expect(gatewayOnly).toEqual({ lat: 0, model: gatewayModel, messages: 0 });

    expect((await send(handler[0]!)).status).toBe(200); // acknowledged: nothing to retry
    expect((await rawTotals()).n).toBe(1);
    for (const t of await rollupTotals())
      expect([t.grain, t.level, t.n, t.tin]).toEqual([t.grain, t.level, 1, 0]);
    const metrics = await (await fetch(`${c.url}/metrics`)).text();
    expect(metrics).toMatch(/budmetrics_collector_otlp_spans_total\{outcome="late"\} 1/);
    expect(metrics).toMatch(
      /budmetrics_collector_otlp_records_total\{kind="inference",outcome="inserted"\} 1/,
    );
  });

  it("a handler before its gateway span, in another request, within the bound: one complete record at once", async () => {
    await truncate();
    const other = "eabbcee5ecd7bde08b51580b32136a14";
    const reqs = perSpan(fixture).filter(
      (r) => r.resourceSpans[0]!.scopeSpans[0]!.spans[0]!.traceId === other,
    );
    for (const r of [...reqs].reverse()) expect((await send(r)).status).toBe(200);
    expect(await rawTotals()).toMatchObject({ n: 1, tin: 14, tout: 21, lat: 2125, ttft: 450 });
  });
});

describe("answers for what cannot be read, and the token", () => {
  let c: RunningCollector;
  const LIMIT = 4096;
  beforeAll(async () => {
    await truncate();
    c = await startCollector(engine.ch, {
      COLLECTOR_OTLP_MAX_BODY_BYTES: String(LIMIT),
      APP_API_TOKEN: "s3cret",
    });
  });
  afterAll(() => c.stop());
  const auth = { "dapr-api-token": "s3cret" };
  const one = perSpan(fixture)[0]!;
  const status = (bytes: Buffer) => JSON.parse(bytes.toString()) as { code: number; message: string };

  it("401 without the app token", async () => {
    const res = await postTraces(c.url, otlpBody(one, "json"), {
      "content-type": CT.json,
      "content-encoding": "gzip",
    });
    expect(res.status).toBe(401);
  });

  it("415 for a media type or an encoding it does not take (a Status in JSON)", async () => {
    const type = await postTraces(c.url, Buffer.from("x"), { ...auth, "content-type": "text/plain" });
    expect([type.status, type.headers.get("content-type"), status(type.bytes).code]).toEqual([
      415,
      "application/json",
      3,
    ]);
    const enc = await postTraces(c.url, otlpBody(one, "json", false), {
      ...auth,
      "content-type": CT.json,
      "content-encoding": "br",
    });
    expect([enc.status, status(enc.bytes).message]).toEqual([
      415,
      'Content-Encoding "br" is not supported (gzip, deflate, identity)',
    ]);
  });

  it("400 for a body that is not what it says", async () => {
    const res = await postTraces(c.url, Buffer.from("not gzip"), {
      ...auth,
      "content-type": CT.json,
      "content-encoding": "gzip",
    });
    expect(res.status).toBe(400);
    const pb = await postTraces(c.url, Buffer.from([0xff, 0xff, 0xff]), {
      ...auth,
      "content-type": CT.protobuf,
    });
    expect([pb.status, pb.headers.get("content-type")]).toEqual([400, CT.protobuf]);
  });

  it("413 for a body over the limit as sent, and for one over it once inflated", async () => {
    const big = Buffer.alloc(LIMIT + 1, 0x20);
    const sent = await postTraces(c.url, big, { ...auth, "content-type": CT.json });
    expect([sent.status, status(sent.bytes).code]).toEqual([413, 8]);
    const bomb = zlib.gzipSync(Buffer.alloc(LIMIT * 50, 0x20));
    expect(bomb.length).toBeLessThan(LIMIT);
    const inflated = await postTraces(c.url, bomb, {
      ...auth,
      "content-type": CT.json,
      "content-encoding": "gzip",
    });
    expect([inflated.status, status(inflated.bytes).message]).toEqual([
      413,
      `decompressed body exceeds ${LIMIT} bytes`,
    ]);
  });

  it("a partial success names the spans it could not read; the rest is taken", async () => {
    const bad = structuredClone(one);
    const good = bad.resourceSpans[0]!.scopeSpans[0]!.spans[0]!;
    bad.resourceSpans[0]!.scopeSpans[0]!.spans.push({ ...good, spanId: "00" });
    const res = await postTraces(c.url, otlpBody(bad, "json", false), { ...auth, "content-type": CT.json });
    expect(res.status).toBe(200);
    const body = JSON.parse(res.bytes.toString()) as {
      partialSuccess: { rejectedSpans: string; errorMessage: string };
    };
    expect(body.partialSuccess.rejectedSpans).toBe("1");
    const metrics = await (await fetch(`${c.url}/metrics`)).text();
    expect(metrics).toMatch(/budmetrics_collector_otlp_spans_total\{outcome="rejected"\} 1/);
    expect(metrics).toMatch(/budmetrics_collector_otlp_requests_total\{status="415"\} 2/);
  });
});

describe("COLLECTOR_OTLP_ENABLED", () => {
  const gen = () =>
    generateGatewayRequests({
      seed: 44,
      count: 2,
      startMs: Date.UTC(2026, 0, 9, 9),
      mix: {
        chat: 1,
        chat_stream: 0,
        chat_failed: 0,
        embedding: 0,
        audio_transcription: 0,
        image_generation: 0,
        blocked: 0,
        response: 0,
      },
    });
  const spansOf = (r: ReturnType<typeof gen>[number]): OtlpJsonRequest => ({
    resourceSpans: [{ scopeSpans: [{ spans: r.spans }] }],
  });

  it("auto: CloudEvents are written at once until spans arrive, then held for theirs and merged", async () => {
    await truncate();
    const c = await startCollector(engine.ch); // auto is the default
    try {
      const [first, second] = gen();
      const before = await c.post("/observability/events", first!.cloudEvent, {
        "content-type": "application/cloudevents+json",
      });
      expect(before.body.result.status).toBe("inserted"); // no spans seen yet: the path as it was
      for (const r of [first!, second!].map(spansOf)) {
        const res = await postTraces(c.url, otlpBody(r, "protobuf", false), { "content-type": CT.protobuf });
        expect(res.status).toBe(200);
      }
      // `first` was stored from its CloudEvent: its spans' record is the same inference (a duplicate).
      const rows = await engine.ch.query<{ id: string; src: string; tin: number }>(
        `SELECT toString(inference_id) AS id, event_source AS src, input_tokens AS tin
         FROM ${db()}.${Tables.inferenceEvents} ORDER BY request_arrival_time`,
      );
      expect(rows).toEqual([
        { id: first!.inferenceId, src: "gateway-service", tin: 0 },
        { id: second!.inferenceId, src: "otlp", tin: second!.inputTokens },
      ]);
      // Spans are arriving now: the next CloudEvent is held; it and its spans make one row.
      const [third] = generateGatewayRequests({ seed: 45, count: 1, startMs: Date.UTC(2026, 0, 9, 10) });
      const held = await c.post("/observability/events", third!.cloudEvent, {
        "content-type": "application/cloudevents+json",
      });
      expect([held.status, held.body.result.status, held.body.summary.held]).toEqual([200, "held", 1]);
      const dapr = await c.post("/dapr/events/inference", third!.cloudEvent, {
        "content-type": "application/cloudevents+json",
      });
      expect(dapr.body).toEqual({ status: "SUCCESS" }); // held again (the same event): acknowledged
      expect(
        (
          await postTraces(c.url, otlpBody(spansOf(third!), "json"), {
            "content-type": CT.json,
            "content-encoding": "gzip",
          })
        ).status,
      ).toBe(200);
      const [merged] = await engine.ch.query<{ src: string; eid: string; tin: number; trace: string }>(
        `SELECT event_source AS src, event_id AS eid, input_tokens AS tin, trace_id AS trace
         FROM ${db()}.${Tables.inferenceEvents} WHERE inference_id = {id:UUID}`,
        { id: third!.inferenceId! },
      );
      expect(merged).toEqual({
        src: "gateway-service",
        eid: third!.cloudEvent!.id,
        tin: third!.inputTokens,
        trace: third!.traceId,
      });
    } finally {
      await c.stop();
    }
  });

  it("false: no route, CloudEvents as before", async () => {
    await truncate();
    const c = await startCollector(engine.ch, { COLLECTOR_OTLP_ENABLED: "false" });
    try {
      const res = await postTraces(c.url, otlpBody(fixture, "protobuf"), { "content-type": CT.protobuf });
      expect(res.status).toBe(404);
      expect(c.app.otlp).toBeUndefined();
    } finally {
      await c.stop();
    }
  });

  it("shutdown writes what the in-process store still holds: incomplete requests and held CloudEvents", async () => {
    await truncate();
    const c = await startCollector(engine.ch, { COLLECTOR_OTLP_ENABLED: "true" });
    const [a, b] = gen();
    // a: its CloudEvent alone (held); b: its gateway span alone (pending).
    const held = await c.post("/observability/events", a!.cloudEvent, {
      "content-type": "application/cloudevents+json",
    });
    expect(held.body.result.status).toBe("held");
    const gatewayOnly = b!.spans.filter((s) => s.name === "gateway_analytics");
    expect(
      (
        await postTraces(
          c.url,
          otlpBody({ resourceSpans: [{ scopeSpans: [{ spans: gatewayOnly }] }] }, "protobuf", false),
          {
            "content-type": CT.protobuf,
          },
        )
      ).status,
    ).toBe(200);
    expect((await rawTotals()).n).toBe(0);
    await c.stop(); // stopAccepting → drain (final sweep, flush) → close
    const rows = await engine.ch.query<{ id: string; src: string }>(
      `SELECT toString(inference_id) AS id, event_source AS src FROM ${db()}.${Tables.inferenceEvents} ORDER BY id`,
    );
    expect(rows).toEqual(
      [
        { id: a!.inferenceId!, src: "gateway-service" },
        { id: b!.inferenceId!, src: "otlp" },
      ].sort((x, y) => x.id.localeCompare(y.id)),
    );
  });
});
