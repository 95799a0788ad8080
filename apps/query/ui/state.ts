/**
 * The explorer's state, held in the URL so a view can be shared, and the analytics request it makes.
 * Pure (no DOM): the tests import it.
 */

export const RANGE_PRESETS = {
  "1h": 3_600_000,
  "6h": 21_600_000,
  "24h": 86_400_000,
  "7d": 604_800_000,
  "30d": 2_592_000_000,
  "90d": 7_776_000_000,
} as const;
export type RangePreset = keyof typeof RANGE_PRESETS;
export const INTERVALS = ["minutely", "hourly", "daily", "weekly", "monthly"] as const;
export type Interval = (typeof INTERVALS)[number];
export const FILTER_DIMS = ["model", "project", "endpoint", "cluster"] as const;
export type FilterDim = (typeof FILTER_DIMS)[number];
export const VIEWS = ["chart", "table", "inferences"] as const;
export type View = (typeof VIEWS)[number];

export interface ExplorerState {
  metrics: string[];
  range: RangePreset | "custom";
  /** Custom range: local date-times in `tz` (`2026-11-29T08:00`), to exclusive. */
  from: string;
  to: string;
  interval: Interval;
  tz: string;
  filters: Record<FilterDim, string[]>;
  groupBy: FilterDim[];
  topk: number | null;
  compare: boolean;
  chart: "line" | "bar";
  view: View;
}

export function defaultState(tz: string): ExplorerState {
  return {
    metrics: ["request_count", "latency"],
    range: "24h",
    from: "",
    to: "",
    interval: "hourly",
    tz,
    filters: { model: [], project: [], endpoint: [], cluster: [] },
    groupBy: [],
    topk: null,
    compare: false,
    chart: "line",
    view: "chart",
  };
}

const list = (v: string | null): string[] => (v ? v.split(",").filter((s) => s.length > 0) : []);
const oneOf = <T extends string>(v: string | null, allowed: readonly T[], dflt: T): T =>
  v !== null && (allowed as readonly string[]).includes(v) ? (v as T) : dflt;

/** Unknown or malformed parameters fall back to the defaults: a shared link never breaks the page. */
export function parseState(search: string, defaultTz: string): ExplorerState {
  const p = new URLSearchParams(search);
  const d = defaultState(defaultTz);
  const metrics = list(p.get("metrics"));
  const k = Number(p.get("topk"));
  const filters = { ...d.filters };
  for (const dim of FILTER_DIMS) filters[dim] = list(p.get(dim));
  return {
    metrics: metrics.length > 0 ? metrics : d.metrics,
    range: oneOf(p.get("range"), [...(Object.keys(RANGE_PRESETS) as RangePreset[]), "custom"], d.range),
    from: p.get("from") ?? "",
    to: p.get("to") ?? "",
    interval: oneOf(p.get("interval"), INTERVALS, d.interval),
    tz: p.get("tz") || d.tz,
    filters,
    groupBy: list(p.get("group_by")).filter((g): g is FilterDim =>
      (FILTER_DIMS as readonly string[]).includes(g),
    ),
    topk: Number.isInteger(k) && k > 0 ? k : null,
    compare: p.get("compare") === "1",
    chart: p.get("chart") === "bar" ? "bar" : "line",
    view: oneOf(p.get("view"), VIEWS, d.view),
  };
}

export function serializeState(s: ExplorerState): string {
  const p = new URLSearchParams();
  p.set("metrics", s.metrics.join(","));
  p.set("range", s.range);
  if (s.range === "custom") {
    p.set("from", s.from);
    p.set("to", s.to);
  }
  p.set("interval", s.interval);
  p.set("tz", s.tz);
  for (const dim of FILTER_DIMS) if (s.filters[dim].length > 0) p.set(dim, s.filters[dim].join(","));
  if (s.groupBy.length > 0) p.set("group_by", s.groupBy.join(","));
  if (s.topk !== null) p.set("topk", String(s.topk));
  if (s.compare) p.set("compare", "1");
  if (s.chart !== "line") p.set("chart", s.chart);
  if (s.view !== "chart") p.set("view", s.view);
  return p.toString();
}

/** The range as the API takes it: a preset ends now (to_date null), a custom range is read in `tz`. */
export function rangeOf(s: ExplorerState, nowMs: number): { from_date: string; to_date: string | null } {
  if (s.range === "custom" && s.from) return { from_date: s.from, to_date: s.to || null };
  const span = RANGE_PRESETS[s.range === "custom" ? "24h" : s.range];
  // On the minute: pages opened within the same minute ask the same question (and share its cache entry).
  const from = Math.floor((nowMs - span) / 60_000) * 60_000;
  return { from_date: new Date(from).toISOString(), to_date: null };
}

export interface AnalyticsRequest {
  metrics: string[];
  time_range: { from_date: string; to_date: string | null };
  interval: Interval;
  timezone: string;
  filters?: Partial<Record<FilterDim, string[]>>;
  group_by?: FilterDim[];
  limit?: number;
  comparison?: { type: "previous_period"; periods: number };
}

/** The seed request shape: it has the previous-period comparison and a top-k (`limit`) that allows filters. */
export function analyticsRequest(s: ExplorerState, nowMs: number): AnalyticsRequest {
  const req: AnalyticsRequest = {
    metrics: s.metrics,
    time_range: rangeOf(s, nowMs),
    interval: s.interval,
    timezone: s.tz,
  };
  const filters: Partial<Record<FilterDim, string[]>> = {};
  for (const dim of FILTER_DIMS) if (s.filters[dim].length > 0) filters[dim] = s.filters[dim];
  if (Object.keys(filters).length > 0) req.filters = filters;
  if (s.groupBy.length > 0) {
    req.group_by = s.groupBy;
    if (s.topk !== null) req.limit = s.topk;
  }
  if (s.compare) req.comparison = { type: "previous_period", periods: 1 };
  return req;
}
