/**
 * deploy/grafana: the dashboards are what scripts/grafana-dashboards.ts renders, every metric the
 * service dashboard queries is registered by the apps (with the labels it matches on), and every
 * analytics panel's request is answered by the query app with the CSV columns the panel reads.
 */
import fs from "node:fs";
import path from "node:path";
import { createRegistry } from "@budmetrics/http";
import { createCollectorMetrics, createOtlpMetrics } from "../../apps/collector/src/metrics";
import { EVENT_KIND_NAMES } from "../../apps/collector/src/ingest/kinds";
import { createQueryMetrics } from "../../apps/query/src/ops/metrics";
import { loadInferences, startApp, type RunningApp } from "../../apps/query/test/helpers";
import { openTestEngine, type TestEngine } from "../support/engine";
import { createCatalogue, generateInferences } from "../support/generate";
import { DASHBOARD_FILES } from "../../scripts/grafana-dashboards";

const DIR = path.resolve(__dirname, "../../deploy/grafana");

interface Target {
  expr?: string;
  type?: string;
  url?: string;
  url_options?: { method: string; data: string };
  columns?: Array<{ selector: string; type: string }>;
}
interface PanelJson {
  type: string;
  title: string;
  targets?: Target[];
}

function load(file: string): { panels: PanelJson[]; templating: { list: Array<Record<string, unknown>> } } {
  return JSON.parse(fs.readFileSync(path.join(DIR, file), "utf8"));
}

/** Every metric the apps register, with its label names (one registry, as in embedded mode). */
function registeredMetrics(): Map<string, { type: string; labels: string[] }> {
  const registry = createRegistry(true);
  const depth = Object.fromEntries(EVENT_KIND_NAMES.map((k) => [k, { rows: 0, bytes: 0 }]));
  createCollectorMetrics(registry, { knownTypes: [], queueDepth: () => depth as never });
  createOtlpMetrics(registry, { pending: async () => ({ pendingSpans: 0, heldEvents: 0 }) });
  createQueryMetrics(registry);
  const out = new Map<string, { type: string; labels: string[] }>();
  for (const m of registry.getMetricsAsArray()) {
    const { name, type, labelNames } = m as unknown as { name: string; type: string; labelNames?: string[] };
    const labels = labelNames ?? [];
    out.set(name, { type, labels });
    if (type === "histogram") {
      out.set(`${name}_bucket`, { type, labels: [...labels, "le"] });
      out.set(`${name}_sum`, { type, labels });
      out.set(`${name}_count`, { type, labels });
    }
    if (type === "summary") {
      out.set(`${name}_sum`, { type, labels });
      out.set(`${name}_count`, { type, labels });
    }
  }
  return out;
}

describe("grafana dashboards", () => {
  it.each(Object.keys(DASHBOARD_FILES))("%s is what pnpm grafana:dashboards renders", (file) => {
    const make = DASHBOARD_FILES[file as keyof typeof DASHBOARD_FILES];
    // Compared as data: the file is the same JSON printed by prettier (not loadable inside jest).
    expect(load(file)).toEqual(JSON.parse(JSON.stringify(make())));
  });

  it("queries only metrics the apps register, matching only labels they have", () => {
    const metrics = registeredMetrics();
    const exprs = load("budmetrics-service.json")
      .panels.flatMap((p) => p.targets ?? [])
      .map((t) => t.expr!)
      .filter(Boolean);
    expect(exprs.length).toBeGreaterThan(20);
    const queried = new Set<string>();
    for (const expr of exprs) {
      // A selector: metric{label="…",label=~"…"}; every selector in the dashboard names its metric.
      for (const m of expr.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}/g)) {
        const name = m[1]!;
        queried.add(name);
        const known = metrics.get(name);
        expect([name, known !== undefined]).toEqual([name, true]);
        for (const l of m[2]!.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)/g)) {
          const label = l[1]!;
          if (label === "job" || label === "instance") continue;
          expect([name, label, known!.labels.includes(label)]).toEqual([name, label, true]);
        }
      }
      // No bare metric name outside a selector (it would escape the check above).
      const bare = [...expr.replace(/\{[^}]*\}/g, "{}").matchAll(/\b(budmetrics_[a-z0-9_]+)\b(?!\{)/g)];
      expect(bare.map((b) => b[1])).toEqual([]);
    }
    for (const wanted of [
      "budmetrics_collector_events_received_total",
      "budmetrics_collector_entry_answers_total",
      "budmetrics_collector_batch_rows_bucket",
      "budmetrics_collector_flush_duration_seconds_bucket",
      "budmetrics_collector_queue_rows",
      "budmetrics_query_http_request_duration_seconds_bucket",
      "budmetrics_query_cache_events_total",
    ])
      expect(queried).toContain(wanted);
  });

  describe("analytics panels against the query app", () => {
    let engine: TestEngine;
    let app: RunningApp;
    const NOW = Date.parse("2026-05-01T00:00:00Z");

    beforeAll(async () => {
      engine = await openTestEngine("grafana_analytics");
      const cat = createCatalogue(3, { models: 6, projects: 6, endpoints: 6 });
      const events = [
        ...generateInferences({
          seed: 2,
          count: 600,
          startMs: NOW - 14 * 86_400_000,
          endMs: NOW,
          catalogue: cat,
        }),
      ];
      await loadInferences(engine.ch, events);
      app = await startApp(engine.ch, { nowMs: NOW });
    }, 60_000);

    afterAll(async () => {
      await app?.close();
      await engine?.close();
    });

    it("every panel's request is answered for every interval, with the CSV columns the panel reads", async () => {
      const dash = load("budmetrics-analytics.json");
      const intervals = (
        dash.templating.list.find((v) => v.name === "interval")!.options as Array<{ value: string }>
      ).map((o) => o.value);
      const targets = dash.panels.flatMap((p) => (p.targets ?? []).map((t) => [p.title, t] as const));
      expect(targets.length).toBeGreaterThanOrEqual(6);
      for (const [title, t] of targets) {
        expect(t.type).toBe("csv");
        expect(t.url_options!.method).toBe("POST");
        for (const interval of intervals) {
          const body = t
            .url_options!.data.replace("${__from:date:iso}", new Date(NOW - 7 * 86_400_000).toISOString())
            .replace("${__to:date:iso}", new Date(NOW).toISOString())
            .replace("$interval", interval)
            .replace("$timezone", "Europe/Berlin");
          const res = await fetch(app.url + t.url!, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body,
          });
          const text = await res.text();
          expect([title, interval, res.status]).toEqual([title, interval, 200]);
          const header = text.split("\r\n")[0]!.split(",");
          for (const c of t.columns!)
            expect([title, c.selector, header.includes(c.selector)]).toEqual([title, c.selector, true]);
          expect(text.split("\r\n").length).toBeGreaterThan(2);
        }
      }
    });
  });
});
