/**
 * pnpm bench:otlp — the OTLP path's own cost, without the route and the writer (pnpm bench:ingest --otlp measures them too): generated
 * gateway traffic (test/support/otlp-gateway.ts: chat, streaming, failures, embeddings, audio,
 * images, blocked, /v1/responses) cut into OTLP requests as an OpenTelemetry Collector sends them
 * (gzip protobuf or JSON, `--batch` spans each), then decode → compact → assemble → map → merge,
 * with the in-memory pending store and a sink that only counts. Prints spans/s and records/s per
 * run and the share of decoding.
 *
 * Flags: --requests 5000 · --batch 512 · --runs 3 · --json (OTLP/JSON instead of protobuf) · --shuffle
 */
import { parseArgs } from "node:util";
import zlib from "node:zlib";
import { decodeTraceRequest } from "../apps/collector/src/otlp/decode";
import { createMemoryPendingStore } from "../apps/collector/src/otlp/memory-store";
import { createOtlpIngest, type RecordSink } from "../apps/collector/src/otlp/otlp-ingest";
import {
  encodeOtlpJson,
  encodeOtlpProtobuf,
  exportRequests,
  generateGatewayRequests,
} from "../test/support/otlp-gateway";

const { values: flags } = parseArgs({
  options: {
    requests: { type: "string", default: "5000" },
    batch: { type: "string", default: "512" },
    runs: { type: "string", default: "3" },
    json: { type: "boolean", default: false },
    shuffle: { type: "boolean", default: false },
  },
});

async function main() {
  const t0 = Date.UTC(2026, 0, 7);
  const reqs = generateGatewayRequests({ seed: 1, count: Number(flags.requests), startMs: t0 });
  const contentType = flags.json ? "application/json" : "application/x-protobuf";
  const bodies = exportRequests(reqs, {
    seed: 1,
    maxSpansPerRequest: Number(flags.batch),
    shuffle: flags.shuffle,
  }).map((b) => zlib.gzipSync(flags.json ? Buffer.from(encodeOtlpJson(b)) : encodeOtlpProtobuf(b)));
  const bytes = bodies.reduce((a, b) => a + b.byteLength, 0);
  console.log(
    `${reqs.length} gateway requests → ${bodies.length} OTLP requests (${contentType}, gzip, ${(bytes / 1e6).toFixed(1)} MB)`,
  );
  let records = 0;
  const sink: RecordSink = {
    async writeRecords(rs) {
      records += rs.length;
      return rs.map(() => "inserted");
    },
    async writeEvents(es) {
      return es.map(() => "inserted");
    },
  };
  for (let run = 1; run <= Number(flags.runs); run++) {
    records = 0;
    const ingest = createOtlpIngest({
      store: createMemoryPendingStore(),
      sink,
      config: { boundMs: 120_000, retainMs: 900_000, maxPending: 10_000_000, sweepLimit: 100_000 },
    });
    let spans = 0;
    let decodeNs = 0n;
    const start = process.hrtime.bigint();
    for (const body of bodies) {
      const a = process.hrtime.bigint();
      const d = decodeTraceRequest({ body, contentType, contentEncoding: "gzip" });
      decodeNs += process.hrtime.bigint() - a;
      if (!d.ok) throw new Error(d.message);
      spans += d.spans.length;
      const r = await ingest.acceptSpans(d.spans, t0);
      if (!r.ok) throw new Error(r.message);
    }
    await ingest.sweep(t0 + 120_001);
    const s = Number(process.hrtime.bigint() - start) / 1e9;
    console.log(
      `run ${run}: ${Math.round(spans / s)} spans/s, ${Math.round(records / s)} records/s ` +
        `(${spans} spans, ${records} records, ${(s * 1000).toFixed(0)} ms, decoding ${((Number(decodeNs) / 1e9 / s) * 100).toFixed(0)} %)`,
    );
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
