/**
 * The gateway's event as Dapr delivers it (fixture: the Kafka CloudEvents in a bulk envelope) through
 * the collector into the store, then read back through the query app: request_ip, api_key_id, user_id,
 * api_key_project_id, error_code, error_message, error_type, status_code and response_analysis are
 * stored, and the endpoints that use them filter and group by them.
 */
import fs from "node:fs";
import path from "node:path";
import { openTestEngine, type TestEngine } from "../../../../test/support/engine";
import { startCollector, type RunningCollector } from "../../../collector/test/harness";
import { startApp, type RunningApp } from "../helpers";

const fixture = JSON.parse(
  fs.readFileSync(
    path.join(__dirname, "fixtures/requests/observability-add__budgateway-kafka-cloudevent.json"),
    "utf8",
  ),
) as { body: { entries: Array<{ entryId: string; event: { data: Record<string, unknown> } }> } };

const NOW = Date.parse("2026-03-14T10:20:00Z");
let engine: TestEngine;
let collector: RunningCollector;
let app: RunningApp;

beforeAll(async () => {
  engine = await openTestEngine("compat_gateway");
  collector = await startCollector(engine.ch);
  app = await startApp(engine.ch, { nowMs: NOW });
}, 60_000);

afterAll(async () => {
  await app?.close();
  await collector?.stop();
  await engine?.close();
});

describe("the gateway's CloudEvent fields", () => {
  const [ok, failed] = fixture.body.entries.map((e) => e.event.data) as [
    Record<string, string>,
    Record<string, string | number>,
  ];

  it("are accepted from the Dapr bulk delivery and stored", async () => {
    const body = structuredClone(fixture.body);
    // The gateway leaves these out today; its schema has them, so the store must take them.
    Object.assign(body.entries[0]!.event.data, {
      request_ip: "81.2.69.142",
      response_analysis: { sentiment: "positive", toxicity: 0.01 },
    });
    const res = await collector.post("/observability/add", body);
    expect(res.status).toBe(200);
    expect(res.body.statuses).toEqual(body.entries.map((e) => ({ entryId: e.entryId, status: "SUCCESS" })));

    const detail = await app.get(`/observability/inferences/${ok.inference_id}`);
    expect(detail.status).toBe(200);
    expect(detail.body).toMatchObject({
      request_ip: "81.2.69.142",
      api_key_id: ok.api_key_id,
      user_id: ok.user_id,
      api_key_project_id: ok.api_key_project_id,
      response_analysis: { sentiment: "positive", toxicity: 0.01 },
      cost: 0.0021,
      gateway_metadata: { client_ip: "81.2.69.142", country_code: "GB", city: "Newmarket" },
    });
    const bad = await app.get(`/observability/inferences/${failed.inference_id}`);
    expect(bad.body).toMatchObject({
      is_success: false,
      error_code: "429",
      error_message: "Rate limit exceeded",
      error_type: "RateLimitExceeded",
      status_code: 429,
      model_name: "",
      model_provider: "unknown",
      messages: [],
      output: "",
      response_time_ms: 0,
    });
  });

  it("filter and group the endpoints that use them", async () => {
    const range = { from_date: "2026-03-14T00:00:00Z", to_date: "2026-03-14T10:16:00Z" };
    const perUser = await app.post("/observability/metrics/aggregated", {
      ...range,
      group_by: ["user"],
      filters: { api_key_project_id: [ok.api_key_project_id] },
      metrics: ["total_requests", "error_rate"],
    });
    expect(perUser.body.groups).toEqual([
      expect.objectContaining({
        user_id: ok.user_id,
        metrics: expect.objectContaining({ total_requests: expect.objectContaining({ value: 2 }) }),
      }),
    ]);
    expect(perUser.body.groups[0].metrics.error_rate.value).toBe(50);

    const usage = await app.get(
      `/observability/usage/summary?user_id=${ok.user_id}&project_id=${ok.api_key_project_id}&start_date=2026-03-01T00:00:00%2B00:00&end_date=2026-03-31T23:59:59%2B00:00`,
    );
    expect(usage.body.param).toMatchObject({ request_count: 2, success_count: 1, success_rate: 50 });
    expect(usage.body.param.total_cost).toBeCloseTo(0.0021, 12);

    const errors = await app.post("/observability/inferences/list", {
      ...range,
      is_success: false,
      filters: { api_key_project_id: [ok.api_key_project_id] },
    });
    expect(errors.body.items.map((i: { error_type: string }) => i.error_type)).toEqual(["RateLimitExceeded"]);

    const geo = await app.post("/observability/metrics/geography", { ...range, group_by: "country" });
    expect(geo.body).toMatchObject({
      total_requests: 2,
      locations: [expect.objectContaining({ country_code: "GB", request_count: 1, percentage: 50 })],
    });

    const sync = await app.post("/observability/credential-usage", { since: "2026-03-14T10:00:00+00:00" });
    expect(sync.body.credentials).toEqual([
      expect.objectContaining({ credential_id: ok.api_key_id, request_count: 2 }),
    ]);
  });
});
