/**
 * The Bud-stack statement builders, table-style: what each spec puts in the WHERE clause and the bound
 * parameters (no value ever in the text), then every built statement run on the real engine over a
 * small known data set.
 */
import type { BuiltQuery } from "../../src/analytics/queries";
import {
  buildAggregateQuery,
  buildCountQuery,
  buildCredentialActivityQuery,
  buildDistinctIpsQuery,
  buildDistributionQuery,
  buildDistributionRangeQuery,
  buildLatencyHistogramQuery,
  buildBlockingQuery,
  buildLocationQuery,
  buildSeriesQuery,
  buildUsageHistoryQuery,
  buildUsageQuery,
  buildUserActivityQuery,
  scopeWhere,
  type Scope,
} from "../../src/compat/sql";
import { openTestEngine, type TestEngine } from "../../../../test/support/engine";
import { loadInferences } from "../helpers";
import { IDS, makeEvents } from "./data";

const [P1, P2] = IDS.projects;
const base: Scope = { db: "db", fromMs: 1000, toMs: 2000, filters: {}, dataSource: "any" };

describe("scopeWhere", () => {
  it.each<[string, Partial<Scope>, string[], Record<string, unknown>]>([
    [
      "range only, both ends inclusive",
      {},
      [
        "request_arrival_time >= fromUnixTimestamp64Milli({from:Int64}, 'UTC')",
        "request_arrival_time <= fromUnixTimestamp64Milli({to:Int64}, 'UTC')",
      ],
      { from: 1000, to: 2000 },
    ],
    ["open range", { fromMs: null, toMs: null }, [], {}],
    [
      "inference leaves out prompt traffic",
      { fromMs: null, toMs: null, dataSource: "inference" },
      ["(prompt_id IS NULL OR prompt_id = '')"],
      {},
    ],
    [
      "prompt keeps only it",
      { fromMs: null, toMs: null, dataSource: "prompt" },
      ["(prompt_id IS NOT NULL AND prompt_id != '')"],
      {},
    ],
    [
      "id lists bind as typed arrays",
      { fromMs: null, toMs: null, filters: { project_id: [P1, P2], prompt_id: ["p'; DROP"] } },
      ["project_id IN {f_project_id:Array(UUID)}", "prompt_id IN {f_prompt_id:Array(String)}"],
      { f_project_id: [P1, P2], f_prompt_id: ["p'; DROP"] },
    ],
    [
      "an empty list matches nothing",
      { fromMs: null, toMs: null, filters: { api_key_project_id: [] } },
      ["0"],
      {},
    ],
  ])("%s", (_n, over, where, params) => {
    expect(scopeWhere({ ...base, ...over })).toEqual({ where, params });
  });
});

const scope: Scope = {
  db: "db",
  fromMs: Date.parse("2026-03-01T00:00:00Z"),
  toMs: Date.parse("2026-03-15T00:00:00Z"),
  filters: { project_id: [P1, P2], user_id: [IDS.users[0]] },
  dataSource: "inference",
};
const arrays = { lo: [0, 100, 1000], hi: [100, 1000, 0], kind: [0, 0, 2] };

const builders: Array<[string, (db: string) => BuiltQuery, RegExp]> = [
  [
    "aggregate, grouped",
    (db) =>
      buildAggregateQuery({
        ...scope,
        db,
        metrics: ["total_requests", "p95_latency", "unique_users"],
        groups: ["model", "user"],
        limit: 10,
      }),
    /GROUP BY g_model_id, g_user_id\nORDER BY n DESC/,
  ],
  [
    "aggregate, whole range",
    (db) => buildAggregateQuery({ ...scope, db, metrics: ["avg_cost"], groups: [], limit: 10 }),
    /^SELECT avg\(toFloat64\(cost\)\) AS m_avg_cost/,
  ],
  [
    "series",
    (db) =>
      buildSeriesQuery({
        ...scope,
        db,
        metrics: ["total_requests"],
        groups: ["user_project"],
        stepMs: 3_600_000,
        offsetMs: 0,
        limit: 100,
      }),
    /\{step:Int64\}/,
  ],
  [
    "latency histogram",
    (db) => buildLatencyHistogramQuery({ ...scope, db, buckets: arrays, groups: [], limit: 100 }),
    /arrayFirstIndex/,
  ],
  [
    "distribution range",
    (db) => buildDistributionRangeQuery({ ...scope, db, bucketBy: "concurrency" }),
    /PARTITION BY toStartOfSecond/,
  ],
  [
    "distribution",
    (db) =>
      buildDistributionQuery({
        ...scope,
        db,
        bucketBy: "output_tokens",
        metric: "throughput_per_user",
        buckets: arrays,
      }),
    /avgIf\(mv, mv IS NOT NULL AND isFinite\(mv\)\)/,
  ],
  ["count", (db) => buildCountQuery({ ...scope, db }), /^SELECT count\(\) AS n/],
  ["distinct IPs", (db) => buildDistinctIpsQuery({ ...scope, db, limit: 10 }), /request_ip IS NOT NULL/],
  [
    "locations",
    (db) =>
      buildLocationQuery({ ...scope, db, ips: ["8.8.8.8"], keys: ["US"], group: "city", countries: ["US"] }),
    /transform\(/,
  ],
  [
    "blocking per rule",
    (db) => buildBlockingQuery({ ...scope, db }, "rules"),
    /is_blocked AND \(rule_name != '' OR rule_id IS NOT NULL\)/,
  ],
  ["usage per user", (db) => buildUsageQuery({ ...scope, db, perUser: true }), /GROUP BY uid/],
  ["usage history", (db) => buildUsageHistoryQuery({ ...scope, db, granularity: "weekly" }), /toMonday/],
  [
    "credential activity",
    (db) => buildCredentialActivityQuery({ ...scope, db, limit: 5 }),
    /api_key_id IS NOT NULL/,
  ],
  [
    "user activity",
    (db) => buildUserActivityQuery({ ...scope, db, limit: 5 }),
    /avg\(toUInt8\(is_success\)\)/,
  ],
];

describe("builders", () => {
  it.each(builders)("%s: values are bound, never in the text", (_n, build, shape) => {
    const q = build("db");
    expect(q.query).toMatch(shape);
    expect(q.query).toContain("FROM db.inference_events FINAL");
    for (const v of [P1, P2, IDS.users[0], "8.8.8.8"]) expect(q.query).not.toContain(v);
    expect(q.query_params.f_project_id).toEqual([P1, P2]);
  });
});

describe("on the engine", () => {
  let engine: TestEngine;
  beforeAll(async () => {
    engine = await openTestEngine("compat_sql");
    await loadInferences(engine.ch, makeEvents(3, 400));
  }, 60_000);
  afterAll(async () => {
    await engine?.close();
  });

  it.each(builders)("%s runs", async (_n, build) => {
    const q = build(engine.ch.database);
    await expect(engine.ch.query(q.query, q.query_params)).resolves.toBeInstanceOf(Array);
  });

  it("counts what the scope selects", async () => {
    const events = makeEvents(3, 400);
    const q = buildCountQuery({ ...scope, db: engine.ch.database });
    const rows = await engine.ch.query<{ n: number }>(q.query, q.query_params);
    const t = (s: string) => Date.parse(s);
    const expected = events.filter(
      (e) =>
        t(e.request_arrival_time) >= scope.fromMs! &&
        t(e.request_arrival_time) <= scope.toMs! &&
        !e.prompt_id &&
        [P1, P2].includes(e.project_id) &&
        e.user_id === IDS.users[0],
    ).length;
    expect(Number(rows[0]!.n)).toBe(expected);
  });
});
