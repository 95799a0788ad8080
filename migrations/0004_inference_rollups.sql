-- Inference rollups at 5-minute, hourly and daily grain (UTC bucket starts), fed by cascaded
-- materialized views: raw inserts feed the 5-minute rollup, its insert blocks feed the hourly one,
-- whose blocks feed the daily one (one aggregation of raw rows per insert instead of three). Every column is a mergeable state, so any set of rows of one grain can be
-- merged into a coarser answer, and raw rows can be turned into the same states (the query planner
-- unions rollup rows with raw rows at unaligned range edges and merges them).
--
-- Which queries each grain serves exactly (the planner's rule, docs/ARCHITECTURE.md):
--   a grain g serves a time bucket exactly when both of its edges are instants that are multiples
--   of g since the Unix epoch. So:
--   * 1d  serves day/week/month/quarter/year buckets in UTC (and in zones whose offset is 0 for the
--         whole range) whose edges fall on UTC midnight;
--   * 1h  serves hourly buckets in any zone with a whole-hour offset, and day-or-longer buckets in
--         such zones (DST shifts keep local midnight on a whole UTC hour: America/New_York, Europe/Berlin);
--   * 5m  serves any bucket whose edges fall on 5-minute marks: zones with :30 and :45 offsets
--         (Asia/Kolkata, Asia/Kathmandu), custom intervals aligned to a from_date on a 5-minute mark;
--   * the raw table serves the rest: edges between 5-minute marks (to_date = now), concurrency
--     (peak requests in flight needs each request's interval), percentiles that must be exact,
--     filters or groups on columns the rollups do not keep (api_key, user, endpoint_type, ...).
--
-- Errors of the states: counts, integer sums (tokens, queueing ms), cost (Decimal) and min/max are
-- exact; float sums (latency, ttft, throughput) are exact up to float rounding order; the
-- percentiles are DDSketch (quantileDD, relative accuracy 0.01): the value returned lies within 1%
-- of a true order statistic at the requested rank; users are uniq (HyperLogLog-like, ~1.6% error).
--
-- Sorting: the leading day (month for 1d) lets a dashboard's time window skip whole days of every
-- project; project, model and endpoint follow for filtered questions. The key is the full set of
-- dimensions, so rows merge exactly as before.
--
-- api_key_project_id is stored with the zero UUID for "absent" (sorting keys cannot be Nullable).

CREATE TABLE IF NOT EXISTS {{db}}.{{local inference_rollup_5m}} {{on_cluster}}
(
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
ORDER BY (toStartOfDay(bucket_start), project_id, model_id, endpoint_id, bucket_start, api_key_project_id, cluster_id, model_name, project_name, endpoint_name)
{{ttl bucket_start AGGREGATED_DATA_RETENTION_DAYS}};

{{distributed inference_rollup_5m cityHash64(project_id)}};

CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.inference_rollup_5m_mv {{on_cluster}}
TO {{db}}.{{local inference_rollup_5m}}
AS SELECT
    toStartOfFiveMinutes(toDateTime(request_arrival_time, 'UTC')) AS bucket_start,
    project_id,
    model_id,
    endpoint_id,
    ifNull(api_key_project_id, toUUID('00000000-0000-0000-0000-000000000000')) AS api_key_project_id,
    cluster_id,
    model_name,
    project_name,
    endpoint_name,
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
GROUP BY bucket_start, project_id, model_id, endpoint_id, api_key_project_id, cluster_id, model_name, project_name, endpoint_name;

CREATE TABLE IF NOT EXISTS {{db}}.{{local inference_rollup_1h}} {{on_cluster}}
(
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
ORDER BY (toStartOfDay(bucket_start), project_id, model_id, endpoint_id, bucket_start, api_key_project_id, cluster_id, model_name, project_name, endpoint_name)
{{ttl bucket_start AGGREGATED_DATA_RETENTION_DAYS}};

{{distributed inference_rollup_1h cityHash64(project_id)}};

-- Cascaded: fed by the insert blocks of inference_rollup_5m (already grouped), not by the raw rows, so an
-- insert pays for one raw-row aggregation instead of three. Merging states is exact: sums add,
-- min/max compose, DDSketch buckets add, uniq states union.
CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.inference_rollup_1h_mv {{on_cluster}}
TO {{db}}.{{local inference_rollup_1h}}
AS SELECT
    toStartOfHour(bucket_start) AS bucket_start,
    project_id, model_id, endpoint_id, api_key_project_id, cluster_id, model_name, project_name, endpoint_name,
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
FROM {{db}}.{{local inference_rollup_5m}}
GROUP BY bucket_start, project_id, model_id, endpoint_id, api_key_project_id, cluster_id, model_name, project_name, endpoint_name
SETTINGS prefer_column_name_to_alias = 1;

CREATE TABLE IF NOT EXISTS {{db}}.{{local inference_rollup_1d}} {{on_cluster}}
(
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
PARTITION BY toYear(bucket_start)
ORDER BY (toStartOfMonth(bucket_start), project_id, model_id, endpoint_id, bucket_start, api_key_project_id, cluster_id, model_name, project_name, endpoint_name)
{{ttl bucket_start AGGREGATED_DATA_RETENTION_DAYS}};

{{distributed inference_rollup_1d cityHash64(project_id)}};

-- Cascaded: fed by the insert blocks of inference_rollup_1h (already grouped), not by the raw rows, so an
-- insert pays for one raw-row aggregation instead of three. Merging states is exact: sums add,
-- min/max compose, DDSketch buckets add, uniq states union.
CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.inference_rollup_1d_mv {{on_cluster}}
TO {{db}}.{{local inference_rollup_1d}}
AS SELECT
    toStartOfDay(bucket_start, 'UTC') AS bucket_start,
    project_id, model_id, endpoint_id, api_key_project_id, cluster_id, model_name, project_name, endpoint_name,
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
GROUP BY bucket_start, project_id, model_id, endpoint_id, api_key_project_id, cluster_id, model_name, project_name, endpoint_name
SETTINGS prefer_column_name_to_alias = 1;

-- Totals: the same states without dimensions, one row per hour (day), cascaded from the hourly rollup.
-- They serve questions with no filter and no group (a platform-wide dashboard), which would otherwise
-- merge one state per endpoint and hour.
CREATE TABLE IF NOT EXISTS {{db}}.{{local inference_total_1h}} {{on_cluster}}
(
    bucket_start        DateTime('UTC'),
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
ORDER BY bucket_start
{{ttl bucket_start AGGREGATED_DATA_RETENTION_DAYS}};

{{distributed inference_total_1h rand()}};

CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.inference_total_1h_mv {{on_cluster}}
TO {{db}}.{{local inference_total_1h}}
AS SELECT
    bucket_start AS bucket_start,
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
GROUP BY bucket_start
SETTINGS prefer_column_name_to_alias = 1;

-- Daily totals, cascaded from the hourly totals.
CREATE TABLE IF NOT EXISTS {{db}}.{{local inference_total_1d}} {{on_cluster}}
(
    bucket_start        DateTime('UTC'),
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
ORDER BY bucket_start
{{ttl bucket_start AGGREGATED_DATA_RETENTION_DAYS}};

{{distributed inference_total_1d rand()}};

CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.inference_total_1d_mv {{on_cluster}}
TO {{db}}.{{local inference_total_1d}}
AS SELECT
    toStartOfDay(bucket_start, 'UTC') AS bucket_start,
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
FROM {{db}}.{{local inference_total_1h}}
GROUP BY bucket_start
SETTINGS prefer_column_name_to_alias = 1;
