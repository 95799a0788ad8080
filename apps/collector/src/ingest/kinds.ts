import { INFERENCE_COLUMNS, SAMPLE_COLUMNS, Tables } from "@budmetrics/schema";

/**
 * The kinds of event the collector stores, declared once: which CloudEvent types carry each, where its
 * rows go and how its identity is looked up, and the prefix of its claims. The parser, the batchers,
 * the exactly-once write and the metrics loop over this registry. Adding a kind: an entry here, its
 * parse function in parse-event.ts and its table in a migration (docs/ARCHITECTURE.md).
 */
export const INFERENCE_EVENT_TYPE = "add_observability_metrics";

export interface StorageTarget {
  table: string;
  columns: readonly string[];
  /**
   * inference_id: by the id alone, whatever time the event carries (the id table, migrations/0007);
   * source_id_in_time: (CloudEvent source, id) within the batch's time range (a sample's time is part
   * of what it says, so a re-stamped sample is a new sample).
   */
  identity: { by: "inference_id" } | { by: "source_id_in_time"; timeColumn: string };
}

export interface EventKindSpec {
  /** Does a CloudEvent of this type carry this kind? (sample types come from config) */
  matches(type: string, sampleTypes: ReadonlySet<string>): boolean;
  storage: StorageTarget;
  claimPrefix: string;
}

export const EVENT_KINDS = {
  inference: {
    matches: (type) => type === INFERENCE_EVENT_TYPE,
    storage: { table: Tables.inferenceEvents, columns: INFERENCE_COLUMNS, identity: { by: "inference_id" } },
    claimPrefix: "inf:",
  },
  sample: {
    matches: (type, sampleTypes) => sampleTypes.has(type),
    storage: {
      table: Tables.metricSamples,
      columns: SAMPLE_COLUMNS,
      identity: { by: "source_id_in_time", timeColumn: "sample_time" },
    },
    claimPrefix: "smp:",
  },
} as const satisfies Record<string, EventKindSpec>;

export type EventKind = keyof typeof EVENT_KINDS;
export const EVENT_KIND_NAMES = Object.keys(EVENT_KINDS) as EventKind[];

/** The kind a CloudEvent type carries, or undefined. */
export function kindOfType(type: string, sampleTypes: ReadonlySet<string>): EventKind | undefined {
  return EVENT_KIND_NAMES.find((k) => EVENT_KINDS[k].matches(type, sampleTypes));
}
