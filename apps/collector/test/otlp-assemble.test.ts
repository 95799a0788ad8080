import fs from "node:fs";
import path from "node:path";
import type { InferenceRecord } from "../src/otlp/assemble";
import { createRng } from "../../../test/support/generate";
import {
  expectedRecords,
  exportRequests,
  generateGatewayRequests,
  type GatewayRequest,
  type OtlpJsonRequest,
} from "../../../test/support/otlp-gateway";
import { cloudEventOf, createTestPipeline, perSpan, send, TEST_CONFIG } from "./otlp-harness";

/**
 * Spans of one trace in different requests, in any order, resent, late; CloudEvents of the same
 * inferences. The reference for every record is what the same spans give in one request (whose
 * agreement with the original is otlp-map.test.ts), or the generator's truth.
 */

const fixture = JSON.parse(
  fs.readFileSync(path.join(__dirname, "fixtures", "otlp", "otel_traces_sample.otlp.json"), "utf8"),
) as OtlpJsonRequest;
const T0 = Date.UTC(2026, 0, 7, 12);
const BOUND = TEST_CONFIG.boundMs;

async function oneRequest(): Promise<Map<string, InferenceRecord>> {
  const { ingest, sink } = createTestPipeline();
  await send(ingest, fixture, T0);
  return sink.records;
}

function shuffled<T>(xs: T[], seed: number): T[] {
  const rng = createRng(seed);
  const a = [...xs];
  for (let k = a.length - 1; k > 0; k--) {
    const j = Math.floor(rng() * (k + 1));
    [a[k], a[j]] = [a[j]!, a[k]!];
  }
  return a;
}

/** Fixture spans of one trace and role. */
function only(traceSuffix: string, names: string[]): OtlpJsonRequest {
  const spans = fixture.resourceSpans[0]!.scopeSpans[0]!.spans.filter(
    (s) => s.traceId.endsWith(traceSuffix) && names.includes(s.name),
  );
  return {
    resourceSpans: [
      { ...fixture.resourceSpans[0]!, scopeSpans: [{ ...fixture.resourceSpans[0]!.scopeSpans[0]!, spans }] },
    ],
  };
}

describe("spans of one trace in different requests", () => {
  let reference: Map<string, InferenceRecord>;
  beforeAll(async () => {
    reference = await oneRequest();
    expect(reference.size).toBe(6);
  });

  it("one span per request, in export (end) order: every record complete without waiting", async () => {
    const { ingest, sink } = createTestPipeline();
    // The gateway's batch processor exports children before parents; the fixture lists spans by
    // trace, so order by end time.
    const bySpan = perSpan(fixture).sort((a, b) =>
      a.resourceSpans[0]!.scopeSpans[0]!.spans[0]!.endTimeUnixNano.localeCompare(
        b.resourceSpans[0]!.scopeSpans[0]!.spans[0]!.endTimeUnixNano,
      ),
    );
    for (const req of bySpan) expect((await send(ingest, req, T0)).ok).toBe(true);
    expect(new Map([...sink.records].map(([k, v]) => [k, v]))).toEqual(reference);
  });

  it.each([1, 2, 3, 4, 5])(
    "one span per request, shuffled (seed %i), then the bound: the same six records",
    async (seed) => {
      const { ingest, sink } = createTestPipeline();
      let t = T0;
      for (const req of shuffled(perSpan(fixture), seed))
        expect((await send(ingest, req, (t += 10))).ok).toBe(true);
      await ingest.sweep(t + BOUND + 1);
      expect(sink.records).toEqual(reference);
    },
  );

  it("the handler after the root, in a later request (the original writes the root alone): one full record", async () => {
    const { ingest, sink } = createTestPipeline();
    await send(ingest, only("6a14", ["gateway_analytics"]), T0);
    expect(sink.records.size).toBe(0); // waits for its handler
    await send(ingest, only("6a14", ["inference_handler_observability"]), T0 + 5_000);
    expect([...sink.records.values()]).toEqual([reference.get("019b971a-2ac3-7143-8bad-d109ed8eb867")]);
  });

  it("resent requests give the same records once", async () => {
    const { ingest, sink } = createTestPipeline();
    const r1 = await send(ingest, fixture, T0);
    const r2 = await send(ingest, fixture, T0 + 1000);
    expect(r1.ok && r1.inserted).toBe(6);
    expect(r2.ok && [r2.inserted, r2.counts.duplicates]).toEqual([0, 12]);
    expect(sink.records).toEqual(reference);
  });

  it("the root alone until the bound gives the original's root-only row; the handler after that is late and dropped", async () => {
    const { ingest, sink } = createTestPipeline();
    await send(ingest, only("6a14", ["gateway_analytics", "POST /v1/chat/completions"]), T0);
    expect((await ingest.sweep(T0 + BOUND - 1)).records).toBe(0);
    expect((await ingest.sweep(T0 + BOUND)).records).toBe(1);
    const [rec] = [...sink.records.values()];
    // What the original's view writes when the handler is not in the same insert (MAPPING of the
    // original: span_id = root, inference id from the gateway span, no tokens/latency/model).
    expect(rec).toMatchObject({
      span_id: "dcbb1843d1c22638",
      inference_id: "019b971a-2ac3-7143-8bad-d109ed8eb867",
      is_success: true,
      status_code: 200,
      input_tokens: null,
      response_time_ms: null,
      model_name: "",
      model_provider: "",
      endpoint_type: "chat",
      cached: false,
      project_id: null,
    });
    const late = await send(ingest, only("6a14", ["inference_handler_observability"]), T0 + BOUND + 5);
    expect(late.ok && late.counts.late).toBe(1);
    expect(sink.records.size).toBe(1);
  });

  it("a handler whose gateway span never comes: its own record at the bound (the original writes none)", async () => {
    const { ingest, sink } = createTestPipeline();
    await send(ingest, only("6a17", ["inference_handler_observability"]), T0);
    await ingest.sweep(T0 + BOUND);
    const rec = [...sink.records.values()][0]!;
    const full = reference.get("019b971a-2ac3-7143-8bad-d109ed8eb878")!;
    expect(rec).toMatchObject({
      inference_id: full.inference_id,
      input_tokens: 24,
      output_tokens: 31,
      response_time_ms: 1125,
      ttft_ms: 250,
      cost: 0.00125,
      endpoint_type: "chat",
      country_code: null,
      span_id: full.span_id,
      timestamp: "2026-01-07T09:17:13.145Z",
    });
    const late = await send(ingest, only("6a17", ["gateway_analytics"]), T0 + BOUND + 1);
    expect(late.ok && late.counts.late).toBe(1);
    expect(sink.records.size).toBe(1);
  });

  it("a failed write leaves the spans pending; the resend writes them once", async () => {
    const { ingest, sink } = createTestPipeline();
    sink.failNext = 1;
    const r = await send(ingest, fixture, T0);
    expect(r).toMatchObject({ ok: false, retryable: true, reason: "sink" });
    expect(sink.records.size).toBe(0);
    const again = await send(ingest, fixture, T0 + 100);
    expect(again.ok).toBe(true);
    expect(sink.records).toEqual(reference);
  });

  it("back-pressure: beyond maxPending a request is refused as retryable", async () => {
    const { ingest } = createTestPipeline({ maxPending: 1 });
    await send(ingest, only("6a14", ["gateway_analytics"]), T0);
    expect(await send(ingest, only("6a15", ["gateway_analytics"]), T0)).toMatchObject({
      ok: false,
      retryable: true,
      reason: "backpressure",
    });
  });
});

describe("generated gateway traffic", () => {
  const reqs = generateGatewayRequests({ seed: 7, count: 400, startMs: T0 });
  const truth = expectedRecords(reqs);

  function check(records: InferenceRecord[], reqs: readonly GatewayRequest[]) {
    const byTrace = new Map<string, InferenceRecord[]>();
    for (const r of records) byTrace.set(r.trace_id, [...(byTrace.get(r.trace_id) ?? []), r]);
    for (const t of expectedRecords(reqs)) {
      const rec = t.inferenceId
        ? records.find((r) => r.inference_id === t.inferenceId)
        : byTrace.get(t.traceId)?.find((r) => r.kind === "blocked");
      expect(rec).toBeDefined();
      expect({
        id: t.inferenceId,
        project: rec!.project_id,
        success: rec!.is_success,
        in: rec!.input_tokens,
        out: rec!.output_tokens,
        rt: rec!.response_time_ms,
        ttft: rec!.ttft_ms,
        cached: rec!.cached,
        cost: rec!.cost,
        country: rec!.country_code,
        ip: rec!.client_ip,
        ua: rec!.user_agent,
        status: rec!.status_code,
        model: rec!.model_name,
        messages: rec!.input_messages,
        output: rec!.output,
      }).toEqual({
        id: t.inferenceId,
        project: t.projectId,
        success: t.isSuccess,
        in: t.inputTokens,
        out: t.outputTokens,
        rt: t.responseTimeMs,
        ttft: t.ttftMs,
        cached: t.cached,
        cost: t.cost,
        country: t.countryCode,
        ip: t.clientIp,
        ua: t.userAgent,
        status: t.statusCode,
        model: t.modelName,
        messages: t.inputMessages,
        output: t.output,
      });
    }
    expect(records).toHaveLength(expectedRecords(reqs).length);
  }

  it("in export order, batched: every record matches the generator's truth at once", async () => {
    const { ingest, sink } = createTestPipeline();
    for (const req of exportRequests(reqs, { seed: 1, maxSpansPerRequest: 37, duplicateRate: 0.1 })) {
      expect((await send(ingest, req, T0)).ok).toBe(true);
    }
    check([...sink.records.values()], reqs);
    expect(truth.filter((t) => t.kind === "blocked").length).toBeGreaterThan(0);
    expect(truth.filter((t) => t.kind === "response").length).toBeGreaterThan(0);
  });

  it("shuffled across traces, small requests, resent: the same records after the bound", async () => {
    const { ingest, sink } = createTestPipeline();
    let t = T0;
    for (const req of exportRequests(reqs, {
      seed: 2,
      maxSpansPerRequest: 3,
      shuffle: true,
      duplicateRate: 0.2,
    })) {
      expect((await send(ingest, req, (t += 1))).ok).toBe(true);
    }
    await ingest.sweep(t + BOUND + 1);
    check([...sink.records.values()], reqs);
  });
});

describe("one identity across the CloudEvent and span paths", () => {
  it("mixed traffic: every inference stored once, fields merged, counts equal the oracle's", async () => {
    const reqs = generateGatewayRequests({ seed: 11, count: 300, startMs: T0 });
    const rng = createRng(99);
    const { ingest, sink } = createTestPipeline();
    // Each request's evidence: spans only, CloudEvent only, or both (CloudEvent before, amid or after
    // its spans). Spans go out batched and shuffled; CloudEvents are resent sometimes.
    type Step = { t: number; spans?: OtlpJsonRequest; event?: Record<string, unknown> };
    const steps: Step[] = [];
    const path = new Map<string, "spans" | "event" | "both">();
    const withSpans: GatewayRequest[] = [];
    for (const r of reqs) {
      const choice = r.cloudEvent ? (["spans", "event", "both"] as const)[Math.floor(rng() * 3)]! : "spans";
      path.set(r.traceId, choice);
      if (choice !== "event") withSpans.push(r);
      if (choice !== "spans") {
        const t = r.startMs + Math.floor(rng() * 20_000);
        steps.push({ t, event: r.cloudEvent! });
        if (rng() < 0.2) steps.push({ t: t + 500, event: r.cloudEvent! });
      }
    }
    const batches = exportRequests(withSpans, {
      seed: 5,
      maxSpansPerRequest: 11,
      shuffle: true,
      duplicateRate: 0.1,
    });
    batches.forEach((b, k) => steps.push({ t: T0 + 5_000 + k * 40, spans: b }));
    steps.sort((a, b) => a.t - b.t);

    let lastSweep = T0;
    for (const step of steps) {
      if (step.spans) expect((await send(ingest, step.spans, step.t)).ok).toBe(true);
      if (step.event) {
        const [decision] = await ingest.holdEvents([cloudEventOf(step.event)], step.t);
        if (decision!.action === "write") {
          // Its spans are already stored: the CloudEvent path writes it, the writer finds the id.
          expect(
            await sink.writeEvents([
              {
                inferenceId: String((step.event.data as { inference_id: string }).inference_id),
                data: step.event.data as never,
                eventId: "",
                eventSource: "",
                receivedMs: step.t,
                dueMs: step.t,
              },
            ]),
          ).toEqual(["duplicate"]);
        } else expect(decision!.action).toBe("held");
      }
      if (step.t - lastSweep > 5_000) {
        await ingest.sweep(step.t);
        lastSweep = step.t;
      }
    }
    await ingest.sweep(steps[steps.length - 1]!.t + BOUND + 1);

    // The oracle: one stored row per inference (and per blocked request), whichever paths carried it.
    const truth = expectedRecords(reqs);
    const ids = sink.ids();
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.length).toBe(truth.length);
    // Counted once in every rollup: the rollup sums what the raw inserts hold, so per project the
    // request count, successes and tokens of the stored rows equal the oracle's.
    const stored = [
      ...[...sink.records.values()].map((r) => ({
        project: r.project_id,
        ok: r.is_success,
        in: r.input_tokens ?? 0,
      })),
      ...[...sink.events.values()].map((e) => ({
        project: e.data.project_id,
        ok: e.data.is_success,
        in: e.data.input_tokens ?? 0,
      })),
    ];
    const sum = (xs: Array<{ project: string | null; ok: boolean | null; in: number }>) => {
      const m: Record<string, [number, number, number]> = {};
      for (const x of xs) {
        const k = String(x.project);
        m[k] ??= [0, 0, 0];
        m[k]![0]++;
        if (x.ok) m[k]![1]++;
        m[k]![2] += x.in;
      }
      return m;
    };
    const oracle = truth.map((t) => ({
      project: t.projectId,
      ok: t.isSuccess,
      // Tokens travel only in spans: an inference whose spans never came has none.
      in: path.get(t.traceId) === "event" ? 0 : (t.inputTokens ?? 0),
    }));
    expect(sum(stored)).toEqual(sum(oracle));

    // The merge rule: spans win where they have a value, the CloudEvent fills the rest.
    for (const r of sink.records.values()) {
      const choice = path.get(r.trace_id)!;
      if (choice !== "both" || r.kind !== "inference" || !r.sources.includes("cloudevent")) continue;
      if (r.is_success === false && r.error_code !== null) expect(r.error_code).toBe("AllVariantsFailed"); // the event says "502"
    }
    // An inference carried by both paths is one record from its spans (the CloudEvent's fields are
    // all in the handler span); its CloudEvent is merged in when it came first, else it is the
    // writer's duplicate.
    const merged = [...sink.records.values()].filter((r) => r.sources.includes("cloudevent"));
    expect(merged.length).toBeGreaterThan(0);
    for (const r of reqs.filter((q) => path.get(q.traceId) === "both")) {
      expect(sink.records.get(r.inferenceId!)?.sources[0]).toBe("spans");
      expect(sink.events.has(r.inferenceId!)).toBe(false);
    }
    for (const m of merged) {
      const r = reqs.find((q) => q.inferenceId === m.inference_id)!;
      expect([path.get(r.traceId), m.event_id]).toEqual(["both", r.cloudEvent!.id]);
    }
  });

  it("a CloudEvent first, its spans later: held, then one merged record", async () => {
    const [req] = generateGatewayRequests({
      seed: 3,
      count: 1,
      startMs: T0,
      mix: {
        chat: 1,
        chat_stream: 0,
        chat_failed: 0,
        embedding: 0,
        audio_transcription: 0,
        image_generation: 0,
        blocked: 0,
        response: 0,
      },
    });
    const { ingest, sink } = createTestPipeline();
    const ce = {
      ...req!.cloudEvent!,
      data: { ...(req!.cloudEvent!.data as object), project_name: "Project A", cluster_id: "c-1" },
    };
    expect(await ingest.holdEvents([cloudEventOf(ce)], T0)).toEqual([{ action: "held" }]);
    expect(sink.ids()).toEqual([]);
    await send(ingest, exportRequests([req!], { seed: 1, maxSpansPerRequest: 100 })[0]!, T0 + 8_000);
    const rec = sink.records.get(req!.inferenceId!)!;
    expect(rec.sources).toEqual(["spans", "cloudevent"]);
    expect([rec.project_name, rec.cluster_id, rec.input_tokens]).toEqual([
      "Project A",
      "c-1",
      req!.inputTokens,
    ]);
    expect(sink.events.size).toBe(0);
    // Nothing left to emit at the bound.
    expect(await ingest.sweep(T0 + 10 * BOUND)).toMatchObject({ records: 0, events: 0 });
    expect(sink.ids()).toEqual([req!.inferenceId]);
  });

  it("a CloudEvent whose spans never come is written on its own at the bound", async () => {
    const [req] = generateGatewayRequests({
      seed: 4,
      count: 1,
      startMs: T0,
      mix: {
        chat: 1,
        chat_stream: 0,
        chat_failed: 0,
        embedding: 0,
        audio_transcription: 0,
        image_generation: 0,
        blocked: 0,
        response: 0,
      },
    });
    const { ingest, sink } = createTestPipeline();
    await ingest.holdEvents([cloudEventOf(req!.cloudEvent!)], T0);
    expect(await ingest.sweep(T0 + BOUND - 1)).toMatchObject({ events: 0 });
    expect(await ingest.sweep(T0 + BOUND)).toMatchObject({ events: 1 });
    expect([...sink.events.keys()]).toEqual([req!.inferenceId]);
    // Its spans after that: a second record would count the inference twice; the writer refuses it.
    await send(ingest, exportRequests([req!], { seed: 1, maxSpansPerRequest: 100 })[0]!, T0 + BOUND + 10);
    expect(sink.ids()).toEqual([req!.inferenceId]);
  });
});
