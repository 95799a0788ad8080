/**
 * `pnpm seed [--events N] [--days D] [--url http://127.0.0.1:9085] [--batch 1000] [--concurrency 8]`
 * Sends generated inference events (realistic cardinalities, arrival times over the last D days)
 * to a running BudMetrics through its HTTP ingestion API, the way a sender without Dapr would.
 */
import { parseArgs } from "node:util";
import { SingleBar, Presets } from "cli-progress";
import { createCatalogue, generateInferences, inferenceCloudEvent } from "../test/support/generate";

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      events: { type: "string", default: "10000" },
      days: { type: "string", default: "1" },
      url: { type: "string", default: "http://127.0.0.1:9085" },
      batch: { type: "string", default: "1000" },
      concurrency: { type: "string", default: "8" },
      seed: { type: "string", default: String(Date.now() % 1_000_000) },
    },
  });
  const count = Number(values.events);
  const days = Number(values.days);
  const batch = Number(values.batch);
  if (!(count > 0) || !(days > 0) || !(batch > 0)) {
    process.stderr.write("--events, --days and --batch must be positive numbers\n");
    return 2;
  }
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
        headers: { "content-type": "application/json" },
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

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`seed failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
