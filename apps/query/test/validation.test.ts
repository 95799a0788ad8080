/** Every validation rule answers with its status and message; injection attempts never reach SQL as SQL. */
import { openTestEngine, type TestEngine } from "../../../test/support/engine";
import { createCatalogue, generateInferences } from "../../../test/support/generate";
import { loadInferences, startApp, type RunningApp } from "./helpers";

const NOW = Date.parse("2026-06-01T00:00:00Z");
let engine: TestEngine;
let app: RunningApp;
let small: RunningApp;
const cat = createCatalogue(3, { models: 2, projects: 2, endpoints: 3 });

beforeAll(async () => {
  engine = await openTestEngine("query_validation");
  await loadInferences(engine.ch, [
    ...generateInferences({
      seed: 1,
      count: 300,
      startMs: Date.parse("2026-05-01T00:00:00Z"),
      endMs: Date.parse("2026-05-03T00:00:00Z"),
      catalogue: cat,
    }),
  ]);
  app = await startApp(engine.ch, { nowMs: NOW });
  small = await startApp(engine.ch, {
    nowMs: NOW,
    env: {
      ANALYTICS_MAX_RANGE_DAYS: "30",
      ANALYTICS_MAX_BUCKETS: "50",
      ANALYTICS_MAX_RESULT_ROWS: "20",
      QUERY_MAX_ROWS_TO_READ: "10",
      QUERY_BODY_LIMIT_BYTES: "2048",
    },
  });
}, 60_000);

afterAll(async () => {
  await app?.close();
  await small?.close();
  await engine?.close();
});

const base = {
  metrics: ["request_count"],
  from_date: "2026-05-01T00:00:00Z",
  to_date: "2026-05-02T00:00:00Z",
  frequency_unit: "hour",
};

describe("POST /observability/analytics validation", () => {
  it.each<[string, unknown, string]>([
    ["metrics missing", { from_date: base.from_date, frequency_unit: "day" }, "metrics is required"],
    ["metrics empty", { ...base, metrics: [] }, "metrics must NOT have fewer than 1 items"],
    [
      "metric name not in the name grammar",
      { ...base, metrics: ["request_count; DROP TABLE x"] },
      "metrics.0 has an invalid format",
    ],
    [
      "to_date before from_date",
      { ...base, to_date: "2026-04-30T00:00:00Z" },
      "to_date must be after from_date",
    ],
    [
      "range over the maximum",
      { ...base, from_date: "2025-01-01T00:00:00Z", frequency_unit: "month" },
      "Date range cannot exceed 366 days",
    ],
    [
      "frequency_unit not allowed",
      { ...base, frequency_unit: "fortnight" },
      "frequency_unit must be one of: hour, day, week, month, quarter, year",
    ],
    ["frequency_interval zero", { ...base, frequency_interval: 0 }, "frequency_interval must be >= 1"],
    [
      "from_date not a date",
      { ...base, from_date: "yesterday-ish" },
      "from_date must be an ISO-8601 date or date-time",
    ],
    [
      "to_date not a date",
      { ...base, to_date: "2026-13-45T00:00:00Z" },
      "to_date must be an ISO-8601 date or date-time",
    ],
    [
      "timezone unknown",
      { ...base, timezone: "Mars/Olympus" },
      'timezone must be an IANA time zone name, got "Mars/Olympus"',
    ],
    ["topk without group_by", { ...base, topk: 5 }, "topk requires group_by"],
    [
      "topk with filters",
      { ...base, topk: 5, group_by: ["model"], filters: { model: "m" } },
      "topk cannot be combined with filters",
    ],
    ["group_by not allowed", { ...base, group_by: ["user_id"] }, "group_by"],
    ["filter key not allowed", { ...base, filters: { tenant: "x" } }, 'unknown field "filters.tenant"'],
    [
      "data_source not allowed",
      { ...base, data_source: "logs" },
      "data_source must be one of: inference, prompt",
    ],
    [
      "both shapes at once",
      { ...base, time_range: { from_date: base.from_date }, interval: "hourly" },
      "use either time_range and interval (seed shape) or from_date and frequency_unit, not both",
    ],
    [
      "interval without time_range",
      { metrics: ["request_count"], interval: "daily" },
      "time_range is required with interval",
    ],
    [
      "time_range without interval",
      { metrics: ["request_count"], time_range: { from_date: base.from_date } },
      "interval is required with time_range",
    ],
    [
      "seed interval not allowed",
      { metrics: ["latency"], time_range: { from_date: base.from_date }, interval: "secondly" },
      "interval must be one of",
    ],
    [
      "percentile without its level",
      {
        metrics: ["latency"],
        time_range: { from_date: base.from_date, to_date: base.to_date },
        interval: "daily",
        aggregation: { type: "percentile" },
      },
      "aggregation.percentile is required when aggregation.type is percentile",
    ],
    [
      "percentile over 100",
      {
        metrics: ["latency"],
        time_range: { from_date: base.from_date },
        interval: "daily",
        aggregation: { type: "percentile", percentile: 101 },
      },
      "aggregation.percentile must be <= 100",
    ],
    [
      "comparison type not allowed",
      {
        metrics: ["latency"],
        time_range: { from_date: base.from_date },
        interval: "daily",
        comparison: { type: "year_over_year" },
      },
      "comparison.type must be one of: previous_period",
    ],
    [
      "sample metric with api_key group",
      { ...base, metrics: ["gpu_utilization"], group_by: ["api_key"] },
      "group_by api_key is not available for metric samples",
    ],
    [
      "date before 1970",
      { ...base, from_date: "1969-12-31T00:00:00Z", to_date: "1970-01-02T00:00:00Z", frequency_unit: "day" },
      "dates must lie between 1970-01-01 and 2105-12-31 (UTC)",
    ],
    [
      "date after 2105",
      {
        metrics: ["request_count"],
        time_range: { from_date: "2106-01-01T00:00:00Z", to_date: "2106-01-02T00:00:00Z" },
        interval: "daily",
      },
      "dates must lie between 1970-01-01 and 2105-12-31 (UTC)",
    ],
    ["metrics not an array", { ...base, metrics: "request_count" }, "metrics must be array"],
  ])("%s → 422", async (_name, body, message) => {
    const res = await app.post("/observability/analytics", body);
    expect(res.status).toBe(422);
    expect(res.body.error.message).toContain(message);
    expect(typeof res.body.error.code).toBe("string");
  });

  it("the Bud stack's shape ignores unknown keys and accepts to_date == from_date, as the original", async () => {
    const extra = await app.post("/observability/analytics", { ...base, frequency: "day" });
    expect(extra.status).toBe(200);
    const equal = await app.post("/observability/analytics", { ...base, to_date: base.from_date });
    expect(equal.status).toBe(200);
    expect(equal.body.items).toHaveLength(1);
  });

  it("names N from ANALYTICS_MAX_RANGE_DAYS in the range message", async () => {
    const res = await small.post("/observability/analytics", {
      ...base,
      from_date: "2026-03-01T00:00:00Z",
      frequency_unit: "day",
    });
    expect(res.status).toBe(422);
    expect(res.body.error).toMatchObject({
      code: "QUERY_RANGE_TOO_LONG",
      message: "Date range cannot exceed 30 days",
    });
  });

  it("refuses more buckets than ANALYTICS_MAX_BUCKETS", async () => {
    const res = await small.post("/observability/analytics", { ...base, to_date: "2026-05-04T00:00:00Z" });
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe("QUERY_TOO_MANY_BUCKETS");
    expect(res.body.error.message).toContain("more than 50 time buckets");
  });

  it("answers 422 'narrow your request' when a statement hits a guardrail", async () => {
    // Grouped, so it reads the per-endpoint rollup (the dimensionless totals hold too few rows to trip it).
    const res = await small.post("/observability/analytics", {
      ...base,
      frequency_unit: "day",
      group_by: ["endpoint"],
    });
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe("QUERY_TOO_EXPENSIVE");
    expect(res.body.error.message).toContain("narrow your request");
    // Which guardrail, in the API's words (this app's small rows-to-read limit); never the engine's type.
    expect(res.body.error.limit).toBe("rows_or_bytes");
    expect(JSON.stringify(res.body)).not.toMatch(/TOO_MANY|EXCEEDED/);
  });

  it("answers 400 to malformed JSON and 413 to a body over the limit", async () => {
    const bad = await app.post("/observability/analytics", '{"metrics": [');
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe("REQUEST_MALFORMED_JSON");
    const big = await small.post("/observability/analytics", {
      ...base,
      filters: {
        model: Array.from({ length: 100 }, (_, i) => `a-rather-long-model-name-for-the-limit-${i}`),
      },
    });
    expect(big.status).toBe(413);
  });
});

describe("other endpoints' validation", () => {
  it("404 for an unknown or malformed inference id", async () => {
    const unknown = await app.get("/observability/inferences/00000000-0000-4000-8000-000000000000");
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe("INFERENCE_NOT_FOUND");
    const malformed = await app.get("/observability/inferences/1'%20OR%201=1");
    expect(malformed.status).toBe(404);
  });

  it.each<[string, string, unknown, string]>([
    [
      "list: cursor garbage",
      "/observability/inferences/list",
      { cursor: "not-a-cursor" },
      "cursor is not a next_cursor value",
    ],
    ["list: limit over 1000", "/observability/inferences/list", { limit: 5000 }, "limit must be <= 1000"],
    [
      "list: sort_by unknown",
      "/observability/inferences/list",
      { sort_by: "name" },
      "sort_by must be one of: timestamp, tokens, latency, cost",
    ],
    [
      "list: project_id not a UUID",
      "/observability/inferences/list",
      { project_id: "x" },
      "project_id must be a valid uuid",
    ],
    [
      "list: min over max tokens",
      "/observability/inferences/list",
      { min_tokens: 10, max_tokens: 1 },
      "min_tokens must not exceed max_tokens",
    ],
    [
      "list: cursor and offset",
      "/observability/inferences/list",
      { cursor: "WzEsIjAwMDAwMDAwLTAwMDAtNDAwMC04MDAwLTAwMDAwMDAwMDAwMCJd", offset: 5 },
      "use either cursor or offset",
    ],
    ["credential usage: since missing", "/observability/credential-usage", {}, "since is required"],
    [
      "credential usage: ids not UUIDs",
      "/observability/credential-usage",
      { since: "2026-05-01", credential_ids: ["x"] },
      "must be a valid uuid",
    ],
    [
      "aggregated: range inverted",
      "/observability/metrics/aggregated",
      { metrics: ["total_cost"], from_date: "2026-05-02", to_date: "2026-05-01" },
      "to_date must be after from_date",
    ],
    [
      "time-series: interval unknown",
      "/observability/metrics/time-series",
      { metrics: ["cost"], from_date: "2026-05-01", interval: "2h" },
      "interval must be one of",
    ],
    [
      "latency distribution: bucket without a label",
      "/observability/metrics/latency-distribution",
      { from_date: "2026-05-01", buckets: [{ min: 0, max: 10 }] },
      "Each bucket must have 'min', 'max', and 'label' fields",
    ],
    [
      "optimize: table not allowed",
      "/admin/optimize",
      { tables: ["system.users"] },
      "tables.0 must be one of",
    ],
  ])("%s → 422", async (_n, path, body, message) => {
    const res = await app.post(path, body);
    expect(res.status).toBe(422);
    expect(res.body.error.message).toContain(message);
  });

  it.each([
    ["/observability/usage/summary", "start_date is required"],
    [
      "/observability/usage/summary?from_date=2026-05-02&to_date=2026-05-01",
      "end_date must not be before start_date",
    ],
    ["/observability/usage/summary?start_date=2026-05-01", "end_date is required"],
    [
      "/observability/usage/history?from_date=2026-05-01&interval=decade",
      "interval must be one of: hour, day, week, month",
    ],
    ["/observability/usage/by-project?from_date=2026-05-01&limit=0", "limit must be >= 1"],
    ["/observability/usage/summary?from_date=2026-05-01&project_id=abc", "project_id must be a valid uuid"],
  ])("GET %s → 422", async (path, message) => {
    const res = await app.get(path);
    expect(res.status).toBe(422);
    expect(res.body.error.message).toContain(message);
  });
});

describe("injection attempts", () => {
  const payloads = [
    "x' OR '1'='1",
    "'); DROP TABLE inference_events; --",
    "\\' UNION SELECT * FROM system.users --",
    "model-0` FORMAT TSV --",
    "{f_model_names:Array(String)}",
  ];

  it.each(payloads)("through every analytics filter and group field: %s", async (p) => {
    for (const key of ["model", "project", "endpoint", "cluster", "prompt", "user_project", "api_key"]) {
      const res = await app.post("/observability/analytics", { ...base, filters: { [key]: [p, "x"] } });
      expect(res.status).toBe(200);
      expect(
        res.body.items.every(
          (b: { items: Array<{ data: { request_count: { count: number } } }> }) =>
            b.items[0]!.data.request_count.count === 0,
        ),
      ).toBe(true);
    }
    const seed = await app.post("/observability/analytics", {
      metrics: ["request_count"],
      time_range: { from_date: base.from_date, to_date: base.to_date },
      interval: "daily",
      filters: { model: p, cluster: p },
    });
    expect(seed.status).toBe(200);
    for (const [field, value] of [
      ["timezone", p],
      ["from_date", p],
      ["to_date", p],
      ["frequency_unit", p],
      ["group_by", [p]],
      ["data_source", p],
      ["metrics", [p]],
    ] as const) {
      const res = await app.post("/observability/analytics", { ...base, [field]: value });
      expect(res.status).toBe(422);
    }
  });

  it.each(payloads)("through browse and usage string fields: %s", async (p) => {
    const list = await app.post("/observability/inferences/list", {
      endpoint_type: p,
      filters: { model_id: p, prompt_id: p },
    });
    expect(list.status).toBe(200);
    expect(list.body.items).toEqual([]);
    expect((await app.post("/observability/inferences/list", { cursor: p })).status).toBe(422);
    expect((await app.post("/observability/inferences/list", { sort_by: p })).status).toBe(422);
    expect((await app.get(`/observability/inferences/${encodeURIComponent(p)}`)).status).toBe(404);
    expect(
      (await app.get(`/observability/usage/summary?from_date=2026-05-01&project_id=${encodeURIComponent(p)}`))
        .status,
    ).toBe(422);
    expect((await app.get(`/observability/usage/summary?from_date=${encodeURIComponent(p)}`)).status).toBe(
      422,
    );
    expect(
      (
        await app.post("/observability/metrics/time-series", {
          metrics: ["requests"],
          from_date: "2026-05-01",
          filters: { endpoint_id: p, prompt_id: [p] },
        })
      ).status,
    ).toBe(200);
    expect(
      (
        await app.post("/observability/metrics/latency-distribution", {
          from_date: "2026-05-01",
          filters: { project_id: p },
        })
      ).status,
    ).toBe(200);
  });

  it("leaves the data intact", async () => {
    const rows = await engine.ch.query<{ n: number }>(
      `SELECT count() AS n FROM ${engine.ch.database}.inference_events`,
    );
    expect(Number(rows[0]!.n)).toBe(300);
  });
});
