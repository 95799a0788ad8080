import { openTestEngine, type TestEngine } from "../../../test/support/engine";
import { createCatalogue, generateInferences, inferenceCloudEvent } from "../../../test/support/generate";
import { Tables, type InferenceData } from "@budmetrics/schema";
import { bulkEnvelope, countRows, startCollector, type RunningCollector } from "./harness";

let engine: TestEngine;
let c: RunningCollector;
const data = [
  ...generateInferences({
    seed: 5,
    count: 30,
    startMs: Date.UTC(2026, 2, 1),
    endMs: Date.UTC(2026, 2, 2),
    catalogue: createCatalogue(5),
  }),
];
let next = 0;
const take = (): InferenceData => data[next++]!;

beforeAll(async () => {
  engine = await openTestEngine("collector_http");
  c = await startCollector(engine.ch, { COLLECTOR_MAX_BODY_BYTES: "4096" });
});
afterAll(async () => {
  await c.stop();
  await engine.close();
});

describe("POST /observability/add", () => {
  it('takes the seed README shape {"events": [...]} and answers per entry with a summary', async () => {
    const a = take();
    const res = await c.post("/observability/add", {
      events: [
        inferenceCloudEvent(a),
        inferenceCloudEvent(a),
        {
          specversion: "1.0",
          id: "seed-1",
          type: "model.inference",
          source: "budapp",
          subject: "model-123",
          time: "2024-01-15T10:30:00Z",
          data: {
            metric_type: "request_count",
            value: 1,
            model: "llama-2-7b",
            cluster: "production",
            endpoint: "chat-completion",
          },
        },
        {
          specversion: "1.0",
          type: "model.inference",
          source: "budapp",
          time: "2024-01-15T10:30:00Z",
          data: {},
        },
      ],
    });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      results: [
        { index: 0, id: a.inference_id, status: "inserted" },
        { index: 1, id: a.inference_id, status: "duplicate" },
        { index: 2, id: "seed-1", status: "inserted" },
        {
          index: 3,
          id: "",
          status: "invalid",
          code: "EVENT_ENVELOPE_INVALID",
          reason: "id: is required",
          field: "id",
        },
      ],
      summary: { total: 4, inserted: 2, duplicates: 1, invalid: 1, expired: 0, retry: 0 },
    });
  });

  it("takes the Dapr bulk envelope and adds Dapr statuses", async () => {
    const a = take();
    const res = await c.post(
      "/observability/add",
      bulkEnvelope([{ entryId: "b-1", event: inferenceCloudEvent(a) }]),
    );
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      results: [{ index: 0, entryId: "b-1", id: a.inference_id, status: "inserted" }],
      statuses: [{ entryId: "b-1", status: "SUCCESS" }],
      summary: { total: 1, inserted: 1, duplicates: 0, invalid: 0, expired: 0, retry: 0 },
    });
  });

  it("stores the largest cost the column holds and refuses a larger one alone, not its whole batch", async () => {
    const [a, b, d] = [take(), take(), take()];
    const res = await c.post("/observability/add", {
      events: [
        inferenceCloudEvent({ ...a, cost: 999_999_999.9999999 }),
        inferenceCloudEvent({ ...b, cost: 1e9 }),
        inferenceCloudEvent(d),
      ],
    });
    expect(res.status).toBe(200);
    expect(res.body.results.map((r: { status: string }) => r.status)).toEqual([
      "inserted",
      "invalid",
      "inserted",
    ]);
    expect(res.body.results[1].reason).toBe("data.cost: must be < 1000000000");
    const rows = await engine.ch.query<{ cost: string }>(
      `SELECT toString(cost) AS cost FROM ${engine.ch.database}.${Tables.inferenceEvents} WHERE inference_id = {id:UUID}`,
      { id: a.inference_id },
    );
    expect(rows).toEqual([{ cost: "999999999.9999999" }]);
  });

  it("answers 422 when every entry is invalid, 400 for malformed JSON, 413 over the body limit, 422 for an unknown shape", async () => {
    const a = take();
    const invalid = await c.post("/observability/add", { events: [inferenceCloudEvent({ ...a, cost: -1 })] });
    expect(invalid.status).toBe(422);
    expect(invalid.body.error.code).toBe("REQUEST_ALL_INVALID");
    expect(invalid.body.results[0]).toMatchObject({
      status: "invalid",
      field: "data.cost",
      reason: "data.cost: must be >= 0",
    });

    const malformed = await c.post("/observability/add", '{"events": [');
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.code).toBe("REQUEST_MALFORMED_JSON");

    const big = await c.post("/observability/add", { events: [], pad: "x".repeat(5000) });
    expect(big.status).toBe(413);

    const shape = await c.post("/observability/add", { rows: [] });
    expect(shape.status).toBe(422);
    expect(shape.body.error.code).toBe("REQUEST_SHAPE_INVALID");
  });
});

describe("POST /observability/events", () => {
  it("takes one CloudEvent in structured mode", async () => {
    const a = take();
    const res = await c.post("/observability/events", inferenceCloudEvent(a), {
      "content-type": "application/cloudevents+json",
    });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      result: { index: 0, id: a.inference_id, status: "inserted" },
      summary: { total: 1, inserted: 1, duplicates: 0, invalid: 0, expired: 0, retry: 0 },
    });
  });

  it("takes one CloudEvent in binary mode (ce-* headers, data as body) and requires ce-id", async () => {
    const a = take();
    const headers = {
      "ce-specversion": "1.0",
      "ce-id": a.inference_id,
      "ce-source": "budgateway",
      "ce-type": "add_observability_metrics",
      "ce-time": a.request_arrival_time,
      "content-type": "application/json",
    };
    const res = await c.post("/observability/events", a, headers);
    expect(res.status).toBe(200);
    expect(res.body.result).toEqual({ index: 0, id: a.inference_id, status: "inserted" });
    expect(await countRows(engine.ch, Tables.inferenceEvents, `inference_id = '${a.inference_id}'`)).toBe(1);

    const { "ce-id": _id, ...noId } = headers;
    const missing = await c.post("/observability/events", take(), noId);
    expect(missing.status).toBe(422);
    expect(missing.body.result).toMatchObject({
      status: "invalid",
      field: "id",
      code: "EVENT_ENVELOPE_INVALID",
    });
  });

  it("takes a batch (application/cloudevents-batch+json)", async () => {
    const [a, b] = [take(), take()];
    const res = await c.post("/observability/events", [inferenceCloudEvent(a), inferenceCloudEvent(b)], {
      "content-type": "application/cloudevents-batch+json",
    });
    expect(res.status).toBe(200);
    expect(res.body.summary).toEqual({
      total: 2,
      inserted: 2,
      duplicates: 0,
      invalid: 0,
      expired: 0,
      retry: 0,
    });
  });

  it("rejects an unknown field by name", async () => {
    const a = take();
    const res = await c.post(
      "/observability/events",
      inferenceCloudEvent({ ...a, colour: "red" } as InferenceData),
    );
    expect(res.status).toBe(422);
    expect(res.body.result).toMatchObject({ field: "data.colour", reason: "data.colour: unknown field" });
  });
});

describe("operations", () => {
  it("exports the collector metrics on /metrics", async () => {
    const text = await (await fetch(`${c.url}/metrics`)).text();
    expect(text).toMatch(
      /budmetrics_collector_events_total\{type="add_observability_metrics",outcome="inserted"\} \d+/,
    );
    expect(text).toMatch(
      /budmetrics_collector_events_invalid_total\{type="add_observability_metrics",reason="EVENT_SCHEMA_INVALID"\} \d+/,
    );
    expect(text).toContain("budmetrics_collector_batch_rows_bucket");
    expect(text).toContain("budmetrics_collector_flush_duration_seconds_bucket");
    expect(text).toMatch(/budmetrics_collector_queue_rows\{kind="inference"\} 0/);
  });

  it("is ready while accepting and reachable", async () => {
    const res = await fetch(`${c.url}/readyz`);
    expect(res.status).toBe(200);
  });
});
