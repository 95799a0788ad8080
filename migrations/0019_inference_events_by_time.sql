-- The columns the rollup states are made from, one row per stored inference, ordered by arrival
-- time: the raw rows a rollup-served question reads by time (the stretch of a range between its
-- start or end and the nearest rollup bucket mark, the look after a range that ends at now, the
-- concurrency sweep).
--
-- The raw table is ordered by project, model and endpoint before time (what its filtered readers
-- need), so a stretch of minutes across all endpoints reads every granule of the month's parts:
-- one hour's head of a range took ~110 ms at 10M events (5.7M rows in the part) and grows with the
-- month's rows; this table reads the stretch's own granules (~12 ms). ~50 bytes a row compressed on
-- the benchmark's random ids (the raw table ~95).
--
-- Fed by a view like the rollups, so it holds what they hold: every inserted row. The writer never
-- inserts an inference twice (migrations/0001); the raw table's FINAL, which would collapse a copy
-- inserted around the collector, has no counterpart here, as it has none in the rollups. Kept as
-- long as the raw rows (RAW_DATA_RETENTION_DAYS). The backfill reads what is stored, before the
-- view exists and only while the table is empty (a re-run copies nothing twice).
CREATE TABLE IF NOT EXISTS {{db}}.{{local inference_events_by_time}} {{on_cluster}}
(
    request_arrival_time  DateTime64(3, 'UTC'),
    project_id            UUID,
    endpoint_id           UUID,
    model_id              UUID,
    api_key_project_id    Nullable(UUID),
    cluster_id            LowCardinality(String),
    model_name            LowCardinality(String),
    project_name          LowCardinality(String),
    endpoint_name         LowCardinality(String),
    is_success            Bool,
    cached                Bool,
    request_forward_time  DateTime64(3, 'UTC'),
    input_tokens          UInt32,
    output_tokens         UInt32,
    response_time_ms      Nullable(Float64),
    ttft_ms               Nullable(Float64),
    cost                  Nullable(Decimal(18, 9)),
    user_id               Nullable(UUID),
    prompt_id             Nullable(String)
)
ENGINE = {{engine MergeTree}}
PARTITION BY toYYYYMM(request_arrival_time)
ORDER BY request_arrival_time
{{ttl request_arrival_time RAW_DATA_RETENTION_DAYS}};

{{distributed inference_events_by_time cityHash64(request_arrival_time, endpoint_id)}};

INSERT INTO {{db}}.inference_events_by_time
SELECT request_arrival_time, project_id, endpoint_id, model_id, api_key_project_id, cluster_id, model_name,
       project_name, endpoint_name, is_success, cached, request_forward_time, input_tokens, output_tokens,
       response_time_ms, ttft_ms, cost, user_id, prompt_id
FROM {{db}}.inference_events
WHERE (SELECT count() FROM {{db}}.inference_events_by_time) = 0
SETTINGS distributed_foreground_insert = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.inference_events_by_time_mv {{on_cluster}}
TO {{db}}.{{local inference_events_by_time}}
AS SELECT request_arrival_time, project_id, endpoint_id, model_id, api_key_project_id, cluster_id, model_name,
       project_name, endpoint_name, is_success, cached, request_forward_time, input_tokens, output_tokens,
       response_time_ms, ttft_ms, cost, user_id, prompt_id
FROM {{db}}.{{local inference_events}};
