/**
 * Step 3 of an analytics request (parse → plan → run → shape): runs a plan's statements through the
 * SqlRunner port and indexes the rows as cells (bucket edge → group → values). The one ordering it
 * owns: a top-k ranks the groups first when the series are then read for the kept groups alone.
 */
import type { AggValues } from "./catalog";
import type { AnalyticsQuery } from "./parse";
import type { QuestionPlan, StatementKind, WindowPlan } from "./plan";
import { INFERENCE_DIMS, type Dim, type Filters } from "./queries";
import { rankGroups } from "./shape";
import type { SqlRunner } from "../ports";

interface Row {
  b: number;
  [k: string]: unknown;
}

/** One window's merged values. */
export interface WindowData {
  plan: WindowPlan;
  /** groupKey → ids object */
  groups: Map<string, Record<string, unknown>>;
  /** bucket edge → groupKey → values: "i" inference states, "c" peak, "s:<metric>" sample states */
  cells: Map<number, Map<string, Record<string, AggValues>>>;
}

export interface RunResult {
  main: WindowData;
  earlier: WindowData[];
  /** Group keys kept by topk / limit, or null to keep all. */
  kept: Set<string> | null;
}

function groupIdsOf(row: Row, dims: readonly Dim[], sample: boolean): Record<string, unknown> {
  const ids: Record<string, unknown> = {};
  for (const d of dims) {
    if (sample) {
      ids[d] = row[`g_${d}_id`];
      continue;
    }
    const c = INFERENCE_DIMS[d];
    ids[c.id] = row[`g_${d}_id`];
    if (c.name) ids[c.name] = row[`g_${d}_name`];
  }
  return ids;
}

function keyOf(row: Row, dims: readonly Dim[], sample: boolean): string {
  return (sample ? "s" : "i") + JSON.stringify(dims.map((d) => row[`g_${d}_id`]));
}

function toAgg(v: unknown): number | number[] | null {
  if (v === null || v === undefined) return null;
  if (Array.isArray(v)) return v.map((x) => Number(x));
  return Number(v);
}

/** Runs every statement of one window (in parallel) and indexes the rows. */
export async function runWindow(
  sql: SqlRunner,
  plan: WindowPlan,
  dims: readonly Dim[],
  maxResultRows: number,
): Promise<WindowData> {
  const results = await Promise.all(
    plan.statements.map(async (s) => ({
      kind: s.kind,
      rows: await sql.run<Row>(s.label, s.query, { maxResultRows: maxResultRows + 1 }),
    })),
  );
  const w: WindowData = { plan, groups: new Map(), cells: new Map() };
  const cell = (b: number, key: string) => {
    let byGroup = w.cells.get(b);
    if (!byGroup) w.cells.set(b, (byGroup = new Map()));
    let c = byGroup.get(key);
    if (!c) byGroup.set(key, (c = {}));
    return c;
  };
  const index: Record<StatementKind, (row: Row) => void> = {
    states(row) {
      const key = keyOf(row, dims, false);
      if (!w.groups.has(key)) w.groups.set(key, groupIdsOf(row, dims, false));
      const v: AggValues = {};
      for (const a of plan.aggs) v[a] = toAgg(row[`a_${a}`]);
      if (row.a_latency_qp !== undefined) v.latency_qp = toAgg(row.a_latency_qp);
      if (row.a_ttft_qp !== undefined) v.ttft_qp = toAgg(row.a_ttft_qp);
      cell(Number(row.b), key).i = v;
    },
    concurrency(row) {
      // Probe-only rows (no arrival, nothing in flight) are not data: gaps stay gaps.
      if (Number(row.a_peak) === 0 && Number(row.a_arrivals) === 0) return;
      const key = keyOf(row, dims, false);
      if (!w.groups.has(key)) w.groups.set(key, groupIdsOf(row, dims, false));
      cell(Number(row.b), key).c = { peak: toAgg(row.a_peak) };
    },
    samples(row) {
      const sd = plan.sampleDims;
      const key = keyOf(row, sd, sd.length > 0);
      if (!w.groups.has(key)) w.groups.set(key, groupIdsOf(row, sd, true));
      const v: AggValues = {
        count: toAgg(row.a_count),
        sum: toAgg(row.a_sum),
        min: toAgg(row.a_min),
        max: toAgg(row.a_max),
        q: toAgg(row.a_q),
      };
      if (row.a_qp !== undefined) v.qp = toAgg(row.a_qp);
      cell(Number(row.b), key)[`s:${String(row.g_metric)}`] = v;
    },
  };
  for (const r of results) for (const row of r.rows) index[r.kind](row);
  return w;
}

/** Ids of the kept groups, one filter per grouped dimension, to read only their series. */
function keptFilters(q: AnalyticsQuery, w: WindowData, kept: Set<string>): Filters {
  const filters: Filters = {};
  for (const d of q.groupBy) {
    const col = INFERENCE_DIMS[d].id;
    const ids = new Set([...kept].map((key) => String(w.groups.get(key)![col])));
    filters[d] = { ids: [...ids], names: [] };
  }
  return filters;
}

export async function runQuestion(
  sql: SqlRunner,
  q: AnalyticsQuery,
  plan: QuestionPlan,
  maxResultRows: number,
): Promise<RunResult> {
  const run = (w: WindowPlan) => runWindow(sql, w, q.groupBy, maxResultRows);
  const rank = plan.rank;
  if (rank?.before) {
    const ranked = await run(rank.window);
    const kept = rankGroups(q, ranked, rank.k);
    const [main, ...earlier] = await Promise.all(plan.windows(keptFilters(q, ranked, kept)).map(run));
    return { main: main!, earlier, kept };
  }
  const [ranked, main, ...earlier] = await Promise.all([
    rank ? run(rank.window) : Promise.resolve(null),
    ...plan.windows().map(run),
  ]);
  return {
    main: main!,
    earlier: earlier as WindowData[],
    kept: ranked ? rankGroups(q, ranked, rank!.k) : null,
  };
}
