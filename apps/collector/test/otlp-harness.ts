import zlib from "node:zlib";
import type { InferenceData } from "@budmetrics/schema";
import type { HeldEvent, InferenceRecord } from "../src/otlp/assemble";
import { decodeTraceRequest } from "../src/otlp/decode";
import { createMemoryPendingStore } from "../src/otlp/memory-store";
import {
  createOtlpIngest,
  type OtlpIngest,
  type OtlpIngestConfig,
  type RecordOutcome,
  type RecordSink,
} from "../src/otlp/otlp-ingest";
import { encodeOtlpJson, encodeOtlpProtobuf, type OtlpJsonRequest } from "../../../test/support/otlp-gateway";

/**
 * A record sink with the collector writer's contract: a record id is stored at most once (the
 * first write wins; later writes are duplicates), outcomes after "commit". A held CloudEvent
 * written on its own is stored under its inference id, as the CloudEvent path stores it.
 */
export function createExactlyOnceSink(): RecordSink & {
  records: Map<string, InferenceRecord>;
  events: Map<string, HeldEvent>;
  /** Every id stored, records and events alike: what the raw table (and so the rollups) holds. */
  ids(): string[];
  failNext: number;
} {
  const records = new Map<string, InferenceRecord>();
  const events = new Map<string, HeldEvent>();
  const sink = {
    records,
    events,
    failNext: 0,
    ids: () => [...records.keys(), ...events.keys()],
    async writeRecords(rs: readonly InferenceRecord[]): Promise<RecordOutcome[]> {
      if (sink.failNext > 0) {
        sink.failNext--;
        throw new Error("sink down");
      }
      return rs.map((r) => {
        if (records.has(r.record_id) || events.has(r.record_id)) return "duplicate";
        records.set(r.record_id, r);
        return "inserted";
      });
    },
    async writeEvents(es: readonly HeldEvent[]): Promise<RecordOutcome[]> {
      if (sink.failNext > 0) {
        sink.failNext--;
        throw new Error("sink down");
      }
      return es.map((e) => {
        if (records.has(e.inferenceId) || events.has(e.inferenceId)) return "duplicate";
        events.set(e.inferenceId, e);
        return "inserted";
      });
    },
  };
  return sink;
}

export const TEST_CONFIG: OtlpIngestConfig = {
  boundMs: 60_000,
  retainMs: 900_000,
  maxPending: 1_000_000,
  sweepLimit: 10_000,
};

export function createTestPipeline(config: Partial<OtlpIngestConfig> = {}) {
  const store = createMemoryPendingStore();
  const sink = createExactlyOnceSink();
  const ingest: OtlpIngest = createOtlpIngest({ store, sink, config: { ...TEST_CONFIG, ...config } });
  return { store, sink, ingest };
}

/** Sends one OTLP request (encoded as protobuf, as the Collector's exporter does by default). */
export async function send(ingest: OtlpIngest, req: OtlpJsonRequest, nowMs: number) {
  const decoded = decodeTraceRequest({
    body: encodeOtlpProtobuf(req),
    contentType: "application/x-protobuf",
  });
  if (!decoded.ok) throw new Error(decoded.message);
  return ingest.acceptSpans(decoded.spans, nowMs);
}

export function cloudEventOf(ce: Record<string, unknown>): {
  data: InferenceData;
  eventId: string;
  eventSource: string;
} {
  return { data: ce.data as InferenceData, eventId: String(ce.id), eventSource: String(ce.source) };
}

/** Splits an OTLP request into one request per span (every span in its own request). */
export function perSpan(req: OtlpJsonRequest): OtlpJsonRequest[] {
  return req.resourceSpans.flatMap((rs) =>
    rs.scopeSpans.flatMap((ss) =>
      ss.spans.map((sp) => ({
        resourceSpans: [
          {
            ...(rs.resource ? { resource: rs.resource } : {}),
            scopeSpans: [{ ...(ss.scope ? { scope: ss.scope } : {}), spans: [sp] }],
          },
        ],
      })),
    ),
  );
}

export type Format = "protobuf" | "json";
export const CT: Record<Format, string> = { protobuf: "application/x-protobuf", json: "application/json" };

/** An OTLP request body as the Collector's otlphttp exporter sends it (gzip by default). */
export function otlpBody(req: OtlpJsonRequest, format: Format, gzip = true): Buffer {
  const plain =
    format === "protobuf" ? Buffer.from(encodeOtlpProtobuf(req)) : Buffer.from(encodeOtlpJson(req));
  return gzip ? zlib.gzipSync(plain) : plain;
}

/** POST /v1/traces on a running collector; the answer's bytes as they came. */
export async function postTraces(
  url: string,
  body: Uint8Array,
  headers: Record<string, string>,
): Promise<{ status: number; headers: Headers; bytes: Buffer }> {
  const res = await fetch(`${url}/v1/traces`, { method: "POST", headers, body });
  return { status: res.status, headers: res.headers, bytes: Buffer.from(await res.arrayBuffer()) };
}
