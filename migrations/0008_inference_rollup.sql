-- One inference rollup for every tier, fed by one view (replaces the seven tables and six views of
-- 0004 and 0006). A row is one (grain, level, bucket, keys) with the same mergeable states as before:
-- grain 5m / 1h / 1d is the bucket width since the Unix epoch (UTC); level dims keeps every key, model
-- the model only, total none. The planner's rules are unchanged (docs/ARCHITECTURE.md): a grain serves
-- a bucket exactly when both edges are multiples of it, and a question reads the narrowest level that
-- holds its filters and groups.
--
-- Why: every insert makes one part in each table a view writes. Seven rollup tables made a 100-row
-- insert cost ~190 ms of which ~150 ms were the views' parts; one table makes it ~80 ms (same engine,
-- interleaved runs, docs/COLLECTOR.md). The collector behind a Dapr sidecar pays that cost once per
-- delivery, so it is the latency of every acknowledgement.
--
-- Rendered from packages/schema/src/rollups.ts (pnpm migration:rollup) and frozen here; a later change
-- of the declaration is a new migration.
--
-- Backfill: the states already stored are copied into the new table (states copy exactly: the engine
-- merges them as before), in one statement that runs only while the new table is empty and before its
-- view exists, so a re-run never copies twice. Exact when nothing ingests meanwhile: the migration
-- runs at start-up before the apps take traffic, and the Helm hook pauses the collector
-- (docs/DEPLOYMENT.md). Then the old views stop; 0009 drops the old tables (a re-run of this file
-- after a failure still finds them).

CREATE TABLE IF NOT EXISTS {{db}}.{{local inference_rollup}} {{on_cluster}}
(
    grain               Enum8('5m' = 1, '1h' = 2, '1d' = 3),
    level               Enum8('dims' = 1, 'model' = 2, 'total' = 3),
    bucket_start        DateTime('UTC'),
    project_id          UUID,
    model_id            UUID,
    endpoint_id         UUID,
    api_key_project_id  UUID,
    cluster_id          LowCardinality(String),
    model_name          LowCardinality(String),
    project_name        LowCardinality(String),
    endpoint_name       LowCardinality(String),
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
PARTITION BY toYYYYMM(bucket_start)
ORDER BY (grain, level, toStartOfDay(bucket_start), project_id, model_id, endpoint_id, bucket_start, api_key_project_id, cluster_id, model_name, project_name, endpoint_name)
{{ttl bucket_start AGGREGATED_DATA_RETENTION_DAYS}};

{{distributed inference_rollup cityHash64(project_id)}};

INSERT INTO {{db}}.inference_rollup
    (grain, level, bucket_start, project_id, model_id, endpoint_id, api_key_project_id, cluster_id, model_name, project_name, endpoint_name,
     request_count, success_count, cached_count, queuing_ms_sum, queuing_ms_min, queuing_ms_max, input_tokens_sum, output_tokens_sum, latency_count, latency_sum, latency_min, latency_max, latency_q, ttft_count, ttft_sum, ttft_min, ttft_max, ttft_q, throughput_count, throughput_sum, cost_sum, users)
SELECT '5m', 'dims', bucket_start,
    project_id, model_id, endpoint_id, api_key_project_id, cluster_id, model_name, project_name, endpoint_name,
    request_count, success_count, cached_count, queuing_ms_sum, queuing_ms_min, queuing_ms_max, input_tokens_sum, output_tokens_sum, latency_count, latency_sum, latency_min, latency_max, latency_q, ttft_count, ttft_sum, ttft_min, ttft_max, ttft_q, throughput_count, throughput_sum, cost_sum, users
FROM {{db}}.inference_rollup_5m
WHERE (SELECT count() FROM {{db}}.inference_rollup) = 0
UNION ALL
SELECT '1h', 'dims', bucket_start,
    project_id, model_id, endpoint_id, api_key_project_id, cluster_id, model_name, project_name, endpoint_name,
    request_count, success_count, cached_count, queuing_ms_sum, queuing_ms_min, queuing_ms_max, input_tokens_sum, output_tokens_sum, latency_count, latency_sum, latency_min, latency_max, latency_q, ttft_count, ttft_sum, ttft_min, ttft_max, ttft_q, throughput_count, throughput_sum, cost_sum, users
FROM {{db}}.inference_rollup_1h
WHERE (SELECT count() FROM {{db}}.inference_rollup) = 0
UNION ALL
SELECT '1d', 'dims', bucket_start,
    project_id, model_id, endpoint_id, api_key_project_id, cluster_id, model_name, project_name, endpoint_name,
    request_count, success_count, cached_count, queuing_ms_sum, queuing_ms_min, queuing_ms_max, input_tokens_sum, output_tokens_sum, latency_count, latency_sum, latency_min, latency_max, latency_q, ttft_count, ttft_sum, ttft_min, ttft_max, ttft_q, throughput_count, throughput_sum, cost_sum, users
FROM {{db}}.inference_rollup_1d
WHERE (SELECT count() FROM {{db}}.inference_rollup) = 0
UNION ALL
SELECT '1h', 'model', bucket_start,
    toUUID('00000000-0000-0000-0000-000000000000'), model_id, toUUID('00000000-0000-0000-0000-000000000000'), toUUID('00000000-0000-0000-0000-000000000000'), '', model_name, '', '',
    request_count, success_count, cached_count, queuing_ms_sum, queuing_ms_min, queuing_ms_max, input_tokens_sum, output_tokens_sum, latency_count, latency_sum, latency_min, latency_max, latency_q, ttft_count, ttft_sum, ttft_min, ttft_max, ttft_q, throughput_count, throughput_sum, cost_sum, users
FROM {{db}}.inference_model_1h
WHERE (SELECT count() FROM {{db}}.inference_rollup) = 0
UNION ALL
SELECT '1d', 'model', bucket_start,
    toUUID('00000000-0000-0000-0000-000000000000'), model_id, toUUID('00000000-0000-0000-0000-000000000000'), toUUID('00000000-0000-0000-0000-000000000000'), '', model_name, '', '',
    request_count, success_count, cached_count, queuing_ms_sum, queuing_ms_min, queuing_ms_max, input_tokens_sum, output_tokens_sum, latency_count, latency_sum, latency_min, latency_max, latency_q, ttft_count, ttft_sum, ttft_min, ttft_max, ttft_q, throughput_count, throughput_sum, cost_sum, users
FROM {{db}}.inference_model_1d
WHERE (SELECT count() FROM {{db}}.inference_rollup) = 0
UNION ALL
SELECT '1h', 'total', bucket_start,
    toUUID('00000000-0000-0000-0000-000000000000'), toUUID('00000000-0000-0000-0000-000000000000'), toUUID('00000000-0000-0000-0000-000000000000'), toUUID('00000000-0000-0000-0000-000000000000'), '', '', '', '',
    request_count, success_count, cached_count, queuing_ms_sum, queuing_ms_min, queuing_ms_max, input_tokens_sum, output_tokens_sum, latency_count, latency_sum, latency_min, latency_max, latency_q, ttft_count, ttft_sum, ttft_min, ttft_max, ttft_q, throughput_count, throughput_sum, cost_sum, users
FROM {{db}}.inference_total_1h
WHERE (SELECT count() FROM {{db}}.inference_rollup) = 0
UNION ALL
SELECT '1d', 'total', bucket_start,
    toUUID('00000000-0000-0000-0000-000000000000'), toUUID('00000000-0000-0000-0000-000000000000'), toUUID('00000000-0000-0000-0000-000000000000'), toUUID('00000000-0000-0000-0000-000000000000'), '', '', '', '',
    request_count, success_count, cached_count, queuing_ms_sum, queuing_ms_min, queuing_ms_max, input_tokens_sum, output_tokens_sum, latency_count, latency_sum, latency_min, latency_max, latency_q, ttft_count, ttft_sum, ttft_min, ttft_max, ttft_q, throughput_count, throughput_sum, cost_sum, users
FROM {{db}}.inference_total_1d
WHERE (SELECT count() FROM {{db}}.inference_rollup) = 0
SETTINGS distributed_foreground_insert = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.inference_rollup_mv {{on_cluster}}
TO {{db}}.{{local inference_rollup}}
AS SELECT
    tier.grain AS grain,
    tier.level AS level,
    toDateTime(intDiv(toUnixTimestamp(toDateTime(request_arrival_time, 'UTC')), tier.seconds) * tier.seconds, 'UTC') AS bucket_start,
    if(tier.level IN ('dims'), project_id, toUUID('00000000-0000-0000-0000-000000000000')) AS project_id,
    if(tier.level IN ('dims', 'model'), model_id, toUUID('00000000-0000-0000-0000-000000000000')) AS model_id,
    if(tier.level IN ('dims'), endpoint_id, toUUID('00000000-0000-0000-0000-000000000000')) AS endpoint_id,
    if(tier.level IN ('dims'), ifNull(api_key_project_id, toUUID('00000000-0000-0000-0000-000000000000')), toUUID('00000000-0000-0000-0000-000000000000')) AS api_key_project_id,
    if(tier.level IN ('dims'), cluster_id, '') AS cluster_id,
    if(tier.level IN ('dims', 'model'), model_name, '') AS model_name,
    if(tier.level IN ('dims'), project_name, '') AS project_name,
    if(tier.level IN ('dims'), endpoint_name, '') AS endpoint_name,
    toUInt64(count()) AS request_count,
    toUInt64(countIf(is_success)) AS success_count,
    toUInt64(countIf(cached)) AS cached_count,
    sum(toInt64(toUnixTimestamp64Milli(request_forward_time) - toUnixTimestamp64Milli(request_arrival_time))) AS queuing_ms_sum,
    min(toInt64(toUnixTimestamp64Milli(request_forward_time) - toUnixTimestamp64Milli(request_arrival_time))) AS queuing_ms_min,
    max(toInt64(toUnixTimestamp64Milli(request_forward_time) - toUnixTimestamp64Milli(request_arrival_time))) AS queuing_ms_max,
    toUInt64(sum(input_tokens)) AS input_tokens_sum,
    toUInt64(sum(output_tokens)) AS output_tokens_sum,
    toUInt64(count(response_time_ms)) AS latency_count,
    toFloat64(ifNull(sum(response_time_ms), 0)) AS latency_sum,
    min(response_time_ms) AS latency_min,
    max(response_time_ms) AS latency_max,
    quantileDDStateIf(0.01, 0.5)(assumeNotNull(response_time_ms), response_time_ms IS NOT NULL) AS latency_q,
    toUInt64(count(ttft_ms)) AS ttft_count,
    toFloat64(ifNull(sum(ttft_ms), 0)) AS ttft_sum,
    min(ttft_ms) AS ttft_min,
    max(ttft_ms) AS ttft_max,
    quantileDDStateIf(0.01, 0.5)(assumeNotNull(ttft_ms), ttft_ms IS NOT NULL) AS ttft_q,
    toUInt64(countIf(response_time_ms > 0)) AS throughput_count,
    sumIf(output_tokens * 1000 / assumeNotNull(response_time_ms), response_time_ms > 0) AS throughput_sum,
    toDecimal128(sum(ifNull(cost, toDecimal64(0, 9))), 9) AS cost_sum,
    uniqStateIf(assumeNotNull(user_id), user_id IS NOT NULL) AS users
FROM {{db}}.{{local inference_events}}
ARRAY JOIN [('5m', 'dims', 300), ('1h', 'dims', 3600), ('1d', 'dims', 86400), ('1h', 'model', 3600), ('1d', 'model', 86400), ('1h', 'total', 3600), ('1d', 'total', 86400)]::Array(Tuple(grain Enum8('5m' = 1, '1h' = 2, '1d' = 3), level Enum8('dims' = 1, 'model' = 2, 'total' = 3), seconds UInt32)) AS tier
GROUP BY grain, level, bucket_start, project_id, model_id, endpoint_id, api_key_project_id, cluster_id, model_name, project_name, endpoint_name;

DROP VIEW IF EXISTS {{db}}.inference_rollup_5m_mv {{on_cluster}};
DROP VIEW IF EXISTS {{db}}.inference_rollup_1h_mv {{on_cluster}};
DROP VIEW IF EXISTS {{db}}.inference_rollup_1d_mv {{on_cluster}};
DROP VIEW IF EXISTS {{db}}.inference_total_1h_mv {{on_cluster}};
DROP VIEW IF EXISTS {{db}}.inference_total_1d_mv {{on_cluster}};
DROP VIEW IF EXISTS {{db}}.inference_model_1h_mv {{on_cluster}};
DROP VIEW IF EXISTS {{db}}.inference_model_1d_mv {{on_cluster}};
