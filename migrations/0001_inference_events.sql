-- Raw inference records: one row per model inference, as published by the gateway
-- (CloudEvent type add_observability_metrics).
--
-- Deduplication by inference_id, and how every read path honours it:
--   1. The write path never inserts an inference_id that is already stored: the collector drops
--      in-batch copies, claims each id before the insert (released on failure, confirmed after
--      commit) and checks ids it does not know against this table, bounded by the event's
--      request_arrival_time (bloom-filter index below). This is the guarantee: the rollups are
--      fed by materialized views, which see every insert, so a duplicate that reached this table
--      would be counted twice in them and could never be taken out again.
--   2. ReplacingMergeTree(received_at) is the safety net for raw reads only: the sorting key ends
--      in inference_id and every other key column is a property of the inference itself, so two
--      copies of one inference share a key and collapse at merge time. Raw-table readers that
--      must be exact even against a copy written around the collector (an operator's manual
--      INSERT) read with FINAL; the query app's raw reads do.
CREATE TABLE IF NOT EXISTS {{db}}.{{local inference_events}} {{on_cluster}}
(
    inference_id          UUID,
    project_id            UUID,
    endpoint_id           UUID,
    model_id              UUID,
    is_success            Bool,
    request_arrival_time  DateTime64(3, 'UTC'),
    request_forward_time  DateTime64(3, 'UTC'),
    request_ip            Nullable(IPv6),
    cost                  Nullable(Decimal(18, 9)),
    response_analysis     Nullable(String) CODEC(ZSTD(3)),
    api_key_id            Nullable(UUID),
    user_id               Nullable(UUID),
    api_key_project_id    Nullable(UUID),
    error_code            LowCardinality(Nullable(String)),
    error_message         Nullable(String) CODEC(ZSTD(3)),
    error_type            LowCardinality(Nullable(String)),
    status_code           Nullable(UInt16),
    model_name            LowCardinality(String) DEFAULT '',
    model_provider        LowCardinality(String) DEFAULT '',
    project_name          LowCardinality(String) DEFAULT '',
    endpoint_name         LowCardinality(String) DEFAULT '',
    endpoint_type         LowCardinality(String) DEFAULT '',
    input_tokens          UInt32 DEFAULT 0,
    output_tokens         UInt32 DEFAULT 0,
    response_time_ms      Nullable(Float64),
    ttft_ms               Nullable(Float64),
    cached                Bool DEFAULT false,
    finish_reason         LowCardinality(Nullable(String)),
    cluster_id            LowCardinality(String) DEFAULT '',
    prompt_id             Nullable(String),
    prompt_preview        Nullable(String) CODEC(ZSTD(3)),
    response_preview      Nullable(String) CODEC(ZSTD(3)),
    event_id              String,
    event_source          LowCardinality(String),
    received_at           DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX idx_inference_id inference_id TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_arrival request_arrival_time TYPE minmax GRANULARITY 1,
    INDEX idx_api_key api_key_id TYPE bloom_filter(0.01) GRANULARITY 4
)
ENGINE = {{engine ReplacingMergeTree(received_at)}}
PARTITION BY toYYYYMM(request_arrival_time)
ORDER BY (project_id, model_id, endpoint_id, request_arrival_time, inference_id)
{{ttl request_arrival_time RAW_DATA_RETENTION_DAYS}}
SETTINGS index_granularity = 8192;

{{distributed inference_events cityHash64(inference_id)}};
