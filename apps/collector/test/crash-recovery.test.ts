/**
 * A crash between the parts of one insert: the raw table (and the id table) committed the batch, the
 * rollup did not. Without more, the redelivered events would be answered "duplicate" and the rollup
 * would never count them. The write-ahead log keeps the batch until its commit; the next start
 * inserts it again with its token, and each table takes what it missed, exactly once.
 */
import fs from "node:fs";
import path from "node:path";
import { Tables } from "@budmetrics/schema";
import { createClickHouseEventTable } from "@budmetrics/clickhouse";
import { openTestEngine, type TestEngine } from "../../../test/support/engine";
import { createCatalogue, generateInferences, inferenceCloudEvent } from "../../../test/support/generate";
import { prepareInference } from "../../../test/support/load";
import { EVENT_KINDS } from "../src";
import { createFileWriteAheadLog } from "../src/adapters/file-wal";
import { bulkEnvelope, countInferences, startCollector } from "./harness";

let engine: TestEngine;
beforeAll(async () => {
  engine = await openTestEngine("collector_crash");
});
afterAll(() => engine.close());

const events = [
  ...generateInferences({
    seed: 31,
    count: 400,
    startMs: Date.UTC(2026, 7, 1),
    endMs: Date.UTC(2026, 7, 2),
    catalogue: createCatalogue(31, { models: 2, projects: 2, endpoints: 4 }),
  }),
];

describe("a crash between the parts of an insert", () => {
  it("is completed at the next start from the write-ahead log: raw, ids and every rollup tier count each event once", async () => {
    const db = engine.ch.database;
    const token = "6f9a2d1e-3b4c-4d5e-8f70-112233445566";
    const payload = Buffer.from(events.map((e) => prepareInference(e).line).join("\n") + "\n");
    const walDir = path.join(engine.dataDir, "collector-wal");

    // The state a crash leaves: the batch logged, the raw table and the id table committed, the
    // rollup's view never ran (detached here to stop it, as the crash did).
    await createFileWriteAheadLog(walDir).append({ token, kind: "inference", payload });
    await engine.ch.command(`DETACH TABLE ${db}.inference_rollup_mv`);
    await createClickHouseEventTable(engine.ch).insert(EVENT_KINDS.inference.storage, payload, token);
    await engine.ch.command(`ATTACH TABLE ${db}.inference_rollup_mv`);
    expect(await countInferences(engine.ch)).toEqual({ raw: 400, distinct: 400, rollup: 0 });

    // The next start: the collector replays the log before it writes anything.
    const c = await startCollector(engine.ch);
    expect(await countInferences(engine.ch)).toEqual({ raw: 400, distinct: 400, rollup: 400 });
    expect(fs.readdirSync(walDir)).toEqual([]);

    // Dapr redelivers the batch's events: duplicates, counted nowhere again.
    const res = await c.post(
      "/dapr/events/inference",
      bulkEnvelope(events.map((e, i) => ({ entryId: String(i), event: inferenceCloudEvent(e) }))),
    );
    expect(new Set(res.body.statuses.map((s: { status: string }) => s.status))).toEqual(new Set(["SUCCESS"]));
    expect(await countInferences(engine.ch)).toEqual({ raw: 400, distinct: 400, rollup: 400 });
    const tiers = await engine.ch.query<{ n: number }>(
      `SELECT sum(request_count) AS n FROM ${db}.${Tables.inferenceRollup} GROUP BY grain, level`,
    );
    expect(tiers.map((t) => Number(t.n))).toEqual(new Array(7).fill(400));
    await c.stop();
  });

  it("a batch committed whole and logged (the crash came after the commit) replays as nothing", async () => {
    const db = engine.ch.database;
    const more = events
      .slice(0, 50)
      .map((e) => ({ ...e, inference_id: e.inference_id.replace(/^.{8}/, "abcdef01") }));
    const token = "7a0b3e2f-4c5d-4e6f-9081-223344556677";
    const payload = Buffer.from(more.map((e) => prepareInference(e).line).join("\n") + "\n");
    const before = await countInferences(engine.ch);
    await createClickHouseEventTable(engine.ch).insert(EVENT_KINDS.inference.storage, payload, token);
    await createFileWriteAheadLog(path.join(engine.dataDir, "collector-wal")).append({
      token,
      kind: "inference",
      payload,
    });
    const c = await startCollector(engine.ch);
    const after = await countInferences(engine.ch);
    expect([after.raw - before.raw, after.distinct - before.distinct, after.rollup - before.rollup]).toEqual([
      50, 50, 50,
    ]);
    const [ids] = await engine.ch.query<{ n: number }>(
      `SELECT count() AS n FROM ${db}.${Tables.inferenceIds} WHERE startsWith(toString(inference_id), 'abcdef01')`,
    );
    expect(Number(ids?.n)).toBe(50);
    await c.stop();
  });
});
