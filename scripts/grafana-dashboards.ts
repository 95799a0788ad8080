/**
 * `pnpm grafana:dashboards` writes deploy/grafana/*.json from the declarations below: the service's own
 * Prometheus metrics, and the analytics through the Infinity data source (CSV exports of POST
 * /observability/analytics). test/deploy/grafana.test.ts checks the files are what this renders, that
 * every metric they query is registered by the apps, and that every analytics query is answered.
 */
import fs from "node:fs";
import path from "node:path";

const PROM = { type: "prometheus", uid: "${datasource}" };
const INFINITY = { type: "yesoreyeram-infinity-datasource", uid: "${infinity}" };
const RATE = "[$__rate_interval]";
const JOB = '{job=~"$job"}';
/** A selector with the job filter and extra matchers: sel("x", 'status=~"RETRY|DROP"'). */
const sel = (metric: string, ...matchers: string[]) => `${metric}{${['job=~"$job"', ...matchers].join(",")}}`;

interface Panel {
  title: string;
  description?: string;
  type?: "timeseries" | "stat" | "table";
  unit?: string;
  width?: number;
  targets: Array<Record<string, unknown>>;
  transformations?: Array<Record<string, unknown>>;
  overrides?: Array<Record<string, unknown>>;
  stack?: boolean;
  bars?: boolean;
}

interface Row {
  title: string;
  panels: Panel[];
}

const prom = (expr: string, legend: string) => ({ datasource: PROM, expr, legendFormat: legend });
const quantile = (q: number, metric: string, by: string) =>
  `histogram_quantile(${q}, sum by (le, ${by}) (rate(${metric}_bucket${JOB}${RATE})))`;

export const SERVICE_ROWS: Row[] = [
  {
    title: "Ingest (collector)",
    panels: [
      {
        title: "Events received per second, by kind",
        unit: "ops",
        stack: true,
        targets: [
          prom(
            `sum by (kind) (rate(${sel("budmetrics_collector_events_received_total")}${RATE}))`,
            "{{kind}}",
          ),
        ],
      },
      {
        title: "Valid events by outcome",
        description: "inserted, duplicate, held, retry, expired, unstorable",
        unit: "ops",
        targets: [
          prom(`sum by (outcome) (rate(${sel("budmetrics_collector_events_total")}${RATE}))`, "{{outcome}}"),
        ],
      },
      {
        title: "Dapr RETRY / DROP answers",
        description: "per-entry answers to the sidecar that did not acknowledge the event",
        unit: "ops",
        targets: [
          prom(
            `sum by (channel, status) (rate(${sel("budmetrics_collector_entry_answers_total", 'status=~"RETRY|DROP"')}${RATE}))`,
            "{{channel}} {{status}}",
          ),
        ],
      },
      {
        title: "Invalid events quarantined, by reason",
        unit: "ops",
        targets: [
          prom(
            `sum by (reason) (rate(${sel("budmetrics_collector_events_invalid_total")}${RATE}))`,
            "{{reason}}",
          ),
        ],
      },
    ],
  },
  {
    title: "Batches and queue (collector)",
    panels: [
      {
        title: "Rows per batch (p50, p95, mean)",
        unit: "short",
        targets: [
          prom(quantile(0.5, "budmetrics_collector_batch_rows", "kind"), "p50 {{kind}}"),
          prom(quantile(0.95, "budmetrics_collector_batch_rows", "kind"), "p95 {{kind}}"),
          prom(
            `sum by (kind) (rate(${sel("budmetrics_collector_batch_rows_sum")}${RATE})) / sum by (kind) (rate(${sel("budmetrics_collector_batch_rows_count")}${RATE}))`,
            "mean {{kind}}",
          ),
        ],
      },
      {
        title: "Flush latency (p50, p95, p99)",
        unit: "s",
        targets: [
          prom(quantile(0.5, "budmetrics_collector_flush_duration_seconds", "kind"), "p50 {{kind}}"),
          prom(quantile(0.95, "budmetrics_collector_flush_duration_seconds", "kind"), "p95 {{kind}}"),
          prom(quantile(0.99, "budmetrics_collector_flush_duration_seconds", "kind"), "p99 {{kind}}"),
        ],
      },
      {
        title: "Write phases, p95",
        unit: "s",
        targets: [prom(quantile(0.95, "budmetrics_collector_write_phase_seconds", "phase"), "{{phase}}")],
      },
      {
        title: "Queue depth",
        description: "rows (left axis) and bytes queued or in flight",
        unit: "short",
        targets: [
          prom(`sum by (kind) (${sel("budmetrics_collector_queue_rows")})`, "rows {{kind}}"),
          prom(`sum by (kind) (${sel("budmetrics_collector_queue_bytes")})`, "bytes {{kind}}"),
        ],
        overrides: [
          {
            matcher: { id: "byRegexp", options: "bytes.*" },
            properties: [
              { id: "unit", value: "bytes" },
              { id: "custom.axisPlacement", value: "right" },
            ],
          },
        ],
      },
      {
        title: "Flush retries and ClickHouse write errors",
        unit: "ops",
        targets: [
          prom(
            `sum by (kind) (rate(${sel("budmetrics_collector_flush_retries_total")}${RATE}))`,
            "retry {{kind}}",
          ),
          prom(
            `sum by (code) (rate(${sel("budmetrics_collector_clickhouse_errors_total")}${RATE}))`,
            "error {{code}}",
          ),
        ],
      },
    ],
  },
  {
    title: "OTLP (collector)",
    panels: [
      {
        title: "POST /v1/traces answers",
        unit: "reqps",
        targets: [
          prom(
            `sum by (status) (rate(${sel("budmetrics_collector_otlp_requests_total")}${RATE}))`,
            "{{status}}",
          ),
        ],
      },
      {
        title: "Spans by outcome",
        unit: "ops",
        targets: [
          prom(
            `sum by (outcome) (rate(${sel("budmetrics_collector_otlp_spans_total")}${RATE}))`,
            "{{outcome}}",
          ),
        ],
      },
      {
        title: "Pending spans and held CloudEvents",
        unit: "short",
        targets: [prom(`sum by (what) (${sel("budmetrics_collector_otlp_pending")})`, "{{what}}")],
      },
    ],
  },
  {
    title: "Queries (query app)",
    panels: [
      {
        title: "Request latency p95, by endpoint",
        unit: "s",
        targets: [
          prom(quantile(0.95, "budmetrics_query_http_request_duration_seconds", "route"), "{{route}}"),
        ],
      },
      {
        title: "Requests per second, by endpoint and status",
        unit: "reqps",
        targets: [
          prom(
            `sum by (route, status) (rate(${sel("budmetrics_query_http_request_duration_seconds_count")}${RATE}))`,
            "{{route}} {{status}}",
          ),
        ],
      },
      {
        title: "Cache hit rate",
        description: "hits (in-process and shared) over lookups",
        unit: "percentunit",
        targets: [
          prom(
            `sum(rate(${sel("budmetrics_query_cache_events_total", 'event=~"hit|hot_hit"')}${RATE})) / sum(rate(${sel("budmetrics_query_cache_events_total", 'event=~"hit|hot_hit|miss"')}${RATE}))`,
            "hit rate",
          ),
        ],
      },
      {
        title: "Answers by cache state",
        unit: "reqps",
        stack: true,
        targets: [
          prom(
            `sum by (cache) (rate(${sel("budmetrics_query_http_request_duration_seconds_count")}${RATE}))`,
            "{{cache}}",
          ),
        ],
      },
      {
        title: "ClickHouse statement time p95, by statement",
        unit: "s",
        targets: [
          prom(quantile(0.95, "budmetrics_query_clickhouse_duration_seconds", "statement"), "{{statement}}"),
        ],
      },
      {
        title: "Rows read (estimated) and returned per second",
        unit: "short",
        targets: [
          prom(
            `sum by (statement) (rate(${sel("budmetrics_query_clickhouse_rows_read_estimated_total")}${RATE}))`,
            "read {{statement}}",
          ),
          prom(
            `sum by (statement) (rate(${sel("budmetrics_query_clickhouse_result_rows_total")}${RATE}))`,
            "returned {{statement}}",
          ),
        ],
      },
    ],
  },
  {
    title: "Process",
    panels: [
      {
        title: "Resident memory",
        unit: "bytes",
        targets: [prom(sel("process_resident_memory_bytes"), "{{instance}}")],
      },
      {
        title: "Event-loop lag p99",
        unit: "s",
        targets: [prom(sel("nodejs_eventloop_lag_p99_seconds"), "{{instance}}")],
      },
      {
        title: "CPU",
        unit: "percentunit",
        targets: [prom(`rate(${sel("process_cpu_seconds_total")}${RATE})`, "{{instance}}")],
      },
    ],
  },
];

/** One analytics question as the Infinity data source asks it: a CSV export of POST /observability/analytics. */
export interface AnalyticsQuestion {
  title: string;
  unit: string;
  bars?: boolean;
  metrics: string[];
  groupBy?: string[];
  limit?: number;
  comparison?: boolean;
  /** CSV columns to draw (`latency.p95`) and their legend. */
  columns: Array<[string, string]>;
  /** Group column that splits rows into one series per group. */
  partitionBy?: string;
}

export const ANALYTICS_QUESTIONS: AnalyticsQuestion[] = [
  {
    title: "Requests, this period and the one before",
    unit: "short",
    bars: true,
    metrics: ["request_count"],
    comparison: true,
    columns: [
      ["request_count.value", "requests"],
      ["request_count.comparison.1.value", "previous period"],
    ],
  },
  {
    title: "Latency percentiles",
    unit: "ms",
    metrics: ["latency"],
    columns: [
      ["latency.p50", "p50"],
      ["latency.p95", "p95"],
      ["latency.p99", "p99"],
      ["latency.avg", "avg"],
    ],
  },
  {
    title: "Time to first token percentiles",
    unit: "ms",
    metrics: ["ttft"],
    columns: [
      ["ttft.p50", "p50"],
      ["ttft.p95", "p95"],
      ["ttft.p99", "p99"],
    ],
  },
  {
    title: "Success rate",
    unit: "percent",
    metrics: ["success_request"],
    columns: [["success_request.rate", "success %"]],
  },
  {
    title: "Requests by model (top 5)",
    unit: "short",
    metrics: ["request_count"],
    groupBy: ["model"],
    limit: 5,
    columns: [["request_count.value", "requests"]],
    partitionBy: "model_name",
  },
  {
    title: "Cost by project (top 5)",
    unit: "currencyUSD",
    bars: true,
    metrics: ["cost"],
    groupBy: ["project"],
    limit: 5,
    columns: [["cost.value", "cost"]],
    partitionBy: "project_name",
  },
  {
    title: "Tokens in and out",
    unit: "short",
    metrics: ["input_token", "output_token"],
    columns: [
      ["input_token.value", "input"],
      ["output_token.value", "output"],
    ],
  },
];

/** The request a question sends, Grafana variables unresolved (resolved by Grafana before sending). */
export function analyticsBody(q: AnalyticsQuestion): Record<string, unknown> {
  return {
    metrics: q.metrics,
    time_range: { from_date: "${__from:date:iso}", to_date: "${__to:date:iso}" },
    interval: "$interval",
    timezone: "$timezone",
    ...(q.groupBy ? { group_by: q.groupBy, limit: q.limit ?? 10 } : {}),
    ...(q.comparison ? { comparison: { type: "previous_period", periods: 1 } } : {}),
  };
}

function infinityTarget(q: AnalyticsQuestion) {
  return {
    refId: "A",
    datasource: INFINITY,
    type: "csv",
    source: "url",
    parser: "backend",
    format: "table",
    url: "/observability/analytics?format=csv",
    url_options: {
      method: "POST",
      body_type: "raw",
      body_content_type: "application/json",
      data: JSON.stringify(analyticsBody(q)),
    },
    columns: [
      { selector: "time_period", text: "time", type: "timestamp" },
      ...(q.partitionBy ? [{ selector: q.partitionBy, text: q.partitionBy, type: "string" }] : []),
      ...q.columns.map(([selector, text]) => ({ selector, text, type: "number" })),
    ],
  };
}

function panelJson(p: Panel, id: number, x: number, y: number, w: number) {
  return {
    id,
    type: p.type ?? "timeseries",
    title: p.title,
    ...(p.description ? { description: p.description } : {}),
    datasource: p.targets[0]!.datasource,
    gridPos: { h: 8, w, x, y },
    fieldConfig: {
      defaults: {
        unit: p.unit ?? "short",
        custom: {
          drawStyle: p.bars ? "bars" : "line",
          fillOpacity: p.bars || p.stack ? 60 : 10,
          lineWidth: 1,
          spanNulls: false,
          ...(p.stack ? { stacking: { mode: "normal", group: "A" } } : {}),
        },
      },
      overrides: p.overrides ?? [],
    },
    options: { legend: { displayMode: "list", placement: "bottom" }, tooltip: { mode: "multi" } },
    targets: p.targets.map((t, i) => ({ refId: String.fromCharCode(65 + i), ...t })),
    ...(p.transformations ? { transformations: p.transformations } : {}),
  };
}

function layoutRows(rows: Row[]) {
  const panels: unknown[] = [];
  let id = 1;
  let y = 0;
  for (const row of rows) {
    panels.push({
      id: id++,
      type: "row",
      title: row.title,
      collapsed: false,
      gridPos: { h: 1, w: 24, x: 0, y },
      panels: [],
    });
    y += 1;
    let x = 0;
    for (const p of row.panels) {
      const w = p.width ?? 8;
      if (x + w > 24) {
        x = 0;
        y += 8;
      }
      panels.push(panelJson(p, id++, x, y, w));
      x += w;
    }
    y += 8;
  }
  return panels;
}

const datasourceVar = (name: string, label: string, type: string) => ({
  name,
  label,
  type: "datasource",
  query: type,
  current: {},
  hide: 0,
  refresh: 1,
});

export function serviceDashboard() {
  return {
    uid: "budmetrics-service",
    title: "BudMetrics — service",
    description: "The collector's and the query app's own Prometheus metrics (GET /metrics).",
    tags: ["budmetrics"],
    schemaVersion: 39,
    version: 1,
    editable: true,
    time: { from: "now-6h", to: "now" },
    refresh: "30s",
    timezone: "browser",
    templating: {
      list: [
        datasourceVar("datasource", "Prometheus", "prometheus"),
        {
          name: "job",
          label: "job",
          type: "query",
          datasource: PROM,
          query: { query: "label_values(process_start_time_seconds, job)", refId: "job" },
          definition: "label_values(process_start_time_seconds, job)",
          includeAll: true,
          multi: true,
          allValue: ".*",
          current: { text: "All", value: "$__all" },
          refresh: 2,
          hide: 0,
        },
      ],
    },
    panels: layoutRows(SERVICE_ROWS),
  };
}

export function analyticsDashboard() {
  const rows: Row[] = [
    {
      title: "Analytics (POST /observability/analytics, CSV export, through the Infinity data source)",
      panels: ANALYTICS_QUESTIONS.map((q) => ({
        title: q.title,
        unit: q.unit,
        bars: q.bars ?? false,
        width: 12,
        targets: [infinityTarget(q)],
        ...(q.partitionBy
          ? {
              transformations: [
                {
                  id: "partitionByValues",
                  options: { fields: [q.partitionBy], keepFields: false, naming: { asLabels: false } },
                },
              ],
            }
          : {}),
      })),
    },
  ];
  return {
    uid: "budmetrics-analytics",
    title: "BudMetrics — analytics",
    description:
      "Inference analytics answered by the query app: each panel is one POST /observability/analytics (seed shape) exported as CSV (?format=csv), read by the Infinity data source.",
    tags: ["budmetrics"],
    schemaVersion: 39,
    version: 1,
    editable: true,
    time: { from: "now-7d", to: "now" },
    refresh: "5m",
    timezone: "browser",
    templating: {
      list: [
        datasourceVar("infinity", "BudMetrics query app (Infinity)", "yesoreyeram-infinity-datasource"),
        {
          name: "interval",
          label: "interval",
          type: "custom",
          query: "hourly,daily,weekly,monthly",
          current: { text: "daily", value: "daily" },
          options: ["hourly", "daily", "weekly", "monthly"].map((v) => ({
            text: v,
            value: v,
            selected: v === "daily",
          })),
          hide: 0,
        },
        {
          name: "timezone",
          label: "time zone (IANA)",
          type: "textbox",
          query: "UTC",
          current: { text: "UTC", value: "UTC" },
          hide: 0,
        },
      ],
    },
    panels: layoutRows(rows),
  };
}

export const DASHBOARD_FILES = {
  "budmetrics-service.json": serviceDashboard,
  "budmetrics-analytics.json": analyticsDashboard,
} as const;

/** The file's text: JSON as the repository's prettier settings print it (so `pnpm format:check` passes). */
export async function renderDashboard(make: () => unknown, file: string): Promise<string> {
  // Loaded here only: prettier is ESM inside, which the tests that import the declarations cannot load.
  const prettier = await import("prettier");
  const options = (await prettier.resolveConfig(file)) ?? {};
  return prettier.format(JSON.stringify(make()), { ...options, parser: "json" });
}

if (require.main === module) {
  void (async () => {
    const dir = path.resolve(__dirname, "../deploy/grafana");
    for (const [file, make] of Object.entries(DASHBOARD_FILES)) {
      const target = path.join(dir, file);
      fs.writeFileSync(target, await renderDashboard(make, target));
      process.stdout.write(`wrote deploy/grafana/${file}\n`);
    }
  })();
}
