/** OTLP/HTTP traces ingestion: decode, map, assemble, answer (docs/OTLP.md). */
export {
  decodeTraceRequest,
  formatOf,
  attributeAsString,
  DEFAULT_MAX_DECODED_BYTES,
  type DecodeResult,
  type DecodedRequest,
  type DecodeFailure,
  type OtlpSpan,
  type OtlpFormat,
  type RejectedSpan,
} from "./decode";
export { mapInference, mapBlocked, mapResponse, derivedRecordId, type SpanInference } from "./map";
export {
  mergeRecord,
  finishRecord,
  type HeldEvent,
  type InferenceRecord,
  type TraceState,
  type AssemblyConfig,
} from "./assemble";
export {
  createOtlpIngest,
  type OtlpIngest,
  type OtlpIngestConfig,
  type PendingStore,
  type RecordSink,
  type RecordOutcome,
  type SpansResult,
  type EventDecision,
  type SweepResult,
} from "./otlp-ingest";
export { createMemoryPendingStore } from "./memory-store";
export { createMemorySpanActivity, type SpanActivity } from "./activity";
export {
  createRecordSink,
  toInferenceData,
  prepareRecordData,
  ZERO_UUID,
  OTLP_EVENT_SOURCE,
  type RecordSinkMetrics,
} from "./record-sink";
export { answerSpans, answerDecodeFailure, answerRetry, answerSuccess, type OtlpAnswer } from "./response";
