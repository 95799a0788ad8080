/**
 * ClickHouse unreachable: nothing is acknowledged, senders are told to come back, readiness drops —
 * on the CloudEvent routes and on /v1/traces.
 */
import fs from "node:fs";
import path from "node:path";
import { RpcStatus } from "../src/otlp/decode";
import type { OtlpJsonRequest } from "../../../test/support/otlp-gateway";
import { CT, otlpBody, postTraces } from "./otlp-harness";
import { openTestEngine, type TestEngine } from "../../../test/support/engine";
import { createCatalogue, generateInferences, inferenceCloudEvent } from "../../../test/support/generate";
import { startCollector, type RunningCollector, bulkEnvelope } from "./harness";

let engine: TestEngine;
let c: RunningCollector;
const data = [
  ...generateInferences({
    seed: 8,
    count: 4,
    startMs: Date.UTC(2026, 5, 1),
    endMs: Date.UTC(2026, 5, 2),
    catalogue: createCatalogue(8),
  }),
];

beforeAll(async () => {
  engine = await openTestEngine("collector_down");
  c = await startCollector(engine.ch, {
    COLLECTOR_FLUSH_MAX_RETRIES: "1",
    COLLECTOR_FLUSH_RETRY_BACKOFF_MS: "10",
  });
  expect((await fetch(`${c.url}/readyz`)).status).toBe(200);
  await engine.ch.close(); // the engine goes away under the running collector
});
afterAll(async () => {
  await c.stop();
  fs.rmSync(engine.dataDir, { recursive: true, force: true });
});

it("answers RETRY to Dapr, never SUCCESS", async () => {
  const res = await c.post(
    "/dapr/events",
    bulkEnvelope([{ entryId: "d-1", event: inferenceCloudEvent(data[0]!) }]),
  );
  expect(res.body).toEqual({ statuses: [{ entryId: "d-1", status: "RETRY" }] });
  const single = await c.post("/dapr/events/inference", inferenceCloudEvent(data[1]!), {
    "content-type": "application/cloudevents+json",
  });
  expect(single.body).toEqual({ status: "RETRY" });
});

it("answers HTTP 503 with Retry-After and the per-entry results", async () => {
  const res = await c.post("/observability/add", { events: [inferenceCloudEvent(data[2]!)] });
  expect(res.status).toBe(503);
  expect(res.headers.get("retry-after")).toBe("5");
  expect(res.body.summary).toEqual({
    total: 1,
    inserted: 0,
    duplicates: 0,
    invalid: 0,
    expired: 0,
    retry: 1,
  });
  expect(res.body.results[0]).toMatchObject({ status: "retry" });
});

it("keeps an invalid event un-dropped (RETRY) while quarantine cannot be written", async () => {
  const res = await c.post(
    "/dapr/events/inference",
    { ...inferenceCloudEvent(data[3]!), id: undefined },
    {
      "content-type": "application/cloudevents+json",
    },
  );
  expect(res.body).toEqual({ status: "RETRY" });
});

it("reports not ready on /readyz", async () => {
  const res = await fetch(`${c.url}/readyz`);
  expect(res.status).toBe(503);
});

describe("POST /v1/traces with ClickHouse gone", () => {
  const fixture = JSON.parse(
    fs.readFileSync(path.join(__dirname, "fixtures", "otlp", "otel_traces_sample.otlp.json"), "utf8"),
  ) as OtlpJsonRequest;

  it("answers 503 + Retry-After (a google.rpc.Status, UNAVAILABLE) for spans that complete a record, never 500", async () => {
    const res = await postTraces(c.url, otlpBody(fixture, "protobuf"), {
      "content-type": CT.protobuf,
      "content-encoding": "gzip",
    });
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("5");
    expect(res.headers.get("content-type")).toBe(CT.protobuf);
    const status = RpcStatus.toObject(RpcStatus.decode(res.bytes)) as { code: number; message: string };
    expect(status).toEqual({ code: 14, message: "sink: the records could not be stored yet; retry" });
    const json = await postTraces(c.url, otlpBody(fixture, "json"), {
      "content-type": CT.json,
      "content-encoding": "gzip",
    });
    expect([json.status, JSON.parse(json.bytes.toString()).code]).toEqual([503, 14]);
  });

  it("the sweep cannot write either: it fails, keeps everything, and says so in the metrics", async () => {
    const r = await c.app.sweep!(Date.now() + 10 * 60_000);
    expect(r.failed).toBe(true);
    const again = await c.app.sweep!(Date.now() + 10 * 60_000); // the next one too
    expect(again.failed).toBe(true);
    const metrics = await (await fetch(`${c.url}/metrics`)).text();
    expect(metrics).toMatch(/budmetrics_collector_otlp_sweeps_total\{result="failed"\} [1-9]/);
    expect(metrics).toMatch(/budmetrics_collector_otlp_pending\{what="spans"\} [1-9]/);
    expect(metrics).toMatch(/budmetrics_collector_otlp_requests_total\{status="503"\} 2/);
  });
});
