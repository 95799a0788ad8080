/** CSV and NDJSON exports hold exactly what the JSON answer holds, in every zone and interval. */
import { openTestEngine, type TestEngine } from "../../../test/support/engine";
import { createCatalogue, generateInferences } from "../../../test/support/generate";
import { exportFormatOf } from "../src/http/export";
import { loadInferences, startApp, type RunningApp } from "./helpers";

const NOW = Date.parse("2026-04-01T00:00:00Z");
const FROM = "2026-03-01T00:00:00Z";
const TO = "2026-03-15T00:00:00Z";
let engine: TestEngine;
let app: RunningApp;

beforeAll(async () => {
  engine = await openTestEngine("query_export");
  const cat = createCatalogue(17, { models: 3, projects: 3, endpoints: 4 });
  // Across the US DST change (2026-03-08): New York days of 23 hours.
  const events = [
    ...generateInferences({
      seed: 5,
      count: 2000,
      startMs: Date.parse(FROM),
      endMs: Date.parse(TO),
      catalogue: cat,
    }),
  ];
  // A model whose name needs CSV quoting.
  events.push({
    ...events[0]!,
    inference_id: "0f0e0d0c-0000-4000-8000-000000000001",
    model_id: "0f0e0d0c-0000-4000-8000-00000000abcd",
    model_name: 'model, "quoted"\nname',
  });
  await loadInferences(engine.ch, events);
  app = await startApp(engine.ch, { nowMs: NOW });
}, 60_000);

afterAll(async () => {
  await app?.close();
  await engine?.close();
});

/** RFC 4180 records (quoted cells may hold commas, quotes and line breaks). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      row.push(cell);
      cell = "";
    } else if (c === "\r" && text[i + 1] === "\n") {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = "";
      i++;
    } else cell += c;
  }
  if (cell !== "" || row.length > 0) rows.push([...row, cell]);
  return rows;
}

async function raw(path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(app.url + path, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, type: res.headers.get("content-type"), text: await res.text() };
}

interface Answer {
  items: Array<{
    time_period: string;
    items: Array<Record<string, unknown> & { data: Record<string, Record<string, unknown>> }>;
  }>;
}

/** JSON cell text as the CSV writes it: numbers and booleans by their JSON text, null empty. */
const cellOf = (v: unknown) => (v === null || v === undefined ? "" : String(v));

function expectCsvEqualsJson(csv: string, json: Answer): void {
  const [header, ...rows] = parseCsv(csv);
  const col = new Map(header!.map((h, i) => [h, i]));
  const expected = json.items.flatMap((p) => p.items.map((g) => ({ period: p.time_period, g })));
  expect(rows).toHaveLength(expected.length);
  rows.forEach((r, i) => {
    const { period, g } = expected[i]!;
    expect(r[col.get("time_period")!]).toBe(period);
    for (const [k, v] of Object.entries(g)) {
      if (k === "data") continue;
      expect([k, r[col.get(k)!]]).toEqual([k, cellOf(v)]);
    }
    for (const [metric, fields] of Object.entries(g.data))
      for (const [f, v] of Object.entries(fields)) {
        if (f === "comparison") {
          for (const c of v as Array<Record<string, unknown>>)
            for (const [cf, cv] of Object.entries(c))
              expect(r[col.get(`${metric}.comparison.${String(c.period)}.${cf}`)!]).toBe(cellOf(cv));
        } else expect([metric, f, r[col.get(`${metric}.${f}`)!]]).toEqual([metric, f, cellOf(v)]);
      }
  });
}

function expectNdjsonEqualsJson(ndjson: string, json: Answer): void {
  const lines = ndjson
    .trimEnd()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const rebuilt: Answer["items"] = [];
  for (const { time_period, ...g } of lines) {
    const last = rebuilt.at(-1);
    if (last && last.time_period === time_period) last.items.push(g as Answer["items"][0]["items"][0]);
    else rebuilt.push({ time_period: time_period as string, items: [g as Answer["items"][0]["items"][0]] });
  }
  expect(rebuilt).toEqual(json.items);
}

const CASES: Array<[string, Record<string, unknown>]> = [
  [
    "UTC daily, seed shape",
    { time_range: { from_date: FROM, to_date: TO }, interval: "daily", timezone: "UTC" },
  ],
  [
    "New York daily across DST, grouped by model, previous period",
    {
      time_range: { from_date: "2026-03-05", to_date: "2026-03-12" },
      interval: "daily",
      timezone: "America/New_York",
      group_by: ["model"],
      comparison: { type: "previous_period", periods: 2 },
    },
  ],
  [
    "Kolkata hourly, filtered by project, top-2 endpoints",
    {
      time_range: { from_date: "2026-03-03T00:00", to_date: "2026-03-04T12:00" },
      interval: "hourly",
      timezone: "Asia/Kolkata",
      filters: { project: ["project-0"] },
      group_by: ["endpoint"],
      limit: 2,
    },
  ],
  [
    "Berlin weekly, Bud shape with delta",
    { from_date: FROM, to_date: TO, frequency_unit: "week", timezone: "Europe/Berlin" },
  ],
  [
    "Tokyo every 6 hours, Bud shape grouped by project and model",
    {
      from_date: "2026-03-02T03:00:00Z",
      to_date: "2026-03-04T03:00:00Z",
      frequency_unit: "hour",
      frequency_interval: 6,
      timezone: "Asia/Tokyo",
      group_by: ["project", "model"],
    },
  ],
];

describe("analytics export", () => {
  it.each(CASES)(
    "%s: CSV and NDJSON hold the JSON answer's periods, groups and values",
    async (_name, shape) => {
      const body = { metrics: ["request_count", "latency", "cost", "success_request", "ttft"], ...shape };
      const json = await raw("/observability/analytics", body);
      expect(json.status).toBe(200);
      const answer = JSON.parse(json.text) as Answer;
      expect(answer.items.length).toBeGreaterThan(1);
      const csv = await raw("/observability/analytics?format=csv", body);
      expect(csv.status).toBe(200);
      expect(csv.type).toBe("text/csv; charset=utf-8");
      expectCsvEqualsJson(csv.text, answer);
      const ndjson = await raw("/observability/analytics", body, { accept: "application/x-ndjson" });
      expect(ndjson.type).toBe("application/x-ndjson; charset=utf-8");
      expectNdjsonEqualsJson(ndjson.text, answer);
      // Same by Accept as by ?format=, and a cached JSON answer is never served to an export or back.
      expect((await raw("/observability/analytics", body, { accept: "text/csv" })).text).toBe(csv.text);
      expect(JSON.parse((await raw("/observability/analytics", body)).text)).toEqual(answer);
    },
  );

  it("quotes cells with commas, quotes and line breaks", async () => {
    const body = {
      metrics: ["request_count"],
      time_range: { from_date: FROM, to_date: TO },
      interval: "monthly",
      group_by: ["model"],
    };
    const answer = JSON.parse((await raw("/observability/analytics", body)).text) as Answer;
    const csv = (await raw("/observability/analytics?format=csv", body)).text;
    expect(csv).toContain('"model, ""quoted""\nname"');
    expectCsvEqualsJson(csv, answer);
  });

  it("answers a bad format 422 and errors as JSON", async () => {
    const bad = await raw("/observability/analytics?format=xml", { metrics: ["request_count"] });
    expect(bad.status).toBe(422);
    const invalid = await raw("/observability/analytics?format=csv", { metrics: ["request_count"] });
    expect(invalid.status).toBe(422);
    expect(invalid.type).toContain("application/json");
  });
});

describe("inference list export", () => {
  it("holds the JSON page's rows, times in the asked zone at the same instants", async () => {
    const body = { from_date: FROM, to_date: TO, limit: 200, sort_by: "timestamp", sort_order: "desc" };
    const json = JSON.parse((await raw("/observability/inferences/list", body)).text) as {
      items: Array<Record<string, unknown>>;
    };
    expect(json.items).toHaveLength(200);
    for (const zone of ["UTC", "America/New_York", "Asia/Kolkata"]) {
      const csv = await raw(`/observability/inferences/list?format=csv&timezone=${zone}`, body);
      const [header, ...rows] = parseCsv(csv.text);
      const col = new Map(header!.map((h, i) => [h, i]));
      expect(rows).toHaveLength(200);
      rows.forEach((r, i) => {
        const item = json.items[i]!;
        expect(r[col.get("inference_id")!]).toBe(item.inference_id);
        const t = r[col.get("timestamp")!]!;
        expect(Date.parse(t)).toBe(Date.parse(item.timestamp as string));
        if (zone === "Asia/Kolkata") expect(t).toMatch(/\+05:30$/);
        if (zone === "UTC") expect(t).toBe(item.timestamp);
        expect(r[col.get("cost")!]).toBe(cellOf(item.cost));
        expect(r[col.get("is_success")!]).toBe(cellOf(item.is_success));
      });
      const nd = await raw(`/observability/inferences/list?format=ndjson&timezone=${zone}`, body);
      const lines = nd.text
        .trimEnd()
        .split("\n")
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines.map((l) => l.inference_id)).toEqual(json.items.map((i) => i.inference_id));
      expect(lines.map((l) => Date.parse(l.timestamp as string))).toEqual(
        json.items.map((i) => Date.parse(i.timestamp as string)),
      );
    }
  });
});

describe("export of GET answers and the contract", () => {
  it("takes ?format= on GET endpoints whose query schema is closed, and documents it in /openapi.json", async () => {
    const json = await app.get(`/observability/usage/by-project?from_date=${FROM}&to_date=${TO}`);
    expect(json.status).toBe(200);
    const items = (json.body as { items: Array<Record<string, unknown>> }).items;
    expect(items.length).toBeGreaterThan(0);
    const res = await fetch(
      `${app.url}/observability/usage/by-project?from_date=${FROM}&to_date=${TO}&format=csv`,
    );
    expect(res.status).toBe(200);
    const [header, ...rows] = parseCsv(await res.text());
    expect(rows).toHaveLength(items.length);
    rows.forEach((r, i) =>
      header!.forEach((h, j) =>
        expect([h, r[j]]).toEqual([h, cellOf((items[i] as Record<string, unknown>)[h])]),
      ),
    );
    // timezone is not a parameter of the summary: an export's timezone is taken and not refused.
    const summary = await fetch(`${app.url}/observability/metrics/summary?format=ndjson&timezone=Asia/Tokyo`);
    expect(summary.status).toBe(200);
    const doc = (await app.get("/openapi.json")).body as {
      paths: Record<
        string,
        Record<
          string,
          { parameters?: Array<{ name: string }>; responses: Record<string, { content?: object }> }
        >
      >;
    };
    const analytics = doc.paths["/observability/analytics"]!.post!;
    expect(analytics.parameters!.map((p) => p.name)).toContain("format");
    expect(Object.keys(analytics.responses["200"]!.content!)).toEqual([
      "application/json",
      "text/csv",
      "application/x-ndjson",
    ]);
    const usage = doc.paths["/observability/usage/by-project"]!.get!;
    expect(usage.parameters!.filter((p) => p.name === "timezone")).toHaveLength(1);
  });
});

describe("choosing the format", () => {
  it("takes ?format= over Accept and JSON when nothing asks otherwise", () => {
    expect(exportFormatOf("/x?format=csv", "application/json")).toBe("csv");
    expect(exportFormatOf("/x?format=json", "text/csv")).toBeNull();
    expect(exportFormatOf("/x", "text/csv;q=0.9")).toBe("csv");
    expect(exportFormatOf("/x", "application/ndjson")).toBe("ndjson");
    expect(exportFormatOf("/x", "*/*")).toBeNull();
    expect(exportFormatOf("/x", undefined)).toBeNull();
  });
});
