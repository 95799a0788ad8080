import { createInferenceLineWriter, toInferenceRow, type InferenceData } from "@budmetrics/schema";
import { createCatalogue, generateInferences, inferenceCloudEvent } from "../../../test/support/generate";
import { createEventParser } from "../src/ingest/parse-event";

const parser = createEventParser({ sampleTypes: ["model.inference", "metric_sample"] });
const [base] = [
  ...generateInferences({
    seed: 1,
    count: 1,
    startMs: Date.UTC(2026, 0, 1),
    endMs: Date.UTC(2026, 0, 2),
    catalogue: createCatalogue(1),
  }),
];
const ev = (patch: Record<string, unknown>, envelope: Record<string, unknown> = {}) => ({
  ...inferenceCloudEvent({ ...base!, ...patch } as never),
  ...envelope,
});
const sample = (data: Record<string, unknown>, envelope: Record<string, unknown> = {}) => ({
  specversion: "1.0",
  id: "s-1",
  source: "budcluster",
  type: "metric_sample",
  time: "2026-01-01T00:00:00Z",
  data,
  ...envelope,
});

describe("event validation: every rejection names the field and the rule", () => {
  it.each([
    ["missing id", ev({}, { id: undefined }), "EVENT_ENVELOPE_INVALID", "id", "is required"],
    [
      "empty source",
      ev({}, { source: "" }),
      "EVENT_ENVELOPE_INVALID",
      "source",
      "must NOT have fewer than 1 characters",
    ],
    [
      "bad time",
      ev({}, { time: "yesterday" }),
      "EVENT_ENVELOPE_INVALID",
      "time",
      "must be a valid date-time",
    ],
    [
      "upper-case extension",
      ev({}, { traceParent: "x" }),
      "EVENT_ENVELOPE_INVALID",
      "traceParent",
      "is not a CloudEvents attribute name (lower-case letters and digits)",
    ],
    ["unknown type", ev({}, { type: "x.y" }), "EVENT_TYPE_UNKNOWN", "type", 'unknown event type "x.y"'],
    [
      "missing project_id",
      ev({ project_id: undefined }),
      "EVENT_SCHEMA_INVALID",
      "data.project_id",
      "is required",
    ],
    [
      "bad uuid",
      ev({ model_id: "urn:uuid:8a0d1b36-5c9e-4d1f-9b1a-2f3e4d5c6b7a" }),
      "EVENT_SCHEMA_INVALID",
      "data.model_id",
      "must be a UUID",
    ],
    [
      "is_success string",
      ev({ is_success: "yes" }),
      "EVENT_SCHEMA_INVALID",
      "data.is_success",
      "must be boolean",
    ],
    [
      "time without zone",
      ev({ request_arrival_time: "2026-01-01T10:00:00" }, { time: "2026-01-01T10:00:00Z" }),
      "EVENT_SCHEMA_INVALID",
      "data.request_arrival_time",
      "must be a valid date-time",
    ],
    [
      "forward before arrival",
      ev({
        request_arrival_time: "2026-01-01T10:00:00.500Z",
        request_forward_time: "2026-01-01T10:00:00.499Z",
      }),
      "EVENT_RULE_VIOLATED",
      "data.request_forward_time",
      "must not be before request_arrival_time",
    ],
    ["status 600", ev({ status_code: 600 }), "EVENT_SCHEMA_INVALID", "data.status_code", "must be <= 599"],
    ["status 99", ev({ status_code: 99 }), "EVENT_SCHEMA_INVALID", "data.status_code", "must be >= 100"],
    ["bad ip", ev({ request_ip: "10.0.0" }), "EVENT_SCHEMA_INVALID", "data.request_ip", "must be a valid ip"],
    ["negative cost", ev({ cost: -0.01 }), "EVENT_SCHEMA_INVALID", "data.cost", "must be >= 0"],
    [
      "cost beyond Decimal(18, 9) (also what 999999999.99999999 parses to)",
      ev({ cost: 1e9 }),
      "EVENT_SCHEMA_INVALID",
      "data.cost",
      "must be < 1000000000",
    ],
    [
      "fractional tokens",
      ev({ output_tokens: 1.5 }),
      "EVENT_SCHEMA_INVALID",
      "data.output_tokens",
      "must be integer or null",
    ],
    ["negative ttft", ev({ ttft_ms: -1 }), "EVENT_SCHEMA_INVALID", "data.ttft_ms", "must be >= 0"],
    ["unknown field", ev({ tokens: 3 }), "EVENT_SCHEMA_INVALID", "data.tokens", "unknown field"],
    ["data not object", ev({}, { data: 42 }), "EVENT_SCHEMA_INVALID", "data", "must be object"],
    [
      "sample bad name",
      sample({ metric_type: "GPU util", value: 1 }),
      "EVENT_SCHEMA_INVALID",
      "data.metric_type",
      "must match ^[a-z][a-z0-9_.]*$",
    ],
    ["sample no value", sample({ metric_type: "gpu" }), "EVENT_SCHEMA_INVALID", "data.value", "is required"],
    [
      "sample value string",
      sample({ metric_type: "gpu", value: "1" }),
      "EVENT_SCHEMA_INVALID",
      "data.value",
      "must be number",
    ],
    [
      "sample without time",
      sample({ metric_type: "gpu", value: 1 }, { time: undefined }),
      "EVENT_ENVELOPE_INVALID",
      "time",
      "is required for a metric sample (it is the sample time)",
    ],
    [
      "sample label not string",
      sample({ metric_type: "gpu", value: 1, labels: { gpu: 0 } }),
      "EVENT_SCHEMA_INVALID",
      "data.labels.gpu",
      "must be string",
    ],
  ])("%s", (_name, event, code, field, rule) => {
    const clean = JSON.parse(JSON.stringify(event)); // drop undefined like a real body
    const r = parser.parseCloudEvent(clean);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect({ code: r.code, field: r.field, reason: r.reason }).toEqual({
      code,
      field,
      reason: `${field}: ${rule}`,
    });
    expect(JSON.parse(r.raw)).toEqual(clean);
  });

  it("accepts IPv6, optional nulls, project_name and endpoint_name, and Dapr's extension attributes", () => {
    const r = parser.parseCloudEvent(
      ev(
        { request_ip: "2001:db8::1", cost: null, ttft_ms: null, project_name: "p", endpoint_name: "e" },
        {
          topic: "budMetricsMessages",
          pubsubname: "pubsub-redis",
          traceparent: "00-ab-cd-01",
          tracestate: "",
        },
      ),
    );
    expect(r).toMatchObject({ ok: true, kind: "inference", id: base!.inference_id });
  });

  it("takes bare inference data that Dapr wrapped (com.dapr.event.sent) by its own inference_id", () => {
    const r = parser.parseCloudEvent({
      specversion: "1.0",
      id: "random-envelope-id",
      source: "gateway",
      type: "com.dapr.event.sent",
      datacontenttype: "application/json",
      data: base,
      topic: "budMetricsMessages",
      pubsubname: "pubsub-redis",
    });
    expect(r).toMatchObject({ ok: true, kind: "inference", id: base!.inference_id });
    const other = parser.parseCloudEvent({
      specversion: "1.0",
      id: "x",
      source: "s",
      type: "com.dapr.event.sent",
      data: { a: 1 },
    });
    expect(other).toMatchObject({ ok: false, code: "EVENT_TYPE_UNKNOWN" });
  });

  it("keys inferences by inference_id and samples by (source, id)", () => {
    const inf = parser.parseCloudEvent(ev({}, { id: "envelope-id" }));
    expect(inf.ok && inf.row.key).toBe(base!.inference_id.toLowerCase());
    const s = parser.parseCloudEvent(sample({ metric_type: "gpu.util", value: 1.5 }));
    expect(s.ok && s.row.key).toBe("budcluster\u0001s-1");
    expect(s.ok && s.row.timeMs).toBe(Date.UTC(2026, 0, 1));
  });
});

describe("the inference line writer", () => {
  const toInferenceLine = createInferenceLineWriter();
  it("writes the same JSON as JSON.stringify(toInferenceRow(...)) for generated data, nulls, awkward strings and times", () => {
    const cases: InferenceData[] = [
      ...generateInferences({
        seed: 9,
        count: 300,
        startMs: Date.UTC(1950, 0, 1),
        endMs: Date.UTC(2200, 0, 1),
        catalogue: createCatalogue(2),
        missingRate: 0.5,
      }),
    ];
    cases.push(
      {
        ...base!,
        inference_id: base!.inference_id.toUpperCase(),
        error_message: 'quote " backslash \\ newline \n tab \t unicode ☃ \u0000',
        response_analysis: { a: [1, "x"], q: '"' },
        prompt_preview: "</script>",
        request_arrival_time: "2026-03-29T01:30:00.1+02:00",
        request_forward_time: "2026-03-29T00:30:00.123456Z",
      },
      {
        inference_id: base!.inference_id,
        project_id: base!.project_id,
        endpoint_id: base!.endpoint_id,
        model_id: base!.model_id,
        is_success: false,
        request_arrival_time: "2026-01-01T00:00:00Z",
        request_forward_time: "2026-01-01t00:00:00.5z",
      },
      {
        ...base!,
        record_kind: "blocked",
        trace_id: "eabbcee5ecd7bde08b51580b32136a17",
        input_messages: '[{"role":"user","content":"hé \\" ☃"}]',
        output: "",
        system_prompt: null,
        country_code: "US",
        region: "California",
        city: "Mountain View",
        user_agent: "PostmanRuntime/7.51.0",
        device_type: "desktop",
        browser_name: "PostmanRuntime",
        os_name: "Other",
        method: "POST",
        path: "/v1/chat/completions",
        gateway_processing_ms: 5,
        total_duration_ms: 4_294_967_295,
        is_blocked: true,
        block_reason: "rate_limit_exceeded",
        rule_id: "019b971a-5a01-7000-a001-a10000000001",
        response_id: "resp_1",
      },
    );
    const env = { id: 'id "q"', source: "src\\" };
    for (const d of cases) {
      const line = toInferenceLine(d, env);
      expect(JSON.parse(line)).toEqual(JSON.parse(JSON.stringify(toInferenceRow(d, env))));
    }
  });
});
