/**
 * The fields the gateway's spans bring (migrations/0013) in the Bud-stack answers, against a plain-TS
 * oracle over generated records: the inference detail's messages, output, system prompt, trace id and
 * gateway metadata; list previews; geography from the gateway's recorded client location (else the
 * request IP); blocking statistics from blocked records. Answers are read by the callers' schemas.
 */
import fs from "node:fs";
import path from "node:path";
import Ajv2020 from "ajv/dist/2020";
import addFormats from "ajv-formats";
import geoip from "geoip-lite";
import type { InferenceData } from "@budmetrics/schema";
import { openTestEngine, type TestEngine } from "../../../../test/support/engine";
import { createRng, uuidFrom } from "../../../../test/support/generate";
import { loadInferences, startApp, type RunningApp } from "../helpers";
import { IDS, makeEvents, NOW } from "./data";

interface Ev {
  t: number;
  d: InferenceData;
}

const FROM = "2026-03-07T00:00:00";
const TO = "2026-03-14T10:15:03.120456";
const fromMs = Date.parse(`${FROM}Z`);
const toMs = Date.parse("2026-03-14T10:15:03.120Z");
const [P1] = IDS.projects;
const PLACES = [
  { country_code: "DE", region: "BE", city: "Berlin" },
  { country_code: "JP", region: "13", city: "Tokyo" },
  { country_code: "BR", region: null, city: null },
];
const RULES = Array.from({ length: 3 }, (_, i) => `1a2b3c4d-0000-4000-8000-00000000000${i}`);
const REASONS = ["ip_blocked", "country_blocked", null];
/** Rule names as the gateway records them; a record stored before migrations/0016 has none. */
const RULE_NAMES = ["Block Tor exits", "API Rate Limit (100/min)", null];
const DETAILS = ["Rate limit exceeded", "Country CN is blocked", null];

let engine: TestEngine;
let app: RunningApp;
let all: Ev[];
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
const schema = (name: string) =>
  ajv.compile(
    JSON.parse(
      fs.readFileSync(path.join(__dirname, "fixtures/schemas", `${name}.schema.json`), "utf8"),
    ) as object,
  );

/** Half the records come from spans: messages, location, agent, route, timings; a tenth are blocked. */
function withSpanFields(events: InferenceData[]): InferenceData[] {
  const rng = createRng(99);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rng() * xs.length)]!;
  return events.map((d, i) => {
    if (i < 3 || rng() < 0.5) return d;
    const out: InferenceData = {
      ...d,
      trace_id: uuidFrom(rng).replace(/-/g, ""),
      input_messages: JSON.stringify([{ role: "user", content: `hello ${i}` }]),
      output: rng() < 0.5 ? `plain answer ${i}` : JSON.stringify({ text: `answer ${i}` }),
      system_prompt: rng() < 0.5 ? "be brief" : null,
      user_agent: "curl/8.5",
      device_type: "desktop",
      browser_name: "curl",
      os_name: "Linux",
      method: "POST",
      path: "/v1/chat/completions",
      gateway_processing_ms: Math.floor(rng() * 20),
      total_duration_ms: Math.floor(rng() * 2000),
      prompt_preview: null,
      response_preview: null,
    };
    if (rng() < 0.6) Object.assign(out, pick(PLACES));
    if (rng() < 0.2) {
      Object.assign(out, {
        record_kind: "blocked",
        is_blocked: true,
        is_success: false,
        endpoint_type: "blocked",
        block_reason: pick(REASONS),
        rule_id: rng() < 0.9 ? pick(RULES) : null,
        rule_name: pick(RULE_NAMES),
        rule_type: pick(["RateBasedBlocking", "GeoBlocking", null]),
        block_reason_detail: pick(DETAILS),
        input_tokens: 0,
        output_tokens: 0,
        response_time_ms: null,
      });
    }
    return out;
  });
}

beforeAll(async () => {
  engine = await openTestEngine("compat_span_fields");
  const events = withSpanFields(makeEvents(31, 3000));
  await loadInferences(engine.ch, events);
  all = events.map((d) => ({ t: Date.parse(d.request_arrival_time), d }));
  app = await startApp(engine.ch, { nowMs: NOW });
}, 120_000);

afterAll(async () => {
  await app?.close();
  await engine?.close();
});

const isPrompt = (e: Ev) => !!e.d.prompt_id;
const inRange = (e: Ev) => e.t >= fromMs && e.t <= toMs;
const count = <K>(xs: K[]) => {
  const m = new Map<K, number>();
  for (const x of xs) m.set(x, (m.get(x) ?? 0) + 1);
  return m;
};

describe("inference detail and list", () => {
  const detailModel = schema("observability-inferences-id__budapp-get-inference-details");

  it("answers the recorded messages, output, system prompt, trace id and gateway metadata", async () => {
    const recorded = all.filter((e) => e.d.input_messages && e.d.record_kind !== "blocked").slice(0, 20);
    expect(recorded.length).toBe(20);
    for (const e of recorded) {
      const res = await app.get(`/observability/inferences/${e.d.inference_id}`);
      expect(res.status).toBe(200);
      expect(detailModel(res.body) ? [] : detailModel.errors).toEqual([]);
      let content: unknown = e.d.output;
      try {
        content = JSON.parse(e.d.output!);
      } catch {
        // plain text stays text
      }
      expect(res.body.messages).toEqual([
        ...(e.d.system_prompt ? [{ role: "system", content: e.d.system_prompt }] : []),
        ...(JSON.parse(e.d.input_messages!) as unknown[]),
        { role: "assistant", content },
      ]);
      expect(res.body.output).toBe(e.d.output);
      expect(res.body.system_prompt).toBe(e.d.system_prompt ?? null);
      expect(res.body.trace_id).toBe(e.d.trace_id);
      expect(res.body.gateway_metadata).toMatchObject({
        user_agent: "curl/8.5",
        device_type: "desktop",
        browser_name: "curl",
        os_name: "Linux",
        method: "POST",
        path: "/v1/chat/completions",
        gateway_processing_ms: e.d.gateway_processing_ms,
        total_duration_ms: e.d.total_duration_ms,
        is_blocked: false,
      });
      if (e.d.country_code) {
        expect(res.body.gateway_metadata).toMatchObject({
          country_code: e.d.country_code,
          region: e.d.region ?? null,
          city: e.d.city ?? null,
        });
      }
    }
  });

  it("answers a blocked record's rule and reason", async () => {
    const e = all.find((x) => x.d.record_kind === "blocked" && x.d.rule_id && x.d.block_reason)!;
    const res = await app.get(`/observability/inferences/${e.d.inference_id}`);
    expect(res.status).toBe(200);
    expect(detailModel(res.body) ? [] : detailModel.errors).toEqual([]);
    expect(res.body.record_kind).toBe("blocked");
    expect(res.body.gateway_metadata).toMatchObject({
      is_blocked: true,
      block_reason: e.d.block_reason,
      block_rule_id: e.d.rule_id,
    });
  });

  it("previews recorded messages in the list when the event carried no preview", async () => {
    const e = all.find((x) => x.d.input_messages && x.d.prompt_id == null)!;
    const res = await app.post("/observability/inferences/list", {
      offset: 0,
      limit: 1000,
      from_date: new Date(e.t).toISOString(),
      to_date: new Date(e.t).toISOString(),
      filters: null,
    });
    expect(res.status).toBe(200);
    const item = res.body.items.find((x: { inference_id: string }) => x.inference_id === e.d.inference_id);
    expect(item.prompt_preview).toBe(e.d.input_messages!.slice(0, 200));
    expect(item.response_preview).toBe(e.d.output!.slice(0, 200));
  });
});

describe("geography from the recorded client location", () => {
  /** The gateway's location when recorded, else the bundled database's for the request IP. */
  const placeOf = (e: Ev) => {
    if (e.d.country_code) return { country: e.d.country_code, city: e.d.city ?? null };
    const p = e.d.request_ip ? geoip.lookup(e.d.request_ip) : null;
    return p?.country ? { country: p.country, city: p.city || null } : null;
  };

  it.each(["country", "city"] as const)("counts requests per %s", async (groupBy) => {
    const res = await app.post("/observability/metrics/geography", {
      from_date: FROM,
      to_date: TO,
      group_by: groupBy,
      limit: 1000,
      filters: null,
    });
    expect(res.status).toBe(200);
    const evs = all.filter((e) => inRange(e) && !isPrompt(e));
    const expected = count(
      evs
        .map(placeOf)
        .filter((p) => p && (groupBy === "country" || p.city))
        .map((p) => (groupBy === "country" ? p!.country : `${p!.country}/${p!.city}`)),
    );
    const got = new Map<string, number>(
      res.body.locations.map((l: { country_code: string; city: string; request_count: number }) => [
        groupBy === "country" ? l.country_code : `${l.country_code}/${l.city}`,
        l.request_count,
      ]),
    );
    expect(got).toEqual(expected);
    expect(got.get(groupBy === "country" ? "JP" : "JP/Tokyo")).toBeGreaterThan(0);
    expect(res.body.total_requests).toBe(evs.length);
  });

  it("filters recorded locations by country code too", async () => {
    const res = await app.get(
      `/observability/metrics/geography?from_date=${FROM}&to_date=${TO}&country_codes=jp,br&limit=100`,
    );
    expect(res.status).toBe(200);
    const evs = all.filter((e) => inRange(e) && !isPrompt(e));
    const expected = count(
      evs
        .map(placeOf)
        .filter((p) => p && ["JP", "BR"].includes(p.country))
        .map((p) => p!.country),
    );
    expect(
      new Map(
        res.body.locations.map((l: { country_code: string; request_count: number }) => [
          l.country_code,
          l.request_count,
        ]),
      ),
    ).toEqual(expected);
  });
});

describe("gateway/blocking-stats", () => {
  const models = [
    "observability-gateway-blocking-stats__budapp-blocking-dashboard-stats",
    "observability-gateway-blocking-stats__budapp-real-time-rule-blocks",
    "observability-gateway-blocking-stats__budapp-sync-blocking-rule-stats",
  ].map(schema);

  function oracle(evs: Ev[]) {
    const blocked = evs.filter((e) => e.d.is_blocked);
    const hour = (t: number) => new Date(Math.floor(t / 3_600_000) * 3_600_000).toISOString().slice(0, 19);
    const ips = [...count(blocked.map((e) => e.d.request_ip ?? null)).entries()]
      .sort((a, b) => b[1] - a[1] || String(a[0]).localeCompare(String(b[0])))
      .slice(0, 10);
    return {
      blocked,
      // Keyed by the rule's name as budapp reads it; a record with no name by its rule id.
      byRule: Object.fromEntries(count(nonNull(blocked.map((e) => e.d.rule_name ?? e.d.rule_id))).entries()),
      // The event's own reason first, then the gateway's category (the original's coalesce).
      byReason: Object.fromEntries(
        count(blocked.map((e) => e.d.block_reason_detail ?? e.d.block_reason ?? "unknown")).entries(),
      ),
      hours: [...count(blocked.map((e) => hour(e.t))).entries()]
        .sort((a, b) => a[0].localeCompare(b[0]))
        .map(([timestamp, blocked_count]) => ({ timestamp, blocked_count })),
      ipCounts: ips.map(([, n]) => n),
    };
  }
  const nonNull = <T>(xs: Array<T | null | undefined>) => xs.filter((x): x is T => x != null);

  it("counts blocked records: totals, rate, per rule name, per reason, top addresses, per hour", async () => {
    const res = await app.get(`/observability/gateway/blocking-stats?from_date=${FROM}&to_date=${TO}`);
    expect(res.status).toBe(200);
    for (const m of models) expect(m(res.body) ? [] : m.errors).toEqual([]);
    const inScope = all.filter(inRange);
    const o = oracle(inScope.filter((e) => !isPrompt(e)));
    expect(o.blocked.length).toBeGreaterThan(10);
    expect(res.body.total_blocked).toBe(o.blocked.length);
    expect(res.body.block_rate).toBe(Math.round((o.blocked.length / inScope.length) * 100 * 100) / 100);
    expect(res.body.blocked_by_rule).toEqual(o.byRule);
    expect(res.body.blocked_by_reason).toEqual(o.byReason);
    expect(res.body.time_series).toEqual(o.hours);
    expect(res.body.top_blocked_ips.map((x: { count: number }) => x.count)).toEqual(o.ipCounts);
    for (const x of res.body.top_blocked_ips) {
      const mine = o.blocked.filter((e) => (e.d.request_ip ?? "Unknown") === x.ip);
      expect(mine.length).toBe(x.count);
    }
  });

  it("applies project_id and data_source=prompt", async () => {
    const res = await app.get(
      `/observability/gateway/blocking-stats?from_date=${FROM}&to_date=${TO}&project_id=${P1}&data_source=prompt`,
    );
    expect(res.status).toBe(200);
    const o = oracle(all.filter((e) => inRange(e) && isPrompt(e) && e.d.project_id === P1));
    expect(res.body.total_blocked).toBe(o.blocked.length);
    expect(res.body.blocked_by_rule).toEqual(o.byRule);
  });

  it("refuses a to_date before from_date in FastAPI's form", async () => {
    const res = await app.get(`/observability/gateway/blocking-stats?from_date=${TO}&to_date=${FROM}`);
    expect(res.status).toBe(422);
    expect(res.body.detail[0].loc).toEqual(["query", "to_date"]);
  });
});

describe("gateway breakdowns in the original's shapes", () => {
  const scoped = (e: Ev) => inRange(e) && !isPrompt(e);

  it("top-routes: requests per path and method, average response time, error rate", async () => {
    const res = await app.get(`/observability/gateway/top-routes?from_date=${FROM}&to_date=${TO}&limit=5`);
    expect(res.status).toBe(200);
    const evs = all.filter((e) => scoped(e) && e.d.path);
    const lat = evs.map((e) => e.d.response_time_ms).filter((x): x is number => x != null);
    const errors = evs.filter((e) => (e.d.status_code ?? 0) >= 400).length;
    expect(res.body.routes).toHaveLength(1);
    const [r] = res.body.routes;
    expect(r).toMatchObject({ path: "/v1/chat/completions", method: "POST", count: evs.length });
    expect(r.avg_response_time).toBeCloseTo(lat.reduce((a, b) => a + b, 0) / lat.length, 6);
    expect(r.error_rate).toBeCloseTo((errors * 100) / evs.length, 9);
  });

  it("client-analytics: requests per device type, browser or OS", async () => {
    const res = await app.get(
      `/observability/gateway/client-analytics?from_date=${FROM}&to_date=${TO}&group_by=browser&project_id=${P1}`,
    );
    expect(res.status).toBe(200);
    const n = all.filter((e) => scoped(e) && e.d.project_id === P1 && e.d.browser_name).length;
    expect(res.body).toEqual({
      distribution: [{ name: "curl", count: n, percent: 100 }],
      total: n,
      group_by: "browser",
    });
  });

  it("geographical-stats: countries and cities as the gateway recorded them, with heat-map points", async () => {
    const res = await app.get(`/observability/gateway/geographical-stats?from_date=${FROM}&to_date=${TO}`);
    expect(res.status).toBe(200);
    const evs = all.filter(scoped);
    const byCountry = count(evs.map((e) => e.d.country_code ?? null));
    const byCity = count(evs.filter((e) => e.d.city).map((e) => `${e.d.city}/${e.d.country_code}`));
    expect(res.body.total_requests).toBe(evs.length);
    expect(
      new Map(
        res.body.countries.map((c: { country_code: string | null; count: number }) => [
          c.country_code,
          c.count,
        ]),
      ),
    ).toEqual(byCountry);
    expect(
      new Map(
        res.body.cities.map((c: { city: string; country_code: string; count: number }) => [
          `${c.city}/${c.country_code}`,
          c.count,
        ]),
      ),
    ).toEqual(byCity);
    expect(res.body.unique_cities).toBe(byCity.size);
    for (const h of res.body.heatmap_data) expect(typeof h.lat).toBe("number");
  });
});
