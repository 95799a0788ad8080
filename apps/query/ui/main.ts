/**
 * The explorer page: controls → URL → analytics request → charts (uPlot), table, inference list.
 * Every call goes through the same API other clients use (api.ts), with the app token when one is set.
 */
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import "./style.css";
import { ApiError, call, download, saveToken, savedToken } from "./api";
import {
  analyticsRequest,
  FILTER_DIMS,
  INTERVALS,
  parseState,
  RANGE_PRESETS,
  rangeOf,
  serializeState,
  type AnalyticsRequest,
  type ExplorerState,
  type FilterDim,
} from "./state";
import { chartsOf, formatNumber, tableOf, type AnalyticsAnswer, type MetricChart } from "./series";
import { formatInZone, toLocalInput, zonedToUtcMs } from "./zone";

interface ExplorerProbe {
  /** ms from navigation start to the first chart drawn. */
  firstChartMs: number | null;
  lastRequest: AnalyticsRequest | null;
  lastAnswer: AnalyticsAnswer | null;
  /** Analytics answers drawn so far (a test waits for the next one). */
  renders: number;
  error: string | null;
}

declare global {
  interface Window {
    __explorer: ExplorerProbe;
  }
}

const probe: ExplorerProbe = {
  firstChartMs: null,
  lastRequest: null,
  lastAnswer: null,
  renders: 0,
  error: null,
};
window.__explorer = probe;

const ANALYTICS = "/observability/analytics";
const LIST = "/observability/inferences/list";
/**
 * Opt-in for the answer's `meta` (how it was made). An explained answer is always computed (never
 * from a cache layer), so it is asked only while the "How this was computed" panel is open.
 */
const EXPLAIN_QUERY = "?explain=1";
const DEFAULT_METRICS = [
  "request_count",
  "success_request",
  "latency",
  "ttft",
  "input_token",
  "output_token",
  "cost",
  "throughput",
  "cache",
  "queuing_time",
  "concurrent_requests",
];
const COLORS = [
  "#1f6feb",
  "#d1242f",
  "#1a7f37",
  "#9a6700",
  "#8250df",
  "#bf3989",
  "#0a7ea4",
  "#57606a",
  "#cf222e",
  "#116329",
];

const browserTz = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
let state: ExplorerState = parseState(location.search, browserTz);
let plots: uPlot[] = [];
/** Names and ids seen in the current range, per dimension (filter choices; ids for the inference list). */
const choices: Record<FilterDim, Map<string, string>> = {
  model: new Map(),
  project: new Map(),
  endpoint: new Map(),
  cluster: new Map(),
};

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: Array<Node | string>
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...children);
  return e;
}

function byId<T extends HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`#${id} missing`);
  return e as T;
}

function option(value: string, label = value, selected = false): HTMLOptionElement {
  const o = el("option", { value }, label);
  o.selected = selected;
  return o;
}

function layout(): void {
  const app = byId("app");
  app.textContent = "";
  const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  app.append(
    el(
      "header",
      {},
      el("h1", {}, "BudMetrics explorer"),
      el(
        "nav",
        { id: "views" },
        ...(["chart", "table", "inferences"] as const).map((v) =>
          el("button", { type: "button", "data-view": v }, v),
        ),
      ),
      el(
        "form",
        { id: "token-form" },
        el("input", {
          id: "token",
          type: "password",
          placeholder: "API token (if the server has one)",
          autocomplete: "off",
        }),
        el("button", { type: "submit" }, "use"),
      ),
    ),
    el(
      "form",
      { id: "controls" },
      el("fieldset", { id: "metrics" }, el("legend", {}, "metrics")),
      el(
        "fieldset",
        {},
        el("legend", {}, "range"),
        el(
          "select",
          { id: "range" },
          ...Object.keys(RANGE_PRESETS).map((r) => option(r, `last ${r}`)),
          option("custom", "custom…"),
        ),
        el("input", { id: "from", type: "datetime-local", step: "60" }),
        el("input", { id: "to", type: "datetime-local", step: "60" }),
        el("select", { id: "interval" }, ...INTERVALS.map((i) => option(i))),
        el("input", { id: "tz", list: "zones", size: "18", title: "IANA time zone" }),
        el("datalist", { id: "zones" }, ...zones.map((z) => option(z))),
      ),
      el(
        "fieldset",
        {},
        el("legend", {}, "filters (comma-separated names)"),
        ...FILTER_DIMS.flatMap((d) => [
          el("label", { for: `filter-${d}` }, d),
          el("input", { id: `filter-${d}`, list: `choices-${d}`, size: "14" }),
          el("datalist", { id: `choices-${d}` }),
        ]),
      ),
      el(
        "fieldset",
        {},
        el("legend", {}, "group by / top-k"),
        ...FILTER_DIMS.map((d) =>
          el("label", {}, el("input", { type: "checkbox", name: "group", value: d }), d),
        ),
        el("input", { id: "topk", type: "number", min: "1", max: "100", placeholder: "top-k", size: "5" }),
      ),
      el(
        "fieldset",
        {},
        el("legend", {}, "chart"),
        el("select", { id: "chart-type" }, option("line"), option("bar")),
        el("label", {}, el("input", { id: "compare", type: "checkbox" }), "previous period"),
        el("button", { type: "button", id: "export-csv", title: "download this answer as CSV" }, "CSV"),
        el(
          "button",
          { type: "button", id: "export-ndjson", title: "download this answer as NDJSON" },
          "NDJSON",
        ),
      ),
    ),
    el("div", { id: "status", role: "status" }),
    el(
      "main",
      {},
      el("div", { id: "charts" }),
      el("div", { id: "table-view" }),
      el("div", { id: "inferences-view" }),
    ),
    el("details", { id: "meta" }, el("summary", {}, "How this was computed"), el("div", { id: "meta-body" })),
    el(
      "aside",
      { id: "drawer", hidden: "" },
      el("button", { type: "button", id: "drawer-close" }, "close"),
      el("div", { id: "drawer-body" }),
    ),
  );
}

function fillControls(): void {
  byId<HTMLSelectElement>("range").value = state.range;
  byId<HTMLInputElement>("from").value = state.from;
  byId<HTMLInputElement>("to").value = state.to;
  byId<HTMLInputElement>("from").hidden = state.range !== "custom";
  byId<HTMLInputElement>("to").hidden = state.range !== "custom";
  byId<HTMLSelectElement>("interval").value = state.interval;
  byId<HTMLInputElement>("tz").value = state.tz;
  for (const d of FILTER_DIMS) byId<HTMLInputElement>(`filter-${d}`).value = state.filters[d].join(",");
  for (const box of document.querySelectorAll<HTMLInputElement>("input[name=group]"))
    box.checked = state.groupBy.includes(box.value as FilterDim);
  byId<HTMLInputElement>("topk").value = state.topk === null ? "" : String(state.topk);
  byId<HTMLSelectElement>("chart-type").value = state.chart;
  byId<HTMLInputElement>("compare").checked = state.compare;
  for (const box of document.querySelectorAll<HTMLInputElement>("input[name=metric]"))
    box.checked = state.metrics.includes(box.value);
  for (const b of document.querySelectorAll<HTMLButtonElement>("#views button"))
    b.classList.toggle("active", b.dataset.view === state.view);
  byId("charts").hidden = state.view !== "chart";
  byId("table-view").hidden = state.view !== "table";
  byId("inferences-view").hidden = state.view !== "inferences";
}

function readControls(): ExplorerState {
  const split = (s: string) =>
    s
      .split(",")
      .map((x) => x.trim())
      .filter((x) => x.length > 0);
  const metrics = [...document.querySelectorAll<HTMLInputElement>("input[name=metric]:checked")].map(
    (b) => b.value,
  );
  const topk = Number(byId<HTMLInputElement>("topk").value);
  const filters = { ...state.filters };
  for (const d of FILTER_DIMS) filters[d] = split(byId<HTMLInputElement>(`filter-${d}`).value);
  return {
    ...state,
    metrics: metrics.length > 0 ? metrics : state.metrics,
    range: byId<HTMLSelectElement>("range").value as ExplorerState["range"],
    from: byId<HTMLInputElement>("from").value,
    to: byId<HTMLInputElement>("to").value,
    interval: byId<HTMLSelectElement>("interval").value as ExplorerState["interval"],
    tz: byId<HTMLInputElement>("tz").value.trim() || browserTz,
    filters,
    groupBy: [...document.querySelectorAll<HTMLInputElement>("input[name=group]:checked")].map(
      (b) => b.value as FilterDim,
    ),
    topk: Number.isInteger(topk) && topk > 0 ? topk : null,
    compare: byId<HTMLInputElement>("compare").checked,
    chart: byId<HTMLSelectElement>("chart-type").value === "bar" ? "bar" : "line",
  };
}

function setStatus(text: string, isError = false): void {
  const s = byId("status");
  s.textContent = text;
  s.classList.toggle("error", isError);
  if (isError) probe.error = text;
}

async function loadMetricList(): Promise<void> {
  let names = DEFAULT_METRICS;
  try {
    const types = await call<{ items: Array<{ name: string }> }>("GET", "/observability/metrics/types");
    names = [...new Set([...DEFAULT_METRICS, ...types.body.items.map((t) => t.name)])];
  } catch {
    // The defaults are enough to draw; the error (e.g. a missing token) shows on the analytics call.
  }
  byId("metrics").append(
    ...names.map((m) => el("label", {}, el("input", { type: "checkbox", name: "metric", value: m }), m)),
  );
  for (const box of document.querySelectorAll<HTMLInputElement>("input[name=metric]"))
    box.checked = state.metrics.includes(box.value);
}

/** Names (and ids) of models, projects, endpoints and clusters in the range: the filters' choices. */
async function loadChoices(): Promise<void> {
  const range = rangeOf(state, Date.now());
  await Promise.all(
    FILTER_DIMS.map(async (dim) => {
      try {
        const res = await call<AnalyticsAnswer>("POST", ANALYTICS, {
          metrics: ["request_count"],
          from_date: range.from_date,
          to_date: range.to_date,
          timezone: state.tz,
          frequency_unit: "year",
          group_by: [dim],
          fill_time_gaps: false,
          return_delta: false,
        });
        const map = choices[dim];
        map.clear();
        for (const p of res.body.items)
          for (const g of p.items) {
            const id = String(g[dim === "cluster" ? "cluster_id" : `${dim}_id`] ?? "");
            const name = String(g[`${dim}_name`] ?? id);
            if (name) map.set(name, id);
          }
        byId(`choices-${dim}`).replaceChildren(...[...map.keys()].sort().map((n) => option(n)));
      } catch {
        // Choices are a convenience: typing a name works without them.
      }
    }),
  );
}

function drawCharts(charts: MetricChart[]): void {
  for (const p of plots) p.destroy();
  plots = [];
  const host = byId("charts");
  host.textContent = "";
  const width = Math.max(320, host.clientWidth || document.body.clientWidth - 32);
  for (const c of charts) {
    const box = el("div", { class: "chart", "data-metric": c.metric, "data-points": String(c.xs.length) });
    host.append(box);
    const bars = state.chart === "bar" ? uPlot.paths.bars?.({ size: [0.7, 64] }) : undefined;
    const groups = c.series.filter((s) => s.kind === "main").length;
    let colorIndex = 0;
    const series: uPlot.Series[] = [
      {},
      ...c.series.map((s): uPlot.Series => {
        if (s.kind === "main") {
          const k = colorIndex++;
          const color = COLORS[k % COLORS.length]!;
          const paths = bars && groups > 1 ? sideBySide(c.xs, k, groups) : bars;
          return {
            label: s.label,
            stroke: color,
            width: 2,
            ...(paths ? { paths, fill: `${color}99`, points: { show: false } } : {}),
          };
        }
        if (s.kind === "previous")
          return {
            label: s.label,
            stroke: COLORS[(colorIndex - 1) % COLORS.length]!,
            width: 1,
            dash: [6, 4],
          };
        if (s.kind === "p99") return { label: s.label, stroke: "#999", width: 1, dash: [2, 3] };
        return { label: s.label, stroke: "#6e9be8", width: 1 };
      }),
    ];
    const opts: uPlot.Options = {
      title: c.metric,
      width,
      height: 240,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), state.tz),
      series,
      bands: c.band ? [{ series: [c.band[0] + 1, c.band[1] + 1], fill: "rgba(31,111,235,0.15)" }] : [],
      axes: [{}, { size: 70 }],
      // Bars stand on zero and the outer ones keep their full width.
      ...(bars && c.xs.length > 0
        ? {
            scales: {
              x: { time: true, range: (): uPlot.Range.MinMax => barRange(c.xs) },
              y: {
                range: (_u: uPlot, _min: number, max: number): uPlot.Range.MinMax => [
                  0,
                  max > 0 ? max * 1.05 : 1,
                ],
              },
            },
          }
        : {}),
    };
    plots.push(new uPlot(opts, [c.xs, ...c.series.map((s) => s.values)] as uPlot.AlignedData, box));
  }
}

/** Bars of group k of n side by side inside each bucket (uPlot draws every series at the bucket otherwise). */
function sideBySide(xs: number[], k: number, n: number): uPlot.Series.PathBuilder | undefined {
  let step = Infinity;
  for (let i = 1; i < xs.length; i++) step = Math.min(step, xs[i]! - xs[i - 1]!);
  if (!Number.isFinite(step)) step = 3600;
  const width = (0.8 * step) / n;
  const x0 = xs.map((x) => x - 0.4 * step + k * width);
  const inScale = 1 as uPlot.Series.BarsPathBuilderFacetUnit;
  return uPlot.paths.bars?.({
    disp: { x0: { unit: inScale, values: () => x0 }, size: { unit: inScale, values: () => [width] } },
  });
}

function barRange(xs: number[]): [number, number] {
  const step = xs.length > 1 ? xs[1]! - xs[0]! : 3600;
  return [xs[0]! - step / 2, xs[xs.length - 1]! + step / 2];
}

function drawTable(answer: AnalyticsAnswer): void {
  const { fields, rows } = tableOf(answer, state.metrics);
  const head = el(
    "tr",
    {},
    el("th", {}, "period"),
    el("th", {}, "group"),
    ...fields.map(([m, f]) => el("th", {}, `${m}.${f}`)),
  );
  const body = rows.map((r) =>
    el(
      "tr",
      {},
      el("td", {}, r.period),
      el("td", {}, r.group),
      ...r.cells.map((c) =>
        el(
          "td",
          { "data-metric": c.metric, "data-field": c.field, "data-value": JSON.stringify(c.value) },
          formatNumber(c.value),
        ),
      ),
    ),
  );
  byId("table-view").replaceChildren(
    el("table", { id: "table" }, el("thead", {}, head), el("tbody", {}, ...body)),
  );
}

function drawMeta(
  req: AnalyticsRequest,
  res: { headers: Headers; ms: number; bytes: number },
  answer: AnalyticsAnswer,
): void {
  const dl = el("dl");
  const row = (k: string, v: string) => dl.append(el("dt", {}, k), el("dd", {}, v));
  row("plan (tiers read)", res.headers.get("x-query-plan") ?? "—");
  row(
    "cache",
    [res.headers.get("x-cache"), res.headers.get("x-cache-layer")].filter(Boolean).join(" / ") ||
      "not cached",
  );
  row("answer", `${Math.round(res.ms)} ms in the browser, ${res.bytes.toLocaleString("en-US")} bytes`);
  const parts: Node[] = [dl];
  if (answer.meta !== undefined && answer.meta !== null)
    parts.push(
      el("h4", {}, "how the server made it (meta)"),
      el("div", { id: "meta-view" }, renderMeta(answer.meta)),
      el(
        "details",
        {},
        el("summary", {}, "meta as JSON"),
        el("pre", { id: "meta-json" }, JSON.stringify(answer.meta, null, 2)),
      ),
    );
  parts.push(
    el("h4", {}, "request"),
    el("pre", { id: "request-json" }, `POST ${ANALYTICS}\n${JSON.stringify(req, null, 2)}`),
  );
  byId("meta-body").replaceChildren(...parts);
}

/**
 * The answer's `meta` whatever its exact shape: objects as key/value lists, lists of objects (one
 * entry per part of the plan: tier, rows and bytes read, timings) as tables, numbers formatted.
 */
function renderMeta(v: unknown): Node {
  if (
    Array.isArray(v) &&
    v.length > 0 &&
    v.every((x) => x !== null && typeof x === "object" && !Array.isArray(x))
  ) {
    const rows = v as Array<Record<string, unknown>>;
    const keys = [...new Set(rows.flatMap((r) => Object.keys(r)))];
    return el(
      "table",
      { class: "meta-table" },
      el("thead", {}, el("tr", {}, ...keys.map((k) => el("th", {}, k)))),
      el("tbody", {}, ...rows.map((r) => el("tr", {}, ...keys.map((k) => el("td", {}, renderMeta(r[k])))))),
    );
  }
  if (v !== null && typeof v === "object" && !Array.isArray(v)) {
    const dl = el("dl");
    for (const [k, x] of Object.entries(v)) dl.append(el("dt", {}, k), el("dd", {}, renderMeta(x)));
    return dl;
  }
  if (Array.isArray(v)) return document.createTextNode(v.map((x) => formatNumber(x)).join(", "));
  if (typeof v === "boolean") return document.createTextNode(v ? "yes" : "no");
  return document.createTextNode(formatNumber(v));
}

let generation = 0;

/** The answer on screen asked again with ?explain=1, its meta shown in the panel. */
async function explainCurrent(): Promise<void> {
  const mine = generation;
  const req = probe.lastRequest;
  if (!req) return;
  try {
    const res = await call<AnalyticsAnswer>("POST", ANALYTICS + EXPLAIN_QUERY, req);
    if (mine === generation) drawMeta(req, res, res.body);
  } catch {
    // The panel keeps what the plain answer said; the chart's own status shows errors.
  }
}

async function loadAnalytics(): Promise<void> {
  const mine = ++generation;
  const req = analyticsRequest(state, Date.now());
  setStatus("loading…");
  try {
    const res = await call<AnalyticsAnswer>("POST", ANALYTICS, req);
    if (mine !== generation) return;
    probe.lastRequest = req;
    probe.lastAnswer = res.body;
    drawCharts(chartsOf(res.body, state.metrics));
    drawTable(res.body);
    drawMeta(req, res, res.body);
    if ((byId("meta") as HTMLDetailsElement).open) void explainCurrent();
    const rows = res.body.items.reduce((n, p) => n + p.items.length, 0);
    setStatus(
      `${res.body.items.length} periods, ${rows} rows · ${res.headers.get("x-query-plan") ?? ""} · ${Math.round(res.ms)} ms`,
    );
    probe.error = null;
    probe.renders++;
    if (probe.firstChartMs === null) {
      probe.firstChartMs = Math.round(performance.now());
      performance.mark("first-chart");
    }
  } catch (err) {
    if (mine !== generation) return;
    const text =
      err instanceof ApiError && err.status === 401
        ? "the server needs its API token: enter it above"
        : String(err instanceof Error ? err.message : err);
    setStatus(text, true);
  }
}

interface ListItem {
  inference_id: string;
  timestamp: string;
  model_name?: string;
  project_name?: string;
  endpoint_name?: string;
  input_tokens?: number;
  output_tokens?: number;
  response_time_ms?: number;
  cost?: number;
  is_success?: boolean;
}

let cursor: string | null = null;

/** The inference list's request for the current view: one page from `page.cursor` (null = the first). */
function listRequest(page: { cursor: string | null; limit: number }): Record<string, unknown> {
  const range = rangeOf(state, Date.now());
  const toUtc = (v: string) =>
    /[zZ]|[+-]\d\d:\d\d$/.test(v) ? v : new Date(zonedToUtcMs(v, state.tz)).toISOString();
  const filters: Record<string, string[]> = {};
  for (const d of ["model", "project", "endpoint"] as const) {
    const ids = state.filters[d].map((n) => choices[d].get(n) ?? n);
    if (ids.length > 0) filters[`${d}_id`] = ids;
  }
  return {
    from_date: toUtc(range.from_date),
    ...(range.to_date ? { to_date: toUtc(range.to_date) } : {}),
    filters,
    sort_by: "timestamp",
    sort_order: "desc",
    limit: page.limit,
    cursor: page.cursor,
  };
}

async function loadInferences(append: boolean): Promise<void> {
  if (!append) cursor = null;
  const view = byId("inferences-view");
  try {
    // The list filters by id: names typed or shared in the URL are looked up first.
    const unknown = (["model", "project", "endpoint"] as const).some((d) =>
      state.filters[d].some((n) => !choices[d].has(n)),
    );
    if (unknown) await loadChoices();
    const res = await call<{ items: ListItem[]; total_count?: number; next_cursor?: string | null }>(
      "POST",
      LIST,
      listRequest({ cursor, limit: 50 }),
    );
    const rows = res.body.items.map((i) => {
      const tr = el(
        "tr",
        { "data-id": i.inference_id },
        el("td", {}, formatInZone(i.timestamp, state.tz)),
        el("td", {}, i.model_name ?? ""),
        el("td", {}, i.project_name ?? ""),
        el("td", {}, i.endpoint_name ?? ""),
        el("td", {}, formatNumber((i.input_tokens ?? 0) + (i.output_tokens ?? 0))),
        el("td", {}, formatNumber(i.response_time_ms ?? null)),
        el("td", {}, formatNumber(i.cost ?? null)),
        el("td", {}, i.is_success ? "ok" : "failed"),
      );
      tr.addEventListener("click", () => void openDrawer(i.inference_id));
      return tr;
    });
    let table = view.querySelector("table");
    if (!append || !table) {
      const head = ["time", "model", "project", "endpoint", "tokens", "latency ms", "cost", "status"];
      table = el(
        "table",
        { id: "inferences" },
        el("thead", {}, el("tr", {}, ...head.map((h) => el("th", {}, h)))),
        el("tbody"),
      );
      const more = el("button", { type: "button", id: "more" }, "more");
      more.addEventListener("click", () => void loadInferences(true));
      const note =
        state.filters.cluster.length > 0 ? " (the list has no cluster filter: it is not applied here)" : "";
      view.replaceChildren(
        el("p", { id: "list-total" }, `${res.body.total_count ?? "?"} inferences${note}`),
        table,
        more,
      );
    }
    table.querySelector("tbody")!.append(...rows);
    cursor = res.body.next_cursor ?? null;
    byId<HTMLButtonElement>("more").hidden = cursor === null;
  } catch (err) {
    setStatus(String(err instanceof Error ? err.message : err), true);
  }
}

async function openDrawer(id: string): Promise<void> {
  const drawer = byId("drawer");
  const body = byId("drawer-body");
  drawer.hidden = false;
  body.textContent = "loading…";
  try {
    const res = await call<Record<string, unknown>>(
      "GET",
      `/observability/inferences/${encodeURIComponent(id)}`,
    );
    const dl = el("dl");
    for (const [k, v] of Object.entries(res.body)) {
      const shown =
        v !== null && typeof v === "object" ? el("pre", {}, JSON.stringify(v, null, 2)) : String(v);
      dl.append(el("dt", {}, k), el("dd", {}, shown));
    }
    body.replaceChildren(el("h3", {}, id), dl);
  } catch (err) {
    body.textContent = String(err instanceof Error ? err.message : err);
  }
}

function refresh(push: boolean): Promise<void> {
  const qs = serializeState(state);
  if (push && `?${qs}` !== location.search) history.pushState(null, "", `?${qs}`);
  else history.replaceState(null, "", `?${qs}`);
  fillControls();
  return state.view === "inferences" ? loadInferences(false) : loadAnalytics();
}

function wire(): void {
  byId("controls").addEventListener("change", () => {
    const before = rangeOf(state, 0);
    const preset = state.range;
    state = readControls();
    if (state.range === "custom" && preset !== "custom" && !state.from) {
      // Custom starts from the preset it replaces, as local times in the zone, to be edited.
      const now = Date.now();
      state = {
        ...state,
        from: toLocalInput(now - RANGE_PRESETS[preset], state.tz),
        to: toLocalInput(now, state.tz),
      };
    }
    const after = rangeOf(state, 0);
    if (before.from_date !== after.from_date || before.to_date !== after.to_date) void loadChoices();
    void refresh(true);
  });
  byId("controls").addEventListener("submit", (e) => e.preventDefault());
  for (const b of document.querySelectorAll<HTMLButtonElement>("#views button"))
    b.addEventListener("click", () => {
      state = { ...state, view: b.dataset.view as ExplorerState["view"] };
      void refresh(true);
    });
  byId("token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    saveToken(byId<HTMLInputElement>("token").value);
    void loadChoices();
    void refresh(false);
  });
  byId("drawer-close").addEventListener("click", () => (byId("drawer").hidden = true));
  byId("meta").addEventListener("toggle", () => {
    if ((byId("meta") as HTMLDetailsElement).open) void explainCurrent();
  });
  for (const format of ["csv", "ndjson"] as const)
    byId(`export-${format}`).addEventListener("click", () => {
      const job =
        state.view === "inferences"
          ? // The newest 1000 (the list's largest page), times in the page's zone.
            download(
              `${LIST}?timezone=${encodeURIComponent(state.tz)}`,
              listRequest({ cursor: null, limit: 1000 }),
              format,
            )
          : // The answer on screen: the request it was asked with, not one recomputed now.
            download(ANALYTICS, probe.lastRequest ?? analyticsRequest(state, Date.now()), format);
      job.catch((err: unknown) => setStatus(String(err instanceof Error ? err.message : err), true));
    });
  window.addEventListener("popstate", () => {
    state = parseState(location.search, browserTz);
    void refresh(false);
  });
  let resizeTimer = 0;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = window.setTimeout(() => {
      for (const p of plots) p.setSize({ width: Math.max(320, byId("charts").clientWidth), height: 240 });
    }, 150);
  });
}

async function start(): Promise<void> {
  layout();
  byId<HTMLInputElement>("token").value = savedToken();
  wire();
  // The metric list only adds checkboxes: it is not waited for. The filters' choices cost four
  // small queries: asked after the first chart, not before it.
  const metricList = loadMetricList();
  await refresh(false);
  await metricList;
  void loadChoices();
}

void start();
