/** An unexpected exception anywhere on the write path is answered RETRY — never SUCCESS (the Dapr SDK's trap). */
import type { ClaimStore } from "../src";
import { openTestEngine, type TestEngine } from "../../../test/support/engine";
import { createCatalogue, generateInferences, inferenceCloudEvent } from "../../../test/support/generate";
import { bulkEnvelope, countRows, startCollector, type RunningCollector } from "./harness";

/** A claim store with a bug: throws a plain TypeError (not an AppError) on every claim. */
const brokenClaims: ClaimStore = {
  async claim() {
    throw new TypeError("cannot read properties of undefined");
  },
  async confirm() {},
  async release() {},
};

let engine: TestEngine;
let c: RunningCollector;
const data = [
  ...generateInferences({
    seed: 12,
    count: 3,
    startMs: Date.UTC(2026, 7, 1),
    endMs: Date.UTC(2026, 7, 2),
    catalogue: createCatalogue(12),
  }),
];

beforeAll(async () => {
  engine = await openTestEngine("collector_exceptions");
  c = await startCollector(engine.ch, {}, { claims: brokenClaims });
});
afterAll(async () => {
  await c.stop();
  await engine.close();
});

it("answers RETRY to single and bulk deliveries, 503 over HTTP, and stores nothing", async () => {
  const single = await c.post("/dapr/events/inference", inferenceCloudEvent(data[0]!), {
    "content-type": "application/cloudevents+json",
  });
  expect(single).toMatchObject({ status: 200, body: { status: "RETRY" } });
  const bulk = await c.post(
    "/dapr/events",
    bulkEnvelope([{ entryId: "x", event: inferenceCloudEvent(data[1]!) }]),
  );
  expect(bulk.body).toEqual({ statuses: [{ entryId: "x", status: "RETRY" }] });
  const http = await c.post("/observability/add", { events: [inferenceCloudEvent(data[2]!)] });
  expect(http.status).toBe(503);
  expect(http.body.error.code).toBe("SINK_WRITE_FAILED");
  expect(await countRows(engine.ch, "inference_events")).toBe(0);
});
