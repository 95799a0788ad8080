/**
 * Records from spans whose values the declaration refuses, through /v1/traces into the real engine:
 * one bad value never fails the record, one bad record never fails its request — the value is left
 * out (a forward time before the arrival corrected), a record whose own time the tables cannot keep
 * — or that is older than the raw table keeps — is quarantined, and the other records of the same
 * request are stored.
 */
import { Tables, toNumber } from "@budmetrics/schema";
import { openTestEngine, type TestEngine } from "../../../test/support/engine";
import {
  generateGatewayRequests,
  type GatewayRequest,
  type JsonSpan,
  type OtlpJsonRequest,
} from "../../../test/support/otlp-gateway";
import { startCollector, type RunningCollector } from "./harness";
import { CT, otlpBody, postTraces } from "./otlp-harness";

let engine: TestEngine;
let c: RunningCollector;
beforeAll(async () => {
  // Raw rows kept 30 days: a record older than that is refused as expired, as a CloudEvent is.
  engine = await openTestEngine("otlp_record_sink", { RAW_DATA_RETENTION_DAYS: "30" });
  c = await startCollector(engine.ch);
});
afterAll(async () => {
  await c.stop();
  await engine.close();
});

const CHAT_ONLY = {
  chat: 1,
  chat_stream: 0,
  chat_failed: 0,
  embedding: 0,
  audio_transcription: 0,
  image_generation: 0,
  blocked: 0,
  response: 0,
};
const reqs = generateGatewayRequests({
  seed: 12,
  count: 3,
  startMs: Date.now() - 86_400_000,
  mix: CHAT_ONLY,
});

/** The request's spans with some attributes of its handler replaced. */
function withHandler(r: GatewayRequest, set: Record<string, string>): JsonSpan[] {
  return r.spans.map((s) => {
    if (!s.name.endsWith("_handler_observability")) return s;
    const attributes = s.attributes.filter((a) => !(a.key in set));
    for (const [key, v] of Object.entries(set)) attributes.push({ key, value: { stringValue: v } });
    return { ...s, attributes };
  });
}

it("leaves out what the declaration refuses, corrects a forward time, quarantines a record it cannot keep — and stores the rest", async () => {
  const [good, odd, ancient] = reqs as [GatewayRequest, GatewayRequest, GatewayRequest];
  const body: OtlpJsonRequest = {
    resourceSpans: [
      {
        scopeSpans: [
          {
            spans: [
              ...good.spans,
              ...withHandler(odd, {
                "model_inference_details.status_code": "700", // a UInt16, but no HTTP status
                "model_inference.model_name": "m".repeat(2000), // over the 1 KiB bound
                "model_inference_details.request_forward_time": "2026-01-07T08:00:00Z", // before the arrival
              }),
              ...withHandler(ancient, {
                "model_inference_details.request_arrival_time": "1960-01-01T00:00:00Z",
                "model_inference_details.request_forward_time": "1960-01-01T00:00:01Z",
              }),
            ],
          },
        ],
      },
    ],
  };
  const res = await postTraces(c.url, otlpBody(body, "json", false), { "content-type": CT.json });
  expect(res.status).toBe(200);

  const rows = await engine.ch.query<Record<string, unknown>>(
    `SELECT toString(inference_id) AS id, status_code, model_name, input_tokens,
            toUnixTimestamp64Milli(request_forward_time) - toUnixTimestamp64Milli(request_arrival_time) AS queue_ms
     FROM ${engine.ch.database}.${Tables.inferenceEvents} ORDER BY request_arrival_time`,
  );
  expect(rows.map((r) => ({ ...r, queue_ms: toNumber(r.queue_ms) }))).toEqual([
    {
      id: good.inferenceId,
      status_code: 200,
      model_name: good.modelName,
      input_tokens: good.inputTokens,
      queue_ms: expect.any(Number),
    },
    // status code and model name left out (the field is absent: null, ""), the forward time corrected
    { id: odd.inferenceId, status_code: null, model_name: "", input_tokens: odd.inputTokens, queue_ms: 0 },
  ]);
  const [q] = await engine.ch.query<Record<string, unknown>>(
    `SELECT event_id, event_type, event_source, reason_code, field_path, channel, reason
     FROM ${engine.ch.database}.${Tables.quarantine}`,
  );
  expect(q).toEqual({
    event_id: ancient.inferenceId,
    event_type: "otlp_span_record",
    event_source: "otlp",
    reason_code: "OTLP_RECORD_INVALID",
    field_path: "data.request_arrival_time",
    channel: "otlp",
    reason: expect.stringContaining(`trace ${ancient.traceId}`),
  });
  const metrics = await (await fetch(`${c.url}/metrics`)).text();
  expect(metrics).toMatch(/budmetrics_collector_otlp_records_total\{kind="inference",outcome="refused"\} 1/);
  expect(metrics).toMatch(/budmetrics_collector_otlp_records_total\{kind="inference",outcome="inserted"\} 2/);
  expect(metrics).toMatch(/budmetrics_collector_otlp_record_problems_total 3/);
});

it("a record older than the raw table keeps is refused as expired (quarantined), as a CloudEvent would be", async () => {
  const [old] = generateGatewayRequests({
    seed: 13,
    count: 1,
    startMs: Date.now() - 60 * 86_400_000,
    mix: CHAT_ONLY,
  });
  const res = await postTraces(
    c.url,
    otlpBody({ resourceSpans: [{ scopeSpans: [{ spans: old!.spans }] }] }, "protobuf", false),
    { "content-type": CT.protobuf },
  );
  expect(res.status).toBe(200);
  const [n] = await engine.ch.query<{ n: number }>(
    `SELECT count() AS n FROM ${engine.ch.database}.${Tables.inferenceEvents} WHERE inference_id = {id:UUID}`,
    { id: old!.inferenceId! },
  );
  expect(toNumber(n!.n)).toBe(0);
  const [q] = await engine.ch.query<Record<string, unknown>>(
    `SELECT reason_code, channel FROM ${engine.ch.database}.${Tables.quarantine} WHERE event_id = {id:String}`,
    { id: old!.inferenceId! },
  );
  expect(q).toEqual({ reason_code: "EVENT_EXPIRED", channel: "otlp" });
  const [rollup] = await engine.ch.query<{ n: number }>(
    `SELECT sum(request_count) AS n FROM ${engine.ch.database}.${Tables.inferenceRollup} WHERE grain = '5m'`,
  );
  expect(toNumber(rollup!.n)).toBe(2); // the two records of the first test, not this one
});
