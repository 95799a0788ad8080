/** Logs carry ids and codes, never payloads — also when writes fail. */
import fs from "node:fs";
import { Writable } from "node:stream";
import { createLogger } from "@budmetrics/logger";
import { openTestEngine, type TestEngine } from "../../../test/support/engine";
import { createCatalogue, generateInferences, inferenceCloudEvent } from "../../../test/support/generate";
import { bulkEnvelope, startCollector, type RunningCollector } from "./harness";

const MARKER = "PAYLOAD-MARKER-7f3a";
const lines: string[] = [];
let engine: TestEngine;
let c: RunningCollector;

beforeAll(async () => {
  engine = await openTestEngine("collector_logs");
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  const log = createLogger({ level: "debug", name: "test" }, sink);
  c = await startCollector(
    engine.ch,
    { COLLECTOR_FLUSH_MAX_RETRIES: "1", COLLECTOR_FLUSH_RETRY_BACKOFF_MS: "5" },
    { log },
  );
});
afterAll(async () => {
  await c.stop();
  fs.rmSync(engine.dataDir, { recursive: true, force: true });
});

it("logs invalid events, flushes and failures without any payload content", async () => {
  const data = [
    ...generateInferences({
      seed: 4,
      count: 4,
      startMs: Date.UTC(2026, 6, 1),
      endMs: Date.UTC(2026, 6, 2),
      catalogue: createCatalogue(4),
    }),
  ].map((d) => ({ ...d, prompt_preview: MARKER, error_message: MARKER }));
  const invalid = { ...inferenceCloudEvent({ ...data[0]!, status_code: 7 }), id: "log-invalid-1" };
  const ok = await c.post(
    "/dapr/events",
    bulkEnvelope([
      { entryId: "1", event: inferenceCloudEvent(data[1]!) },
      { entryId: "2", event: invalid },
    ]),
  );
  expect(ok.body.statuses.map((s: { status: string }) => s.status)).toEqual(["SUCCESS", "DROP"]);
  await engine.ch.close(); // now every write fails
  const failed = await c.post(
    "/dapr/events",
    bulkEnvelope([
      { entryId: "3", event: inferenceCloudEvent(data[2]!) },
      { entryId: "4", event: { ...invalid, id: "log-invalid-2" } },
    ]),
  );
  expect(failed.body.statuses.map((s: { status: string }) => s.status)).toEqual(["RETRY", "RETRY"]);

  // A failed batch is logged by the batcher as its flush settles, which may be just after the
  // answer went out: wait for the lines (a bounded poll), then check them.
  const wanted = ["events quarantined", "batch flushed", "batch not committed", "quarantine write failed"];
  for (let i = 0; i < 60 && !wanted.every((w) => lines.join("").includes(w)); i++)
    await new Promise((r) => setTimeout(r, 50));
  const text = lines.join("");
  expect(text).toContain("events quarantined");
  expect(text).toContain("log-invalid-1");
  expect(text).toContain("batch flushed");
  expect(text).toContain("batch not committed");
  expect(text).toContain("quarantine write failed");
  expect(text).not.toContain(MARKER);
});
