/** ClickHouse unreachable: nothing is acknowledged, senders are told to come back, readiness drops. */
import fs from "node:fs";
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
