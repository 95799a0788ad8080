/**
 * Analytics answers → what the page draws: one chart per metric, one series per group, the
 * previous-period overlay and, for latency and ttft without groups, the p50–p95 band and p99.
 * Pure (no DOM): the tests import it.
 */

export interface MetricValue {
  value?: number | null;
  comparison?: Array<{ period: number; time_period: string; value: number | null }>;
  [field: string]: unknown;
}
export interface GroupItem {
  data: Record<string, MetricValue>;
  [key: string]: unknown;
}
export interface AnalyticsAnswer {
  object: string;
  items: Array<{ time_period: string; items: GroupItem[] }>;
  meta?: unknown;
}

export const PERCENTILE_METRICS = new Set(["latency", "ttft"]);

/** A group's identity: every key of its row but `data` (ids and names), in answer order. */
export function groupKey(item: GroupItem): string {
  return JSON.stringify(Object.entries(item).filter(([k]) => k !== "data"));
}

/** Names where the answer has them (`model_name`), else the ids; "all" for the ungrouped row. */
export function groupLabel(item: GroupItem): string {
  const entries = Object.entries(item).filter(([k]) => k !== "data");
  if (entries.length === 0) return "all";
  const names = entries.filter(([k]) => k.endsWith("_name")).map(([, v]) => String(v));
  const dims = new Set(entries.filter(([k]) => k.endsWith("_name")).map(([k]) => k.slice(0, -5)));
  const ids = entries
    .filter(([k]) => !k.endsWith("_name") && !dims.has(k.replace(/_id$/, "")))
    .map(([, v]) => String(v));
  return [...names, ...ids].join(" · ");
}

export interface Series {
  label: string;
  values: Array<number | null>;
  kind: "main" | "previous" | "p50" | "p95" | "p99";
}

export interface MetricChart {
  metric: string;
  /** Bucket starts, seconds since the epoch, oldest first. */
  xs: number[];
  series: Series[];
  /** Indexes into `series` (0-based) filled between: the percentile band. */
  band: [number, number] | null;
}

const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);

export function chartsOf(answer: AnalyticsAnswer, metrics: string[]): MetricChart[] {
  const periods = [...answer.items].reverse();
  const xs = periods.map((p) => Date.parse(p.time_period) / 1000);
  const groups = new Map<string, string>();
  for (const p of periods) for (const g of p.items) groups.set(groupKey(g), groupLabel(g));
  const at = (p: (typeof periods)[number], key: string) => p.items.find((g) => groupKey(g) === key);
  return metrics.map((metric) => {
    const series: Series[] = [];
    const hasComparison = periods.some((p) => p.items.some((g) => g.data[metric]?.comparison));
    for (const [key, label] of groups) {
      series.push({ label, kind: "main", values: periods.map((p) => num(at(p, key)?.data[metric]?.value)) });
      if (hasComparison)
        series.push({
          label: `${label} (previous period)`,
          kind: "previous",
          values: periods.map((p) => num(at(p, key)?.data[metric]?.comparison?.[0]?.value)),
        });
    }
    let band: [number, number] | null = null;
    if (PERCENTILE_METRICS.has(metric) && groups.size === 1) {
      const key = [...groups.keys()][0]!;
      const field = (f: string) => periods.map((p) => num(at(p, key)?.data[metric]?.[f]));
      const first = series.length;
      series.push({ label: "p50", kind: "p50", values: field("p50") });
      series.push({ label: "p95", kind: "p95", values: field("p95") });
      series.push({ label: "p99", kind: "p99", values: field("p99") });
      band = [first + 1, first];
    }
    return { metric, xs, series, band };
  });
}

export interface TableRow {
  period: string;
  group: string;
  cells: Array<{ metric: string; field: string; value: unknown }>;
}

/** Every scalar field of every metric, per (period, group), in the answer's order (newest first). */
export function tableOf(
  answer: AnalyticsAnswer,
  metrics: string[],
): { fields: Array<[string, string]>; rows: TableRow[] } {
  const fields: Array<[string, string]> = [];
  const seen = new Set<string>();
  for (const p of answer.items)
    for (const g of p.items)
      for (const m of metrics)
        for (const [f, v] of Object.entries(g.data[m] ?? {}))
          if (typeof v !== "object" || v === null) {
            const id = `${m}.${f}`;
            if (!seen.has(id)) {
              seen.add(id);
              fields.push([m, f]);
            }
          }
  const rows = answer.items.flatMap((p) =>
    p.items.map((g) => ({
      period: p.time_period,
      group: groupLabel(g),
      cells: fields.map(([metric, field]) => ({ metric, field, value: g.data[metric]?.[field] ?? null })),
    })),
  );
  return { fields, rows };
}

export function formatNumber(v: unknown): string {
  if (v === null || v === undefined) return "—";
  if (typeof v !== "number") return String(v);
  if (Number.isInteger(v)) return v.toLocaleString("en-US");
  const abs = Math.abs(v);
  return v.toLocaleString("en-US", { maximumFractionDigits: abs >= 100 ? 1 : abs >= 1 ? 2 : 6 });
}
