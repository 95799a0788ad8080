/** The explorer page: served ahead of the token check, its state in the URL, answers turned into charts. */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { loadConfig } from "@budmetrics/config";
import { createHost, createRegistry } from "@budmetrics/http";
import { createSilentLogger } from "@budmetrics/logger";
import { createQueryApp, queryConfigSchema } from "../src/index";
import { esbuildUi } from "../src/http/ui";
import { analyticsRequest, defaultState, parseState, serializeState } from "../ui/state";
import { chartsOf, tableOf, type AnalyticsAnswer } from "../ui/series";
import { formatInZone, toLocalInput, zonedToUtcMs } from "../ui/zone";
import { openTestEngine, type TestEngine } from "../../../test/support/engine";
import path from "node:path";

describe("explorer state in the URL", () => {
  it("round-trips every field and falls back to defaults for unknown values", () => {
    const s = {
      ...defaultState("Europe/Berlin"),
      metrics: ["ttft", "cost"],
      range: "custom" as const,
      from: "2026-11-01T00:00",
      to: "2026-11-08T00:00",
      interval: "daily" as const,
      filters: { model: ["llama-2-7b", "gpt-4"], project: [], endpoint: ["chat"], cluster: ["prod"] },
      groupBy: ["model" as const, "cluster" as const],
      topk: 5,
      compare: true,
      chart: "bar" as const,
      view: "table" as const,
    };
    expect(parseState(`?${serializeState(s)}`, "UTC")).toEqual(s);
    expect(parseState("?range=2y&interval=never&topk=-1&group_by=user&view=x", "Asia/Kolkata")).toEqual(
      defaultState("Asia/Kolkata"),
    );
  });

  it("asks the seed request shape: zone, filters, top-k as limit, previous period as comparison", () => {
    const now = Date.parse("2026-11-30T12:00:00Z");
    const s = {
      ...parseState(
        "?metrics=latency&range=7d&interval=daily&tz=America/New_York&model=m1&group_by=project&topk=3&compare=1",
        "UTC",
      ),
    };
    expect(analyticsRequest(s, now)).toEqual({
      metrics: ["latency"],
      time_range: { from_date: "2026-11-23T12:00:00.000Z", to_date: null },
      interval: "daily",
      timezone: "America/New_York",
      filters: { model: ["m1"] },
      group_by: ["project"],
      limit: 3,
      comparison: { type: "previous_period", periods: 1 },
    });
    const custom = parseState("?range=custom&from=2026-11-01T00:00&to=2026-11-02T00:00", "UTC");
    expect(analyticsRequest(custom, now).time_range).toEqual({
      from_date: "2026-11-01T00:00",
      to_date: "2026-11-02T00:00",
    });
  });
});

describe("answers → charts and table", () => {
  const answer: AnalyticsAnswer = {
    object: "observability_metrics",
    items: [
      {
        time_period: "2026-11-30T01:00:00+01:00",
        items: [
          {
            data: {
              latency: {
                avg: 12,
                p50: 10,
                p90: 20,
                p95: 25,
                p99: 40,
                value: 12,
                comparison: [{ period: 1, time_period: "2026-11-29T01:00:00+01:00", value: 9 }],
              },
            },
          },
        ],
      },
      {
        time_period: "2026-11-30T00:00:00+01:00",
        items: [
          { data: { latency: { avg: null, p50: null, p90: null, p95: null, p99: null, value: null } } },
        ],
      },
    ],
  };

  it("draws oldest first, the previous period dashed beside it and the p50–p95 band for latency", () => {
    const [c] = chartsOf(answer, ["latency"]);
    expect(c!.xs).toEqual([
      Date.parse("2026-11-29T23:00:00Z") / 1000,
      Date.parse("2026-11-30T00:00:00Z") / 1000,
    ]);
    expect(c!.series.map((s) => [s.kind, s.values])).toEqual([
      ["main", [null, 12]],
      ["previous", [null, 9]],
      ["p50", [null, 10]],
      ["p95", [null, 25]],
      ["p99", [null, 40]],
    ]);
    expect(c!.band).toEqual([3, 2]);
  });

  it("keeps one line per group and no band when grouped", () => {
    const grouped: AnalyticsAnswer = {
      object: "observability_metrics",
      items: [
        {
          time_period: "2026-11-30T00:00:00Z",
          items: [
            { model_id: "a", model_name: "m-a", data: { latency: { value: 1, p50: 1 } } },
            { model_id: "b", model_name: "m-b", data: { latency: { value: 2, p50: 2 } } },
          ],
        },
      ],
    };
    const [c] = chartsOf(grouped, ["latency"]);
    expect(c!.series.map((s) => s.label)).toEqual(["m-a", "m-b"]);
    expect(c!.band).toBeNull();
    expect(tableOf(grouped, ["latency"]).rows.map((r) => [r.group, r.cells.map((x) => x.value)])).toEqual([
      ["m-a", [1, 1]],
      ["m-b", [2, 2]],
    ]);
  });
});

describe("serving /ui", () => {
  let engine: TestEngine;
  let server: http.Server;
  let url: string;

  beforeAll(async () => {
    engine = await openTestEngine("query_explorer");
    const log = createSilentLogger();
    const registry = createRegistry(false);
    const app = await createQueryApp({
      ch: engine.ch,
      log,
      config: loadConfig(queryConfigSchema, {}),
      registry,
      ui: esbuildUi(path.resolve(__dirname, "../ui")),
    });
    server = http.createServer(createHost({ apps: [app], log, registry, appApiToken: "s3cret" }));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }, 60_000);

  afterAll(async () => {
    server?.closeAllConnections();
    server?.close();
    await engine?.close();
  });

  it("serves the shell and its bundle without the token, and the API it calls only with it", async () => {
    const page = await fetch(`${url}/ui`);
    expect(page.status).toBe(200);
    expect(page.headers.get("cache-control")).toBe("no-cache");
    const html = await page.text();
    const js = /src="(\/ui\/app\.js\?v=[0-9a-f]{12})"/.exec(html)?.[1];
    const css = /href="(\/ui\/app\.css\?v=[0-9a-f]{12})"/.exec(html)?.[1];
    expect(js).toBeDefined();
    expect(css).toBeDefined();
    const script = await fetch(`${url}${js}`, { headers: { "accept-encoding": "gzip" } });
    expect(script.status).toBe(200);
    expect(script.headers.get("content-encoding")).toBe("gzip");
    expect(script.headers.get("cache-control")).toContain("immutable");
    const text = await script.text();
    expect(text.length).toBeGreaterThan(10_000);
    // The same bytes in brotli and without encoding.
    // Brotli is made off the event loop after the first request: gzip until then.
    let br = await fetch(`${url}${js}`, { headers: { "accept-encoding": "br, gzip;q=0.5" } });
    for (let i = 0; i < 50 && br.headers.get("content-encoding") !== "br"; i++) {
      expect(br.headers.get("content-encoding")).toBe("gzip");
      await br.arrayBuffer();
      await new Promise((r) => setTimeout(r, 100));
      br = await fetch(`${url}${js}`, { headers: { "accept-encoding": "br, gzip;q=0.5" } });
    }
    expect(br.headers.get("content-encoding")).toBe("br");
    expect(await br.text()).toBe(text);
    const plain = await fetch(`${url}${js}`, { headers: { "accept-encoding": "identity" } });
    expect(plain.headers.get("content-encoding")).toBeNull();
    expect(await plain.text()).toBe(text);
    expect((await fetch(`${url}${css}`)).status).toBe(200);

    const body = JSON.stringify({
      metrics: ["request_count"],
      time_range: { from_date: "2026-01-01T00:00:00Z", to_date: "2026-01-02T00:00:00Z" },
      interval: "daily",
    });
    const headers = { "content-type": "application/json" };
    expect((await fetch(`${url}/observability/analytics`, { method: "POST", headers, body })).status).toBe(
      401,
    );
    const ok = await fetch(`${url}/observability/analytics`, {
      method: "POST",
      headers: { ...headers, "dapr-api-token": "s3cret" },
      body,
    });
    expect(ok.status).toBe(200);
  });
});

describe("time zones in the page", () => {
  it("reads local date-times in a zone and writes instants back, across DST", () => {
    expect(new Date(zonedToUtcMs("2026-03-08T01:30", "America/New_York")).toISOString()).toBe(
      "2026-03-08T06:30:00.000Z",
    );
    expect(new Date(zonedToUtcMs("2026-03-08T03:30", "America/New_York")).toISOString()).toBe(
      "2026-03-08T07:30:00.000Z",
    );
    expect(new Date(zonedToUtcMs("2026-11-30T08:00", "Asia/Kolkata")).toISOString()).toBe(
      "2026-11-30T02:30:00.000Z",
    );
    expect(toLocalInput(Date.parse("2026-11-30T02:30:00Z"), "Asia/Kolkata")).toBe("2026-11-30T08:00");
    expect(formatInZone("2026-07-01T12:00:00.250Z", "Europe/Berlin")).toBe("2026-07-01 14:00:00.250");
  });
});
