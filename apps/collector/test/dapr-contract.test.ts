/**
 * Contract tests: the exact payloads daprd sends and the exact answers it needs (docs/COLLECTOR.md, "Dapr";
 * dapr/dapr pkg/runtime/subscription/postman/http).
 * Real embedded ClickHouse underneath; nothing mocked.
 */
import { openTestEngine, type TestEngine } from "../../../test/support/engine";
import { createCatalogue, generateInferences, inferenceCloudEvent } from "../../../test/support/generate";
import { Tables, type InferenceData } from "@budmetrics/schema";
import { bulkEnvelope, countInferences, countRows, startCollector, type RunningCollector } from "./harness";

let engine: TestEngine;
let collector: RunningCollector;
const catalogue = createCatalogue(7);
const events = [
  ...generateInferences({
    seed: 11,
    count: 40,
    startMs: Date.UTC(2026, 0, 5),
    endMs: Date.UTC(2026, 0, 6),
    catalogue,
  }),
];
let next = 0;
const take = (): InferenceData => events[next++]!;

/** What the sidecar POSTs for one message: the publisher's CloudEvent plus Dapr's attributes. */
function sidecarEvent(data: InferenceData) {
  return {
    ...inferenceCloudEvent(data),
    topic: "budMetricsMessages",
    pubsubname: "pubsub-redis",
    traceid: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    tracestate: "",
  };
}

beforeAll(async () => {
  engine = await openTestEngine("collector_contract");
  collector = await startCollector(engine.ch, { APP_API_TOKEN: "s3cret-token" });
});
afterAll(async () => {
  await collector.stop();
  await engine.close();
});

const token = { "dapr-api-token": "s3cret-token" };
const single = { ...token, "content-type": "application/cloudevents+json" };

describe("GET /dapr/subscribe", () => {
  it("returns the programmatic subscription with string metadata, type routes, bulk and dead letters", async () => {
    const res = await fetch(`${collector.url}/dapr/subscribe`, { headers: token });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual([
      {
        pubsubname: "pubsub-redis",
        topic: "budMetricsMessages",
        routes: {
          rules: [{ match: 'event.type == "add_observability_metrics"', path: "/dapr/events/inference" }],
          default: "/dapr/events",
        },
        deadLetterTopic: "poisonMessages",
        bulkSubscribe: { enabled: true, maxMessagesCount: 5000, maxAwaitDurationMs: 50 },
        metadata: { rawPayload: "false" },
      },
    ]);
  });

  it("refuses a request without the app token but lets the health probe through", async () => {
    expect((await fetch(`${collector.url}/dapr/subscribe`)).status).toBe(401);
    expect((await fetch(`${collector.url}/healthz`)).status).toBe(200);
    const wrong = await collector.post("/dapr/events", sidecarEvent(take()), { "dapr-api-token": "nope" });
    expect(wrong.status).toBe(401);
  });
});

describe("single delivery", () => {
  it("answers SUCCESS only once the row is stored, and SUCCESS again for a redelivery", async () => {
    const data = take();
    const body = JSON.stringify(sidecarEvent(data));
    const first = await collector.post("/dapr/events/inference", body, single);
    expect(first).toMatchObject({ status: 200, body: { status: "SUCCESS" } });
    // Ack-then-visible: a query issued right after the acknowledgement sees the row.
    expect(await countRows(engine.ch, Tables.inferenceEvents, `inference_id = '${data.inference_id}'`)).toBe(
      1,
    );
    const again = await collector.post("/dapr/events/inference", body, single);
    expect(again).toMatchObject({ status: 200, body: { status: "SUCCESS" } });
    expect(await countRows(engine.ch, Tables.inferenceEvents, `inference_id = '${data.inference_id}'`)).toBe(
      1,
    );
  });

  it("answers DROP for an invalid event and keeps it in quarantine with the field and rule", async () => {
    const data = { ...take(), status_code: 42 };
    const event = sidecarEvent(data);
    const res = await collector.post("/dapr/events/inference", event, single);
    expect(res).toMatchObject({ status: 200, body: { status: "DROP" } });
    const rows = await engine.ch.query<{
      reason_code: string;
      field_path: string;
      reason: string;
      raw_payload: string;
      channel: string;
    }>(
      `SELECT reason_code, field_path, reason, raw_payload, channel FROM ${engine.ch.database}.${Tables.quarantine} WHERE event_id = {id:String}`,
      { id: event.id },
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      reason_code: "EVENT_SCHEMA_INVALID",
      field_path: "data.status_code",
      reason: "data.status_code: must be >= 100",
      channel: "dapr",
    });
    expect(JSON.parse(rows[0]!.raw_payload)).toEqual(event);
  });

  it("answers DROP for an envelope without id (never invents one)", async () => {
    const { id: _id, ...noId } = sidecarEvent(take());
    const res = await collector.post("/dapr/events/inference", noId, single);
    expect(res.body).toEqual({ status: "DROP" });
  });

  it("takes a rawPayload delivery (synthetic envelope, data_base64) by the payload's own inference_id", async () => {
    const data = take();
    const delivery = (envelopeId: string) => ({
      specversion: "1.0",
      id: envelopeId,
      source: "budgateway",
      type: "com.dapr.event.sent",
      datacontenttype: "application/octet-stream",
      data_base64: Buffer.from(JSON.stringify(data)).toString("base64"),
      topic: "budMetricsMessages",
      pubsubname: "pubsub-redis",
      traceid: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      tracestate: "",
    });
    // Dapr gives every delivery of a raw message a new envelope id.
    expect((await collector.post("/dapr/events", delivery("d6b1b1a4-1"), single)).body).toEqual({
      status: "SUCCESS",
    });
    expect((await collector.post("/dapr/events", delivery("d6b1b1a4-2"), single)).body).toEqual({
      status: "SUCCESS",
    });
    expect(await countRows(engine.ch, Tables.inferenceEvents, `inference_id = '${data.inference_id}'`)).toBe(
      1,
    );
  });
});

describe("bulk delivery", () => {
  it("answers one status per entryId, as an array, for valid, invalid and duplicate entries", async () => {
    const a = take();
    const b = take();
    const stored = take();
    await collector.post("/dapr/events/inference", sidecarEvent(stored), single);
    const before = await countInferences(engine.ch);
    const body = bulkEnvelope([
      { entryId: "e-1", event: sidecarEvent(a) },
      { entryId: "e-2", event: sidecarEvent({ ...b, request_forward_time: "2020-01-01T00:00:00.000Z" }) },
      { entryId: "e-3", event: sidecarEvent(stored) },
      { entryId: "e-4", event: sidecarEvent(a) },
      { entryId: "e-5", event: { ...sidecarEvent(b), data: { ...b, surprise: 1 } } },
      { entryId: "e-6", event: sidecarEvent(b) },
    ]);
    const res = await collector.post("/dapr/events/inference", body, token);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      statuses: [
        { entryId: "e-1", status: "SUCCESS" },
        { entryId: "e-2", status: "DROP" },
        { entryId: "e-3", status: "SUCCESS" },
        { entryId: "e-4", status: "SUCCESS" },
        { entryId: "e-5", status: "DROP" },
        { entryId: "e-6", status: "SUCCESS" },
      ],
    });
    const after = await countInferences(engine.ch);
    expect(after.raw - before.raw).toBe(2);
    expect(after.rollup - before.rollup).toBe(2);
    const reasons = await engine.ch.query<{ field_path: string; reason_code: string }>(
      `SELECT field_path, reason_code FROM ${engine.ch.database}.${Tables.quarantine} WHERE channel = 'dapr-bulk' ORDER BY field_path`,
    );
    expect(reasons).toEqual([
      { field_path: "data.request_forward_time", reason_code: "EVENT_RULE_VIOLATED" },
      { field_path: "data.surprise", reason_code: "EVENT_SCHEMA_INVALID" },
    ]);
  });

  it("decodes raw-payload (base64) entries: bare data, a CloudEvent, garbage, and JSON text", async () => {
    const bare = take();
    const ce = take();
    const body = bulkEnvelope([
      { entryId: "r-1", event: Buffer.from(JSON.stringify(bare)).toString("base64") },
      { entryId: "r-2", event: Buffer.from(JSON.stringify(inferenceCloudEvent(ce))).toString("base64") },
      { entryId: "r-3", event: Buffer.from("{not json").toString("base64") },
      { entryId: "r-4", event: Buffer.from(JSON.stringify(bare)).toString("base64") },
      { entryId: "r-5", event: JSON.stringify(inferenceCloudEvent(ce)) },
    ]);
    const res = await collector.post("/dapr/events", body, token);
    expect(res.body).toEqual({
      statuses: [
        { entryId: "r-1", status: "SUCCESS" },
        { entryId: "r-2", status: "SUCCESS" },
        { entryId: "r-3", status: "DROP" },
        { entryId: "r-4", status: "SUCCESS" },
        { entryId: "r-5", status: "SUCCESS" },
      ],
    });
    expect(
      await countRows(
        engine.ch,
        Tables.inferenceEvents,
        `inference_id IN ('${bare.inference_id}', '${ce.inference_id}')`,
      ),
    ).toBe(2);
    expect(await countRows(engine.ch, Tables.quarantine, "reason_code = 'EVENT_MALFORMED_JSON'")).toBe(1);
  });

  it("routes metric samples by type through the default path", async () => {
    const sample = {
      specversion: "1.0",
      id: "smp-0001",
      source: "budcluster",
      type: "model.inference",
      time: "2026-01-05T10:30:00.123Z",
      datacontenttype: "application/json",
      data: { metric_type: "gpu_utilization", value: 0.75, model: "llama-2-7b", cluster: "production" },
    };
    const res = await collector.post(
      "/dapr/events",
      bulkEnvelope([
        { entryId: "s-1", event: sample },
        { entryId: "s-2", event: { ...sample, id: "smp-0002", data: { metric_type: "GPU", value: 1 } } },
        { entryId: "s-3", event: { ...sample, id: "smp-0003", type: "something.else" } },
      ]),
      token,
    );
    expect(res.body).toEqual({
      statuses: [
        { entryId: "s-1", status: "SUCCESS" },
        { entryId: "s-2", status: "DROP" },
        { entryId: "s-3", status: "DROP" },
      ],
    });
    const rows = await engine.ch.query<{ sample_time: string; value: number }>(
      `SELECT sample_time, value FROM ${engine.ch.database}.${Tables.metricSamples} WHERE event_id = 'smp-0001'`,
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]!.value).toBe(0.75);
    expect(rows[0]!.sample_time).toMatch(/2026-01-05.10:30:00\.123/);
  });

  it("skips entries without an entryId (Dapr redelivers them) and answers the rest", async () => {
    const body = bulkEnvelope([{ entryId: "x-1", event: sidecarEvent(take()) }]);
    (body.entries as unknown[]).push({
      event: sidecarEvent(take()),
      contentType: "application/cloudevents+json",
    });
    const res = await collector.post("/dapr/events", body, token);
    expect(res.body).toEqual({ statuses: [{ entryId: "x-1", status: "SUCCESS" }] });
  });
});
