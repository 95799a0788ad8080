/**
 * `pnpm seed [--events N] [--days D] [--url http://127.0.0.1:9085] [--batch 1000] [--concurrency 8] [--token T]`
 * Sends generated inference events (realistic cardinalities, arrival times over the last D days)
 * to a running BudMetrics through its HTTP ingestion API, the way a sender without Dapr would.
 *
 * `pnpm seed --otlp [--events N] [--days D] [--batch 512]` sends generated gateway traffic as its
 * OpenTelemetry spans instead (test/support/otlp-gateway.ts: chat, streaming, failures, embeddings,
 * audio, images, blocked requests, /v1/responses), cut into OTLP/HTTP requests of `--batch` spans,
 * gzip protobuf, to POST /v1/traces — what an OpenTelemetry Collector in front of the gateway sends.
 *
 * `--token` (default: $APP_API_TOKEN) is sent as `dapr-api-token`, for a server started with an app token.
 */
import { parseArgs } from "node:util";
import zlib from "node:zlib";
import { SingleBar, Presets } from "cli-progress";
import { createCatalogue, generateInferences, inferenceCloudEvent } from "../test/support/generate";
import {
  encodeOtlpProtobuf,
  expectedRecords,
  exportRequests,
  generateGatewayRequests,
} from "../test/support/otlp-gateway";

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      events: { type: "string", default: "10000" },
      days: { type: "string", default: "1" },
      url: { type: "string", default: "http://127.0.0.1:9085" },
      batch: { type: "string" },
      concurrency: { type: "string", default: "8" },
      seed: { type: "string", default: String(Date.now() % 1_000_000) },
      otlp: { type: "boolean", default: false },
      token: { type: "string", default: process.env.APP_API_TOKEN ?? "" },
    },
  });
  const auth: Record<string, string> = values.token ? { "dapr-api-token": values.token } : {};
  const count = Number(values.events);
  const days = Number(values.days);
  const batch = Number(values.batch ?? (values.otlp ? "512" : "1000"));
  if (!(count > 0) || !(days > 0) || !(batch > 0)) {
    process.stderr.write("--events, --days and --batch must be positive numbers\n");
    return 2;
  }
  if (values.otlp) return seedSpans({ ...values, count, days, batch, auth });
  const now = Date.now();
  const catalogue = createCatalogue(42, { models: 10, projects: 20, endpoints: 40 });
  const events = generateInferences({
    seed: Number(values.seed),
    count,
    startMs: now - days * 86_400_000,
    endMs: now,
    catalogue,
  });
  const bar = new SingleBar(
    { format: "seeding {bar} {value}/{total} events | {eta}s left" },
    Presets.shades_classic,
  );
  bar.start(count, 0);
  const summary = { inserted: 0, duplicates: 0, invalid: 0, retry: 0 };
  const concurrency = Math.max(1, Number(values.concurrency));
  const inFlight = new Set<Promise<void>>();
  let chunk: unknown[] = [];
  const post = async (events: unknown[]) => {
    for (let attempt = 0; ; attempt++) {
      const res = await fetch(`${values.url}/observability/add`, {
        method: "POST",
        headers: { "content-type": "application/json", ...auth },
        body: JSON.stringify({ events }),
      });
      if (res.status === 503 && attempt < 10) {
        await new Promise((r) => setTimeout(r, 1000));
        continue;
      }
      const body = (await res.json()) as { summary?: typeof summary; error?: unknown };
      if (!body.summary) throw new Error(`ingestion failed with ${res.status}: ${JSON.stringify(body)}`);
      for (const k of Object.keys(summary) as Array<keyof typeof summary>) summary[k] += body.summary[k] ?? 0;
      break;
    }
    bar.increment(events.length);
  };
  // Each request is answered after its rows are committed, so keep several in flight.
  const send = async () => {
    const p = post(chunk).finally(() => inFlight.delete(p));
    inFlight.add(p);
    chunk = [];
    if (inFlight.size >= concurrency) await Promise.race(inFlight);
  };
  for (const data of events) {
    chunk.push(inferenceCloudEvent(data));
    if (chunk.length >= batch) await send();
  }
  if (chunk.length > 0) await send();
  await Promise.all(inFlight);
  bar.stop();
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  return summary.invalid > 0 || summary.retry > 0 ? 1 : 0;
}

/** Generated gateway requests as OTLP/HTTP requests to /v1/traces, `concurrency` in flight. */
async function seedSpans(o: {
  url: string;
  concurrency: string;
  seed: string;
  count: number;
  days: number;
  batch: number;
  auth: Record<string, string>;
}): Promise<number> {
  const now = Date.now();
  const reqs = generateGatewayRequests({
    seed: Number(o.seed),
    count: o.count,
    startMs: now - o.days * 86_400_000,
    spacingMs: Math.max(1, Math.floor((o.days * 86_400_000) / o.count) - 50),
  });
  const bodies = exportRequests(reqs, { seed: Number(o.seed), maxSpansPerRequest: o.batch }).map((r) =>
    zlib.gzipSync(encodeOtlpProtobuf(r)),
  );
  const bar = new SingleBar(
    { format: "seeding {bar} {value}/{total} OTLP requests | {eta}s left" },
    Presets.shades_classic,
  );
  bar.start(bodies.length, 0);
  const answers: Record<string, number> = {};
  let next = 0;
  const worker = async () => {
    for (;;) {
      const body = bodies[next++];
      if (!body) return;
      for (let attempt = 0; ; attempt++) {
        const res = await fetch(`${o.url}/v1/traces`, {
          method: "POST",
          headers: { "content-type": "application/x-protobuf", "content-encoding": "gzip", ...o.auth },
          body,
        });
        await res.arrayBuffer();
        if (res.status === 503 && attempt < 10) {
          await new Promise((r) => setTimeout(r, 1000));
          continue;
        }
        answers[res.status] = (answers[res.status] ?? 0) + 1;
        break;
      }
      bar.increment();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Number(o.concurrency)) }, worker));
  bar.stop();
  const spans = reqs.reduce((a, r) => a + r.spans.length, 0);
  process.stdout.write(
    `${JSON.stringify({ gatewayRequests: reqs.length, inferences: expectedRecords(reqs).length, spans, answers })}\n`,
  );
  return Object.keys(answers).every((s) => s === "200") ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`seed failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
