import { coverageNotes, retentionHorizonMs } from "../src/analytics/coverage";
import type { AnalyticsQuery } from "../src/analytics/parse";

const DAY = 86_400_000;
const NOW = Date.parse("2026-11-30T04:00:00Z");

function query(over: Partial<AnalyticsQuery>): AnalyticsQuery {
  return {
    shape: "bud",
    metrics: [
      { key: "request_count", inference: "request_count" },
      { key: "concurrent_requests", inference: "concurrent_requests" },
    ],
    fromMs: NOW - 100 * DAY,
    toMs: NOW,
    toIsNow: false,
    unit: "day",
    interval: 1,
    calendar: false,
    timezone: "UTC",
    filters: {},
    groupBy: [],
    returnDelta: false,
    fillGaps: false,
    topk: null,
    promptOnly: false,
    comparisonPeriods: 0,
    limit: null,
    ...over,
  };
}

describe("retention horizon", () => {
  it("is the first UTC midnight at or after now − retention; none when kept for ever", () => {
    expect(new Date(retentionHorizonMs(90, NOW)!).toISOString()).toBe("2026-09-02T00:00:00.000Z");
    expect(retentionHorizonMs(90, Date.parse("2026-11-30T00:00:00Z"))).toBe(
      Date.parse("2026-09-01T00:00:00Z"),
    );
    expect(retentionHorizonMs(0, NOW)).toBeNull();
  });
});

describe("coverage notes", () => {
  it.each([
    ["inside the raw retention", query({ fromMs: NOW - 10 * DAY }), { rawDays: 90, rollupDays: 0 }, []],
    ["raw kept for ever", query({}), { rawDays: 0, rollupDays: 0 }, []],
    [
      "before the raw horizon: concurrency incomplete",
      query({}),
      { rawDays: 90, rollupDays: 0 },
      [["RANGE_BEFORE_RAW_RETENTION", "2026-09-02T00:00:00.000Z", ["concurrent_requests"]]],
    ],
    [
      "a request the rollups cannot serve: every inference metric",
      query({ groupBy: ["api_key"] }),
      { rawDays: 90, rollupDays: 0 },
      [["RANGE_BEFORE_RAW_RETENTION", "2026-09-02T00:00:00.000Z", ["request_count", "concurrent_requests"]]],
    ],
    [
      "comparison periods reach back past the horizon",
      query({ fromMs: NOW - 60 * DAY, comparisonPeriods: 1 }),
      { rawDays: 90, rollupDays: 0 },
      [["RANGE_BEFORE_RAW_RETENTION", "2026-09-02T00:00:00.000Z", ["concurrent_requests"]]],
    ],
    [
      "before the rollups' horizon too",
      query({}),
      { rawDays: 30, rollupDays: 60 },
      [
        [
          "RANGE_BEFORE_ROLLUP_RETENTION",
          "2026-10-02T00:00:00.000Z",
          ["request_count", "concurrent_requests"],
        ],
        ["RANGE_BEFORE_RAW_RETENTION", "2026-11-01T00:00:00.000Z", ["concurrent_requests"]],
      ],
    ],
    [
      "metric samples only: nothing said",
      query({ metrics: [{ key: "gpu_utilization", sample: "gpu_utilization" }] }),
      { rawDays: 90, rollupDays: 0 },
      [],
    ],
  ])("%s", (_name, q, retention, expected) => {
    const notes = coverageNotes(q, retention, NOW);
    expect(notes.map((n) => [n.code, n.before, n.unavailable_metrics])).toEqual(expected);
    for (const n of notes) expect(n.message).toContain(n.before);
  });
});
