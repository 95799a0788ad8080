-- Per-model rollups: the states of 0004 keyed by model only, hourly and daily, cascaded from the
-- hourly rollup (hourly) and from themselves (daily). They serve questions whose only filter and only
-- group is the model ("p95 latency by model", one model's dashboard), which would otherwise merge one
-- state per endpoint and hour (day): ~10x fewer states with 10 endpoints per model. Same exactness
-- rules and state errors as 0004; the planner picks them like the totals (docs/QUERY.md).
--
-- Backfill: the hourly table is filled from the hourly rollup already stored, so an existing
-- installation answers from the new tables at once (the daily view cascades it). The backfill runs
-- before the hourly view exists, and only while the target is empty, so a re-run after a failure
-- never counts a row twice. Exact when nothing ingests between the backfill and the next statement:
-- the migration runs at start-up before the apps take traffic. On a live cluster whose collectors
-- keep ingesting while a new replica migrates, pause ingestion for this step (docs/OPERATIONS.md).

CREATE TABLE IF NOT EXISTS {{db}}.{{local inference_model_1h}} {{on_cluster}}
(
    bucket_start        DateTime('UTC'),
    model_id            UUID,
    model_name          LowCardinality(String),
    request_count       SimpleAggregateFunction(sum, UInt64),
    success_count       SimpleAggregateFunction(sum, UInt64),
    cached_count        SimpleAggregateFunction(sum, UInt64),
    queuing_ms_sum      SimpleAggregateFunction(sum, Int64),
    queuing_ms_min      SimpleAggregateFunction(min, Int64),
    queuing_ms_max      SimpleAggregateFunction(max, Int64),
    input_tokens_sum    SimpleAggregateFunction(sum, UInt64),
    output_tokens_sum   SimpleAggregateFunction(sum, UInt64),
    latency_count       SimpleAggregateFunction(sum, UInt64),
    latency_sum         SimpleAggregateFunction(sum, Float64),
    latency_min         SimpleAggregateFunction(min, Nullable(Float64)),
    latency_max         SimpleAggregateFunction(max, Nullable(Float64)),
    latency_q           AggregateFunction(quantileDD(0.01, 0.5), Float64),
    ttft_count          SimpleAggregateFunction(sum, UInt64),
    ttft_sum            SimpleAggregateFunction(sum, Float64),
    ttft_min            SimpleAggregateFunction(min, Nullable(Float64)),
    ttft_max            SimpleAggregateFunction(max, Nullable(Float64)),
    ttft_q              AggregateFunction(quantileDD(0.01, 0.5), Float64),
    throughput_count    SimpleAggregateFunction(sum, UInt64),
    throughput_sum      SimpleAggregateFunction(sum, Float64),
    cost_sum            SimpleAggregateFunction(sum, Decimal(38, 9)),
    users               AggregateFunction(uniq, UUID)
)
ENGINE = {{engine AggregatingMergeTree}}
PARTITION BY toYear(bucket_start)
ORDER BY (bucket_start, model_id, model_name)
{{ttl bucket_start AGGREGATED_DATA_RETENTION_DAYS}};

{{distributed inference_model_1h rand()}};

CREATE TABLE IF NOT EXISTS {{db}}.{{local inference_model_1d}} {{on_cluster}}
(
    bucket_start        DateTime('UTC'),
    model_id            UUID,
    model_name          LowCardinality(String),
    request_count       SimpleAggregateFunction(sum, UInt64),
    success_count       SimpleAggregateFunction(sum, UInt64),
    cached_count        SimpleAggregateFunction(sum, UInt64),
    queuing_ms_sum      SimpleAggregateFunction(sum, Int64),
    queuing_ms_min      SimpleAggregateFunction(min, Int64),
    queuing_ms_max      SimpleAggregateFunction(max, Int64),
    input_tokens_sum    SimpleAggregateFunction(sum, UInt64),
    output_tokens_sum   SimpleAggregateFunction(sum, UInt64),
    latency_count       SimpleAggregateFunction(sum, UInt64),
    latency_sum         SimpleAggregateFunction(sum, Float64),
    latency_min         SimpleAggregateFunction(min, Nullable(Float64)),
    latency_max         SimpleAggregateFunction(max, Nullable(Float64)),
    latency_q           AggregateFunction(quantileDD(0.01, 0.5), Float64),
    ttft_count          SimpleAggregateFunction(sum, UInt64),
    ttft_sum            SimpleAggregateFunction(sum, Float64),
    ttft_min            SimpleAggregateFunction(min, Nullable(Float64)),
    ttft_max            SimpleAggregateFunction(max, Nullable(Float64)),
    ttft_q              AggregateFunction(quantileDD(0.01, 0.5), Float64),
    throughput_count    SimpleAggregateFunction(sum, UInt64),
    throughput_sum      SimpleAggregateFunction(sum, Float64),
    cost_sum            SimpleAggregateFunction(sum, Decimal(38, 9)),
    users               AggregateFunction(uniq, UUID)
)
ENGINE = {{engine AggregatingMergeTree}}
PARTITION BY toYear(bucket_start)
ORDER BY (bucket_start, model_id, model_name)
{{ttl bucket_start AGGREGATED_DATA_RETENTION_DAYS}};

{{distributed inference_model_1d rand()}};

CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.inference_model_1d_mv {{on_cluster}}
TO {{db}}.{{local inference_model_1d}}
AS SELECT
    toStartOfDay(bucket_start, 'UTC') AS bucket_start,
    model_id AS model_id,
    model_name AS model_name,
    sum(request_count) AS request_count,
    sum(success_count) AS success_count,
    sum(cached_count) AS cached_count,
    sum(queuing_ms_sum) AS queuing_ms_sum,
    min(queuing_ms_min) AS queuing_ms_min,
    max(queuing_ms_max) AS queuing_ms_max,
    sum(input_tokens_sum) AS input_tokens_sum,
    sum(output_tokens_sum) AS output_tokens_sum,
    sum(latency_count) AS latency_count,
    sum(latency_sum) AS latency_sum,
    min(latency_min) AS latency_min,
    max(latency_max) AS latency_max,
    quantileDDMergeState(0.01, 0.5)(latency_q) AS latency_q,
    sum(ttft_count) AS ttft_count,
    sum(ttft_sum) AS ttft_sum,
    min(ttft_min) AS ttft_min,
    max(ttft_max) AS ttft_max,
    quantileDDMergeState(0.01, 0.5)(ttft_q) AS ttft_q,
    sum(throughput_count) AS throughput_count,
    sum(throughput_sum) AS throughput_sum,
    sum(cost_sum) AS cost_sum,
    uniqMergeState(users) AS users
FROM {{db}}.{{local inference_model_1h}}
GROUP BY bucket_start, model_id, model_name
SETTINGS prefer_column_name_to_alias = 1;

-- Backfill (see the header), then the hourly view. Cluster mode writes through the Distributed table
-- and waits for the shards (distributed_foreground_insert), so a re-run sees the rows.
INSERT INTO {{db}}.inference_model_1h
SELECT
    bucket_start AS bucket_start,
    model_id AS model_id,
    model_name AS model_name,
    sum(request_count) AS request_count,
    sum(success_count) AS success_count,
    sum(cached_count) AS cached_count,
    sum(queuing_ms_sum) AS queuing_ms_sum,
    min(queuing_ms_min) AS queuing_ms_min,
    max(queuing_ms_max) AS queuing_ms_max,
    sum(input_tokens_sum) AS input_tokens_sum,
    sum(output_tokens_sum) AS output_tokens_sum,
    sum(latency_count) AS latency_count,
    sum(latency_sum) AS latency_sum,
    min(latency_min) AS latency_min,
    max(latency_max) AS latency_max,
    quantileDDMergeState(0.01, 0.5)(latency_q) AS latency_q,
    sum(ttft_count) AS ttft_count,
    sum(ttft_sum) AS ttft_sum,
    min(ttft_min) AS ttft_min,
    max(ttft_max) AS ttft_max,
    quantileDDMergeState(0.01, 0.5)(ttft_q) AS ttft_q,
    sum(throughput_count) AS throughput_count,
    sum(throughput_sum) AS throughput_sum,
    sum(cost_sum) AS cost_sum,
    uniqMergeState(users) AS users
FROM {{db}}.inference_rollup_1h
WHERE (SELECT count() FROM {{db}}.inference_model_1h) = 0
GROUP BY bucket_start, model_id, model_name
SETTINGS prefer_column_name_to_alias = 1, distributed_foreground_insert = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.inference_model_1h_mv {{on_cluster}}
TO {{db}}.{{local inference_model_1h}}
AS SELECT
    bucket_start AS bucket_start,
    model_id AS model_id,
    model_name AS model_name,
    sum(request_count) AS request_count,
    sum(success_count) AS success_count,
    sum(cached_count) AS cached_count,
    sum(queuing_ms_sum) AS queuing_ms_sum,
    min(queuing_ms_min) AS queuing_ms_min,
    max(queuing_ms_max) AS queuing_ms_max,
    sum(input_tokens_sum) AS input_tokens_sum,
    sum(output_tokens_sum) AS output_tokens_sum,
    sum(latency_count) AS latency_count,
    sum(latency_sum) AS latency_sum,
    min(latency_min) AS latency_min,
    max(latency_max) AS latency_max,
    quantileDDMergeState(0.01, 0.5)(latency_q) AS latency_q,
    sum(ttft_count) AS ttft_count,
    sum(ttft_sum) AS ttft_sum,
    min(ttft_min) AS ttft_min,
    max(ttft_max) AS ttft_max,
    quantileDDMergeState(0.01, 0.5)(ttft_q) AS ttft_q,
    sum(throughput_count) AS throughput_count,
    sum(throughput_sum) AS throughput_sum,
    sum(cost_sum) AS cost_sum,
    uniqMergeState(users) AS users
FROM {{db}}.{{local inference_rollup_1h}}
GROUP BY bucket_start, model_id, model_name
SETTINGS prefer_column_name_to_alias = 1;
