/**
 * No poison batch, no silent loss: an event the engine would refuse is refused at validation (with the
 * field and the rule, quarantined, DROP) and its valid siblings are stored; an event older than its
 * table keeps is refused as expired; a batch the engine still refuses for a row's own data is split
 * until that row is alone; bodies that do not decode are 400; no answer carries engine text.
 */
import zlib from "node:zlib";
import { Tables } from "@budmetrics/schema";
import { openTestEngine, type TestEngine } from "../../../test/support/engine";
import { createCatalogue, generateInferences, inferenceCloudEvent } from "../../../test/support/generate";
import { createExactlyOnceWriter, createMemoryClaimStore, type EventTable, type PreparedRow } from "../src";
import { bulkEnvelope, countRows, startCollector, type RunningCollector } from "./harness";

let engine: TestEngine;
let c: RunningCollector;
beforeAll(async () => {
  // A 90-day raw retention, as shipped: events older than that are refused as expired.
  engine = await openTestEngine("collector_hostile", { RAW_DATA_RETENTION_DAYS: "90" });
  c = await startCollector(engine.ch, {});
});
afterAll(async () => {
  await c.stop();
  await engine.close();
});

const catalogue = createCatalogue(11, { models: 2, projects: 2, endpoints: 3 });
let seed = 900;
function fresh(overrides: Record<string, unknown> = {}) {
  const now = Date.now();
  const [d] = [
    ...generateInferences({ seed: seed++, count: 1, startMs: now - 3_600_000, endMs: now, catalogue }),
  ];
  return inferenceCloudEvent({ ...d!, ...overrides } as typeof d & Record<string, unknown>) as Record<
    string,
    unknown
  >;
}
const at = (iso: string) => ({ request_arrival_time: iso, request_forward_time: iso });
const deepText = (n: number) => '{"a":'.repeat(n) + "1" + "}".repeat(n);

describe("events the engine would refuse are refused at validation, siblings stored", () => {
  it.each([
    ["a lone surrogate in a field", { project_name: "\ud800" }, "data.project_name", /valid Unicode/],
    [
      "a lone low surrogate in an error message",
      { error_message: "x\udc00y" },
      "data.error_message",
      /valid Unicode/,
    ],
    [
      "a time before 1970 (the rollups' range)",
      at("1900-01-02T00:00:00.000Z"),
      "data.request_arrival_time",
      /1970–2105/,
    ],
    ["a time after 2105", at("2299-01-01T00:00:00.000Z"), "data.request_arrival_time", /1970–2105/],
    ["an IPv6 address with a zone", { request_ip: "fe80::1%eth0" }, "data.request_ip", /valid ip/],
  ])("%s", async (_name, overrides, field, rule) => {
    const bad = fresh(overrides);
    const good = fresh();
    const res = await c.post("/observability/add", { events: [bad, good] });
    expect(res.status).toBe(200);
    expect(res.body.results[0]).toMatchObject({ status: "invalid", code: "EVENT_SCHEMA_INVALID", field });
    expect(res.body.results[0].reason).toMatch(rule);
    expect(res.body.results[1].status).toBe("inserted");
    expect(await countRows(engine.ch, Tables.quarantine, `event_id = '${String(bad.id)}'`)).toBe(1);
  });

  it("a lone surrogate in the envelope, and in a quarantined payload, is stored as U+FFFD", async () => {
    const bad: Record<string, unknown> = { ...fresh(), source: "gw\udfff" };
    const res = await c.post("/observability/add", { events: [bad, fresh()] });
    expect(res.body.results[0]).toMatchObject({
      status: "invalid",
      code: "EVENT_ENVELOPE_INVALID",
      field: "source",
    });
    const [row] = await engine.ch.query<{ s: string }>(
      `SELECT event_source AS s FROM ${engine.ch.database}.${Tables.quarantine} WHERE event_id = {id:String}`,
      { id: String(bad.id) },
    );
    expect(row?.s).toBe("gw\ufffd");
  });

  it("nesting 5,000 deep, and a number that is not finite (1e400), on both the HTTP and the Dapr route", async () => {
    const deep = fresh({ response_analysis: { DEEP: 1 } });
    const inf = fresh({ response_time_ms: 123456.5 });
    const good = fresh();
    const text = JSON.stringify({ events: [deep, inf, good] })
      .replace('{"DEEP":1}', deepText(5_000))
      .replace("123456.5", "1e400");
    const res = await c.post("/observability/add", text);
    expect(res.status).toBe(200);
    expect(res.body.results.map((r: { status: string }) => r.status)).toEqual([
      "invalid",
      "invalid",
      "inserted",
    ]);
    expect(res.body.results[0].reason).toMatch(/must not nest deeper than 32 levels/);
    expect(res.body.results[1]).toMatchObject({
      field: "data.response_time_ms",
      reason: expect.stringMatching(/finite/),
    });

    const deep2 = fresh({ response_analysis: { DEEP: 1 } });
    const dapr = await c.post(
      "/dapr/events/inference",
      JSON.stringify(
        bulkEnvelope([
          { entryId: "a", event: deep2 },
          { entryId: "b", event: fresh() },
        ]),
      ).replace('{"DEEP":1}', deepText(5_000)),
    );
    expect(dapr.status).toBe(200);
    expect(dapr.body.statuses).toEqual([
      { entryId: "a", status: "DROP" },
      { entryId: "b", status: "SUCCESS" },
    ]);
  });

  it("a bulk entry without an event is refused alone (DROP / invalid), never the whole delivery", async () => {
    const dapr = await c.post("/dapr/events/inference", {
      entries: [{ entryId: "1" }, { entryId: "2", event: fresh() }],
    });
    expect(dapr.body.statuses).toEqual([
      { entryId: "1", status: "DROP" },
      { entryId: "2", status: "SUCCESS" },
    ]);
    const add = await c.post("/observability/add", {
      entries: [{ entryId: "1" }, null, 5, { entryId: "4", event: fresh() }],
    });
    expect(add.status).toBe(200);
    expect(add.body.results.map((r: { status: string }) => r.status)).toEqual([
      "invalid",
      "invalid",
      "invalid",
      "inserted",
    ]);
  });
});

describe("no silent loss", () => {
  it("refuses an event older than the raw table keeps as expired (quarantined, DROP), counted apart", async () => {
    const old = fresh(at(new Date(Date.now() - 100 * 86_400_000).toISOString()));
    const res = await c.post("/observability/add", { events: [old, fresh()] });
    expect(res.status).toBe(200);
    expect(res.body.results[0]).toMatchObject({ status: "expired", code: "EVENT_EXPIRED" });
    expect(res.body.summary).toMatchObject({ inserted: 1, expired: 1 });
    expect(
      await countRows(
        engine.ch,
        Tables.quarantine,
        `event_id = '${String(old.id)}' AND reason_code = 'EVENT_EXPIRED'`,
      ),
    ).toBe(1);
    expect(
      await countRows(
        engine.ch,
        Tables.inferenceEvents,
        `inference_id = '${String((old.data as { inference_id: string }).inference_id)}'`,
      ),
    ).toBe(0);
    const dapr = await c.post(
      "/dapr/events/inference",
      bulkEnvelope([
        { entryId: "x", event: fresh(at(new Date(Date.now() - 91 * 86_400_000).toISOString())) },
      ]),
    );
    expect(dapr.body.statuses).toEqual([{ entryId: "x", status: "DROP" }]);
    const metrics = await (await fetch(`${c.url}/metrics`)).text();
    expect(metrics).toMatch(
      /budmetrics_collector_events_total\{type="add_observability_metrics",outcome="expired"\} 2/,
    );
  });

  it("a Dapr bulk delivered to /observability/add is answered 200 with per-entry statuses (daprd would resend a non-2xx bulk whole)", async () => {
    const res = await c.post("/observability/add", {
      ...bulkEnvelope([{ entryId: "bad", event: fresh({ status_code: 1000 }) }]),
      type: "com.dapr.event.sent.bulk",
    });
    expect(res.status).toBe(200);
    expect(res.body.statuses).toEqual([{ entryId: "bad", status: "DROP" }]);
  });
});

describe("edges", () => {
  it("a body that is not what its content-encoding says is 400, a real gzip body is taken", async () => {
    const bad = await fetch(`${c.url}/observability/add`, {
      method: "POST",
      headers: { "content-type": "application/json", "content-encoding": "gzip" },
      body: "not gzip",
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe("REQUEST_MALFORMED_BODY");
    const good = await fetch(`${c.url}/observability/add`, {
      method: "POST",
      headers: { "content-type": "application/json", "content-encoding": "gzip" },
      body: zlib.gzipSync(JSON.stringify({ events: [fresh()] })),
    });
    expect(good.status).toBe(200);
  });
});

describe("a batch the engine refuses for one row's data (the exactly-once writer, over a table that refuses a marker)", () => {
  /** An event table that refuses, as a data error, any insert containing the marker. */
  function pickyTable() {
    const stored: string[] = [];
    let inserts = 0;
    const dataError = Object.assign(new Error("CANNOT_PARSE_TEXT"), { rowData: true });
    const table: EventTable = {
      findStored: async () => new Set<string>(),
      async insert(_target, payload) {
        inserts++;
        const lines = payload.toString().trim().split("\n");
        if (lines.some((l) => l.includes("POISON"))) throw dataError;
        stored.push(...lines);
      },
      insertOutcome: () => "failed",
      isRowDataError: (err) => err === dataError,
    };
    return { table, stored, inserts: () => inserts };
  }
  const rows = (n: number, poison: number[]): PreparedRow[] =>
    Array.from({ length: n }, (_, i) => ({
      key: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
      timeMs: 0,
      line: poison.includes(i) ? `{"i":${i},"x":"POISON"}` : `{"i":${i}}`,
    }));

  it("splits until the poison rows are alone: they are unstorable, every sibling is stored once", async () => {
    const t = pickyTable();
    const claims = createMemoryClaimStore({ maxCommitted: 1000 });
    const writer = createExactlyOnceWriter({ table: t.table, claims });
    const result = await writer.write("inference", rows(64, [5, 40]));
    expect(result.outcomes.filter((o) => o === "unstorable")).toHaveLength(2);
    expect([result.outcomes[5], result.outcomes[40]]).toEqual(["unstorable", "unstorable"]);
    expect(result.inserted).toBe(62);
    expect(t.stored).toHaveLength(62);
    // log2(64) levels: far fewer inserts than one per row.
    expect(t.inserts()).toBeLessThan(30);
    // The siblings' claims are confirmed; the poison rows' are freed.
    const again = await writer.write("inference", rows(64, [5, 40]));
    expect(again.duplicates).toBe(62);
  });

  it("never splits for an error that is not the data's (the whole batch is retried)", async () => {
    const down = Object.assign(new Error("connection refused"), { code: "ECONNREFUSED" });
    const table: EventTable = {
      findStored: async () => new Set<string>(),
      insert: async () => {
        throw down;
      },
      insertOutcome: () => "failed",
      isRowDataError: () => false,
    };
    const writer = createExactlyOnceWriter({ table, claims: createMemoryClaimStore({ maxCommitted: 10 }) });
    await expect(writer.write("inference", rows(8, []))).rejects.toBe(down);
  });
});
