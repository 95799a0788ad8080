/** Loads generated events through the same write path the collector uses (its exactly-once writer). */
import { createClickHouseEventTable, type ClickHouse } from "@budmetrics/clickhouse";
import {
  createExactlyOnceWriter,
  createMemoryClaimStore,
  type ClaimStore,
  type ExactlyOnceWriter,
  type PreparedRow,
  type WriteResult,
} from "@budmetrics/collector";
import {
  sampleKey,
  toInferenceRow,
  toSampleRow,
  type InferenceData,
  type SampleData,
} from "@budmetrics/schema";

export function prepareInference(d: InferenceData, source = "budgateway"): PreparedRow {
  const row = toInferenceRow(d, { id: d.inference_id, source });
  return { key: row.inference_id, timeMs: Date.parse(d.request_arrival_time), line: JSON.stringify(row) };
}

export function prepareSample(
  s: { id: string; timeMs: number; data: SampleData },
  source = "budcluster",
): PreparedRow {
  const row = toSampleRow(s.data, { id: s.id, source, type: "metric_sample", timeMs: s.timeMs });
  return { key: sampleKey(source, s.id), timeMs: s.timeMs, line: JSON.stringify(row) };
}

/** The collector's exactly-once writer over the ClickHouse event table of `ch` (which a test may wrap). */
export function writerFor(deps: { ch: ClickHouse; claims: ClaimStore }): ExactlyOnceWriter {
  return createExactlyOnceWriter({ table: createClickHouseEventTable(deps.ch), claims: deps.claims });
}

export function createTestWriter(ch: ClickHouse): ExactlyOnceWriter {
  return writerFor({ ch, claims: createMemoryClaimStore({ maxCommitted: 1_000_000 }) });
}

export async function writeInferences(
  writer: ExactlyOnceWriter,
  events: readonly InferenceData[],
  batchSize = 20_000,
): Promise<WriteResult[]> {
  const results: WriteResult[] = [];
  for (let i = 0; i < events.length; i += batchSize) {
    results.push(
      await writer.write(
        "inference",
        events.slice(i, i + batchSize).map((e) => prepareInference(e)),
      ),
    );
  }
  return results;
}
