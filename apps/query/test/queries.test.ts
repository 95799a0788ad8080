/** Pure builders and planner, table-style: exact SQL and parameters (answers are tested on the engine elsewhere). */
import { planSegments, describePlan } from "../src/analytics/planner";
import {
  buildConcurrencyQuery,
  buildInferenceStatesQuery,
  buildSampleStatesQuery,
  rollupServes,
} from "../src/analytics/queries";
import { planQuestion } from "../src/analytics/plan";
import { computeBuckets } from "../src/analytics/time";
import { buildInferenceListQuery } from "../src/browse/queries";
import { parseAnalyticsRequest, splitFilterValues } from "../src/analytics/parse";

const D = Date.parse("2026-03-01T00:00:00Z");
const H = 3_600_000;
const DAY = 24 * H;
const M5 = 300_000;

describe("planSegments", () => {
  it.each<[string, number[], boolean, string, Array<[number, number]>]>([
    ["daily UTC edges → daily rollup", [D, D + DAY, D + 2 * DAY], false, "dims_1d", [[D, D + 2 * DAY]]],
    ["hourly edges → hourly rollup", [D, D + H, D + 2 * H], false, "dims_1h", [[D, D + 2 * H]]],
    [
      "New York midnights (whole hours) → hourly",
      [D + 5 * H, D + 29 * H, D + 52 * H],
      false,
      "dims_1h",
      [[D + 5 * H, D + 52 * H]],
    ],
    [
      "Kolkata midnights (:30) → 5-minute",
      [D - 5.5 * H, D + 18.5 * H, D + 42.5 * H],
      false,
      "dims_5m",
      [[D - 5.5 * H, D + 42.5 * H]],
    ],
    [
      "to_date = now between marks → cascade down to the hour, raw tail below it",
      [D, D + DAY, D + DAY + 2 * H + 7 * M5 + 1234],
      false,
      "dims_1d+dims_1h+raw",
      [
        [D, D + DAY],
        [D + DAY, D + DAY + 2 * H],
        [D + DAY + 2 * H, D + DAY + 2 * H + 7 * M5 + 1234],
      ],
    ],
    [
      "unaligned from_date, aligned interior → raw head then rollups",
      [D + 1000, D + DAY, D + 2 * DAY],
      false,
      "raw+dims_1h+dims_1d",
      [
        [D + 1000, D + H],
        [D + H, D + DAY],
        [D + DAY, D + 2 * DAY],
      ],
    ],
    ["interior edge off every grain → raw", [D, D + 1000, D + 2 * DAY], false, "raw", [[D, D + 2 * DAY]]],
    ["raw-only request (api_key, prompt) → raw", [D, D + DAY], true, "raw", [[D, D + DAY]]],
  ])("%s", (_n, edges, rawOnly, plan, spans) => {
    const segs = planSegments(edges, rawOnly);
    expect(describePlan(segs)).toBe(plan);
    expect(segs.map((s) => [s.fromMs, s.toMs])).toEqual(spans);
  });

  it.each<[string, number, string, Array<[number, number]>]>([
    [
      "nothing stored after the end until the next midnight → the daily rollup to that midnight",
      D + 2 * DAY,
      "dims_1d",
      [[D, D + 2 * DAY]],
    ],
    [
      "nothing stored until the next hour only → the hourly rollup to that hour, no raw tail",
      D + DAY + 3 * H,
      "dims_1d+dims_1h",
      [
        [D, D + DAY],
        [D + DAY, D + DAY + 3 * H],
      ],
    ],
    [
      "a row stored before the next hour mark → the raw tail stays",
      D + DAY + 2 * H + 8 * M5,
      "dims_1d+dims_1h+raw",
      [
        [D, D + DAY],
        [D + DAY, D + DAY + 2 * H],
        [D + DAY + 2 * H, D + DAY + 2 * H + 7 * M5 + 1234],
      ],
    ],
  ])("a range ending at now: %s", (_n, emptyUntil, plan, spans) => {
    const segs = planSegments([D, D + DAY, D + DAY + 2 * H + 7 * M5 + 1234], false, emptyUntil);
    expect(describePlan(segs)).toBe(plan);
    expect(segs.map((s) => [s.fromMs, s.toMs])).toEqual(spans);
  });

  it("knows which requests the rollups can serve", () => {
    expect(
      rollupServes(["model", "user_project", "cluster"], { project: { ids: [], names: ["p"] } }, false),
    ).toBe(true);
    expect(rollupServes(["api_key"], {}, false)).toBe(false);
    expect(rollupServes([], { api_key: { ids: [], names: ["k"] } }, false)).toBe(false);
    expect(rollupServes([], { prompt: { ids: [], names: ["p"] } }, false)).toBe(false);
    expect(rollupServes([], {}, true)).toBe(false);
  });
});

describe("computeBuckets", () => {
  it.each<[string, string, string, "day" | "hour" | "week", number, string, boolean, number[]]>([
    ["UTC days", "2026-03-01T00:00:00Z", "2026-03-03T00:00:00Z", "day", 1, "UTC", true, [D, D + DAY]],
    [
      "New York spring-forward day is 23 h",
      "2026-03-08T05:00:00Z",
      "2026-03-10T04:00:00Z",
      "day",
      1,
      "America/New_York",
      true,
      [D + 7 * DAY + 5 * H, D + 8 * DAY + 4 * H],
    ],
    [
      "ISO week starts Monday",
      "2026-03-04T00:00:00Z",
      "2026-03-10T00:00:00Z",
      "week",
      1,
      "UTC",
      true,
      [Date.parse("2026-03-02T00:00:00Z"), Date.parse("2026-03-09T00:00:00Z")],
    ],
    [
      "custom 2 days from 10:30",
      "2026-03-01T10:30:00Z",
      "2026-03-05T00:00:00Z",
      "day",
      2,
      "UTC",
      false,
      [D + 10.5 * H, D + 2 * DAY + 10.5 * H],
    ],
  ])("%s", (_n, from, to, unit, n, zone, aligned, labels) => {
    const b = computeBuckets(Date.parse(from), Date.parse(to), unit, n, zone, aligned, 100)!;
    expect(b.labels).toEqual(labels);
    expect(b.edges[0]).toBe(Date.parse(from));
    expect(b.edges[b.edges.length - 1]).toBe(Date.parse(to));
  });

  it("stops at the bucket limit", () => {
    expect(computeBuckets(D, D + 10 * DAY, "hour", 1, "UTC", true, 100)).toBeNull();
  });
});

describe("query builders", () => {
  it("inference states from a rollup segment with a mixed id/name filter", () => {
    expect(
      buildInferenceStatesQuery({
        db: "bm",
        edges: [D, D + DAY],
        segments: [{ source: "rollup", grain: "1d", fromMs: D, toMs: D + DAY }],
        dims: ["model"],
        filters: { project: { ids: ["11111111-1111-4111-8111-111111111111"], names: ["chat"] } },
        aggs: ["requests", "latency_q"],
      }),
    ).toEqual({
      query:
        "SELECT b, g_model_id, any(g_model_name) AS g_model_name, sum(st_requests) AS a_requests, quantilesDDMerge(0.01, 0.5, 0.9, 0.95, 0.99)(st_latency_q) AS a_latency_q\n" +
        "FROM (\n" +
        "SELECT roundDown(toInt64(toUnixTimestamp(bucket_start)) * 1000, {edges:Array(Int64)}) AS b, model_id AS g_model_id, model_name AS g_model_name, request_count AS st_requests, latency_q AS st_latency_q\n" +
        "FROM bm.inference_rollup\n" +
        "WHERE grain = '1d'\n" +
        "  AND level = 'dims'\n" +
        "  AND bucket_start >= fromUnixTimestamp64Milli({s0_from:Int64}, 'UTC')\n" +
        "  AND bucket_start < fromUnixTimestamp64Milli({s0_to:Int64}, 'UTC')\n" +
        "  AND (project_id IN {f_project_ids:Array(UUID)} OR project_name IN {f_project_names:Array(String)})\n" +
        ")\n" +
        "GROUP BY b, g_model_id\n" +
        "ORDER BY b, g_model_id",
      query_params: {
        edges: [D, D + DAY],
        s0_from: D,
        s0_to: D + DAY,
        f_project_ids: ["11111111-1111-4111-8111-111111111111"],
        f_project_names: ["chat"],
      },
    });
  });

  it("inference states from raw rows turn into the same -State columns", () => {
    expect(
      buildInferenceStatesQuery({
        db: "bm",
        edges: [D, D + 1000],
        segments: [{ source: "raw", fromMs: D, toMs: D + 1000 }],
        dims: ["api_key"],
        filters: { cluster: { ids: [], names: ["prod"] } },
        aggs: ["cost"],
      }),
    ).toEqual({
      query:
        "SELECT b, g_api_key_id, toFloat64(sum(st_cost)) AS a_cost\n" +
        "FROM (\n" +
        "SELECT roundDown(toUnixTimestamp64Milli(request_arrival_time), {edges:Array(Int64)}) AS b, ifNull(api_key_id, toUUID('00000000-0000-0000-0000-000000000000')) AS g_api_key_id, toDecimal128(sum(ifNull(cost, toDecimal64(0, 9))), 9) AS st_cost\n" +
        "FROM bm.inference_events FINAL\n" +
        "WHERE request_arrival_time >= fromUnixTimestamp64Milli({s0_from:Int64}, 'UTC') AND request_arrival_time < fromUnixTimestamp64Milli({s0_to:Int64}, 'UTC')\n" +
        "  AND cluster_id IN {f_cluster:Array(String)}\n" +
        "GROUP BY b, g_api_key_id\n" +
        ")\n" +
        "GROUP BY b, g_api_key_id\n" +
        "ORDER BY b, g_api_key_id",
      query_params: { edges: [D, D + 1000], s0_from: D, s0_to: D + 1000, f_cluster: ["prod"] },
    });
  });

  it("reads raw rows of questions the rollups serve from the time-ordered copy, others from the raw table FINAL", () => {
    const now = Date.parse("2026-03-10T12:00:00Z");
    const tables = (body: Record<string, unknown>, forceRaw = false) =>
      planQuestion(
        parseAnalyticsRequest(
          {
            metrics: ["request_count", "concurrent_requests"],
            from_date: "2026-03-02T10:17:00Z",
            to_date: "2026-03-09T00:00:00Z",
            frequency_unit: "day",
            ...body,
          },
          now,
          { maxRangeDays: 366 },
        ),
        "bm",
        { maxBuckets: 1000, maxResultRows: 1000, concurrencyLookbackMs: 60_000, forceRaw },
      )
        .windows()[0]!
        .statements.map((st) => [st.kind, st.query.query.match(/FROM bm\.inference_events\S*( FINAL)?/g)]);
    const byTime = ["FROM bm.inference_events_by_time"];
    const final = ["FROM bm.inference_events FINAL"];
    expect(tables({ group_by: ["model"] })).toEqual([
      ["states", byTime],
      ["concurrency", byTime],
    ]);
    // api_key is not in the rollups nor in the copy; a forced-raw answer is the reference.
    for (const [body, forced] of [
      [{ group_by: ["api_key"] }, false],
      [{}, true],
    ] as const)
      expect(tables(body, forced)).toEqual([
        ["states", final],
        ["concurrency", final],
      ]);
  });

  it("reads every raw stretch of a range (head and tail) in one raw piece", () => {
    const q = buildInferenceStatesQuery({
      db: "bm",
      edges: [D + 1000, D + DAY, D + 2 * DAY - 1000],
      segments: [
        { source: "raw", fromMs: D + 1000, toMs: D + H },
        { source: "rollup", grain: "1h", fromMs: D + H, toMs: D + 2 * DAY - H },
        { source: "raw", fromMs: D + 2 * DAY - H, toMs: D + 2 * DAY - 1000 },
      ],
      dims: [],
      filters: {},
      aggs: ["requests"],
    });
    expect(q.query.match(/FROM bm\.inference_events FINAL/g)).toHaveLength(1);
    expect(q.query).toContain(
      "WHERE ((request_arrival_time >= fromUnixTimestamp64Milli({s0_from:Int64}, 'UTC') AND request_arrival_time < fromUnixTimestamp64Milli({s0_to:Int64}, 'UTC'))" +
        " OR (request_arrival_time >= fromUnixTimestamp64Milli({s2_from:Int64}, 'UTC') AND request_arrival_time < fromUnixTimestamp64Milli({s2_to:Int64}, 'UTC')))",
    );
  });

  it("metric samples from the 5-minute rollup", () => {
    expect(
      buildSampleStatesQuery({
        db: "bm",
        edges: [D, D + M5],
        segments: [{ source: "rollup", grain: "5m", fromMs: D, toMs: D + M5 }],
        dims: ["cluster"],
        filters: {},
        metricTypes: ["gpu"],
        aggs: ["count", "q"],
      }),
    ).toEqual({
      query:
        "SELECT b, g_metric, g_cluster_id, sum(count_s) AS a_count, quantilesDDMerge(0.01, 0.5, 0.9, 0.95, 0.99)(q_s) AS a_q\n" +
        "FROM (\n" +
        "SELECT roundDown(toInt64(toUnixTimestamp(bucket_start)) * 1000, {edges:Array(Int64)}) AS b, metric_type AS g_metric, cluster AS g_cluster_id, sample_count AS count_s, value_q AS q_s\n" +
        "FROM bm.metric_samples_rollup_5m\n" +
        "WHERE metric_type IN {metric_types:Array(String)}\n" +
        "  AND bucket_start >= fromUnixTimestamp64Milli({s0_from:Int64}, 'UTC')\n" +
        "  AND bucket_start < fromUnixTimestamp64Milli({s0_to:Int64}, 'UTC')\n" +
        ")\n" +
        "GROUP BY b, g_metric, g_cluster_id\n" +
        "ORDER BY b, g_metric, g_cluster_id",
      query_params: { edges: [D, D + M5], metric_types: ["gpu"], s0_from: D, s0_to: D + M5 },
    });
  });

  it("concurrency: maxIntersections over hour pieces of each request, with a lookback", () => {
    const q = buildConcurrencyQuery({
      db: "bm",
      edges: [D, D + H],
      dims: ["model"],
      filters: {},
      lookbackMs: 60_000,
    });
    expect(q.query).toBe(
      "SELECT b, g_model_id, any(g_model_name) AS g_model_name, max(peak) AS a_peak, sum(arrivals) AS a_arrivals\n" +
        "FROM (\n" +
        "  SELECT b, p, g_model_id, any(g_model_name) AS g_model_name, maxIntersections(toInt64(greatest(l, p)), r) AS peak, countIf(l >= p) AS arrivals\n" +
        "  FROM (\n" +
        "    SELECT g_model_id, g_model_name, l, r, arrayJoin(if(c0 = c1, [c0], arrayConcat([c0], arraySort(arrayDistinct(arrayConcat(arrayFilter(x -> x > c0 AND x <= c1, arrayPopBack({edges:Array(Int64)})), arrayMap(h -> h * 3600000, range(intDiv(c0, 3600000) + 1, intDiv(c1, 3600000) + 1)))))))) AS p, roundDown(p, {edges:Array(Int64)}) AS b\n" +
        "    FROM (\n" +
        "      SELECT model_id AS g_model_id, model_name AS g_model_name, toUnixTimestamp64Milli(request_arrival_time) AS l, l + toInt64(least(greatest(ceil(ifNull(response_time_ms, 0)), 1), 1e13)) AS r, greatest(roundDown(greatest(l, {c_from:Int64}), {edges:Array(Int64)}), intDiv(greatest(l, {c_from:Int64}), 3600000) * 3600000) AS c0, greatest(roundDown((least(r, {c_to:Int64}) - 1), {edges:Array(Int64)}), intDiv((least(r, {c_to:Int64}) - 1), 3600000) * 3600000) AS c1\n" +
        "      FROM bm.inference_events FINAL\n" +
        "      WHERE request_arrival_time >= fromUnixTimestamp64Milli({c_scan_from:Int64}, 'UTC')\n" +
        "        AND request_arrival_time < fromUnixTimestamp64Milli({c_to:Int64}, 'UTC')\n" +
        "    )\n" +
        "    WHERE r > {c_from:Int64}\n" +
        "  )\n" +
        "  GROUP BY b, p, g_model_id\n" +
        ")\n" +
        "GROUP BY b, g_model_id\n" +
        "ORDER BY b, g_model_id",
    );
    expect(q.query_params).toEqual({ edges: [D, D + H], c_scan_from: D - 60_000, c_from: D, c_to: D + H });
  });

  it("inference list page with a keyset cursor", () => {
    const q = buildInferenceListQuery({
      db: "bm",
      fromMs: null,
      toMs: null,
      filters: {},
      sortBy: "cost",
      order: "asc",
      offset: 0,
      limit: 10,
      cursor: { v: 1.5, id: "11111111-1111-4111-8111-111111111111" },
      previewChars: 200,
      isSuccess: false,
    });
    expect(q.query.split("\n").slice(1)).toEqual([
      "FROM bm.inference_events FINAL",
      "WHERE is_success = {is_success:Bool}",
      "  AND (toFloat64(ifNull(cost, toDecimal64(0, 9))), inference_id) > ({c_v:Float64}, {c_id:UUID})",
      "ORDER BY sort_value ASC, inference_id ASC",
      "LIMIT {limit:UInt32} OFFSET {offset:UInt32}",
    ]);
    expect(q.query_params).toEqual({
      is_success: false,
      c_v: 1.5,
      c_id: "11111111-1111-4111-8111-111111111111",
      limit: 11,
      offset: 0,
      preview: 200,
    });
  });
});

describe("request normalisation", () => {
  it("splits filter values into ids and names", () => {
    expect(splitFilterValues(["A1B2C3D4-0000-4000-8000-000000000000", "gpt", "gpt"])).toEqual({
      ids: ["a1b2c3d4-0000-4000-8000-000000000000"],
      names: ["gpt"],
    });
  });

  it("reads dates without an offset in the request's zone and to_date null as now", () => {
    const now = Date.parse("2026-03-10T12:00:00Z");
    const q = parseAnalyticsRequest(
      {
        metrics: ["cost"],
        from_date: "2026-03-08",
        to_date: null,
        frequency_unit: "day",
        timezone: "America/New_York",
      },
      now,
      { maxRangeDays: 366 },
    );
    expect(q.fromMs).toBe(Date.parse("2026-03-08T05:00:00Z"));
    expect(q).toMatchObject({
      toMs: now,
      toIsNow: true,
      shape: "bud",
      returnDelta: true,
      fillGaps: true,
      calendar: true,
    });
    const seed = parseAnalyticsRequest(
      {
        metrics: ["success_rate"],
        time_range: { from_date: "2026-03-01T00:00:00Z", to_date: "2026-03-02T00:00:00Z" },
        interval: "hourly",
      },
      now,
      { maxRangeDays: 366 },
    );
    expect(seed).toMatchObject({
      shape: "seed",
      unit: "hour",
      returnDelta: false,
      metrics: [{ key: "success_rate", inference: "success_request", field: "rate" }],
    });
  });
});
