-- The view of 0008 again, now writing into the rollup of 0014 (256 rows per granule), which holds
-- every state the old table held. Rendered from packages/schema/src/rollups.ts
-- (pnpm migration:rollup) and frozen here. Then what 0014 left: the old table, and in cluster mode
-- the Distributed table of the temporary name (its shard-local table was renamed to
-- inference_rollup_local, which the Distributed inference_rollup reads).

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

DROP TABLE IF EXISTS {{db}}.{{local inference_rollup_old}} {{on_cluster}};
DROP TABLE IF EXISTS {{db}}.inference_rollup_next {{on_cluster}};
