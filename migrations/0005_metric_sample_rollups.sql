-- Metric-sample rollups at 5-minute, hourly and daily grain, fed by materialized views on
-- metric_samples. Same grain rule as the inference rollups (0004): a grain serves a bucket exactly
-- when both edges are multiples of the grain since the epoch. count, sum, min and max are exact
-- (the sum up to float rounding order); percentiles are DDSketch with relative accuracy 0.01.

CREATE TABLE IF NOT EXISTS {{db}}.{{local metric_samples_rollup_5m}} {{on_cluster}}
(
    bucket_start   DateTime('UTC'),
    metric_type    LowCardinality(String),
    model          LowCardinality(String),
    project        LowCardinality(String),
    endpoint       LowCardinality(String),
    cluster        LowCardinality(String),
    sample_count   SimpleAggregateFunction(sum, UInt64),
    value_sum      SimpleAggregateFunction(sum, Float64),
    value_min      SimpleAggregateFunction(min, Float64),
    value_max      SimpleAggregateFunction(max, Float64),
    value_q        AggregateFunction(quantileDD(0.01, 0.5), Float64)
)
ENGINE = {{engine AggregatingMergeTree}}
PARTITION BY toYYYYMM(bucket_start)
ORDER BY (metric_type, model, project, endpoint, cluster, bucket_start)
{{ttl bucket_start AGGREGATED_DATA_RETENTION_DAYS}};

{{distributed metric_samples_rollup_5m cityHash64(metric_type)}};

CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.metric_samples_rollup_5m_mv {{on_cluster}}
TO {{db}}.{{local metric_samples_rollup_5m}}
AS SELECT
    toStartOfFiveMinutes(toDateTime(sample_time, 'UTC')) AS bucket_start,
    metric_type,
    model,
    project,
    endpoint,
    cluster,
    toUInt64(count()) AS sample_count,
    sum(value) AS value_sum,
    min(value) AS value_min,
    max(value) AS value_max,
    quantileDDState(0.01, 0.5)(value) AS value_q
FROM {{db}}.{{local metric_samples}}
GROUP BY bucket_start, metric_type, model, project, endpoint, cluster;

CREATE TABLE IF NOT EXISTS {{db}}.{{local metric_samples_rollup_1h}} {{on_cluster}}
(
    bucket_start   DateTime('UTC'),
    metric_type    LowCardinality(String),
    model          LowCardinality(String),
    project        LowCardinality(String),
    endpoint       LowCardinality(String),
    cluster        LowCardinality(String),
    sample_count   SimpleAggregateFunction(sum, UInt64),
    value_sum      SimpleAggregateFunction(sum, Float64),
    value_min      SimpleAggregateFunction(min, Float64),
    value_max      SimpleAggregateFunction(max, Float64),
    value_q        AggregateFunction(quantileDD(0.01, 0.5), Float64)
)
ENGINE = {{engine AggregatingMergeTree}}
PARTITION BY toYYYYMM(bucket_start)
ORDER BY (metric_type, model, project, endpoint, cluster, bucket_start)
{{ttl bucket_start AGGREGATED_DATA_RETENTION_DAYS}};

{{distributed metric_samples_rollup_1h cityHash64(metric_type)}};

CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.metric_samples_rollup_1h_mv {{on_cluster}}
TO {{db}}.{{local metric_samples_rollup_1h}}
AS SELECT
    toStartOfHour(toDateTime(sample_time, 'UTC')) AS bucket_start,
    metric_type,
    model,
    project,
    endpoint,
    cluster,
    toUInt64(count()) AS sample_count,
    sum(value) AS value_sum,
    min(value) AS value_min,
    max(value) AS value_max,
    quantileDDState(0.01, 0.5)(value) AS value_q
FROM {{db}}.{{local metric_samples}}
GROUP BY bucket_start, metric_type, model, project, endpoint, cluster;

CREATE TABLE IF NOT EXISTS {{db}}.{{local metric_samples_rollup_1d}} {{on_cluster}}
(
    bucket_start   DateTime('UTC'),
    metric_type    LowCardinality(String),
    model          LowCardinality(String),
    project        LowCardinality(String),
    endpoint       LowCardinality(String),
    cluster        LowCardinality(String),
    sample_count   SimpleAggregateFunction(sum, UInt64),
    value_sum      SimpleAggregateFunction(sum, Float64),
    value_min      SimpleAggregateFunction(min, Float64),
    value_max      SimpleAggregateFunction(max, Float64),
    value_q        AggregateFunction(quantileDD(0.01, 0.5), Float64)
)
ENGINE = {{engine AggregatingMergeTree}}
PARTITION BY toYear(bucket_start)
ORDER BY (metric_type, model, project, endpoint, cluster, bucket_start)
{{ttl bucket_start AGGREGATED_DATA_RETENTION_DAYS}};

{{distributed metric_samples_rollup_1d cityHash64(metric_type)}};

CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.metric_samples_rollup_1d_mv {{on_cluster}}
TO {{db}}.{{local metric_samples_rollup_1d}}
AS SELECT
    toStartOfDay(toDateTime(sample_time, 'UTC')) AS bucket_start,
    metric_type,
    model,
    project,
    endpoint,
    cluster,
    toUInt64(count()) AS sample_count,
    sum(value) AS value_sum,
    min(value) AS value_min,
    max(value) AS value_max,
    quantileDDState(0.01, 0.5)(value) AS value_q
FROM {{db}}.{{local metric_samples}}
GROUP BY bucket_start, metric_type, model, project, endpoint, cluster;
