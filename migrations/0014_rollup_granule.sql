-- The inference rollup again, with 256 rows per granule instead of the default 8,192 (and the
-- deduplication window of 0012 declared with it). The engine reads a column by whole granules and
-- decodes every aggregate state in them, kept or not: "hourly over 7 days" reads 168 rows of the
-- `total` level but decoded a granule of 8,192 DDSketch states per sketch column. With 256 rows a
-- granule the statements of the questions that read the `total` and `model` levels took up to 2.8×
-- less engine time, those reading thousands of `dims` rows the same (measured on copies of a
-- 1M-event rollup, docs/QUERY.md "Where the time goes"). The granularity of a table cannot be
-- changed in place, so the states move to a new table (states copy exactly).
--
-- Rendered from packages/schema/src/rollups.ts (pnpm migration:rollup, under the name
-- inference_rollup_next) and frozen here.
--
-- Steps, each one safe to run again after a failure:
--   1. the view stops: from here the old table holds every state it will ever hold;
--   2. the new table, under a temporary name;
--   3. the stored states are copied, in one statement that runs only while the new table is empty,
--      so a re-run never copies twice;
--   4. the names are exchanged in one RENAME (atomic): the query app reads inference_rollup
--      throughout. A RENAME cannot be made conditional: it is the last statement, and should the
--      migration be recorded as failed after it succeeded, the re-run stops at it ("inference_rollup_old
--      already exists") rather than swapping back (docs/DEPLOYMENT.md says how to go on).
-- 0015 creates the view on the new table and drops the old one. The view is dropped before the
-- rename and created after it because a view names its target: on the embedded engine an insert
-- through a view whose target was renamed away fails ("Target table … doesn't exist"), and an engine
-- that follows the target's UUID would go on writing into the old table.
-- In cluster mode the shard-local table keeps the Keeper path of the name it was created under
-- (inference_rollup_next_local): the engine fixes {table} when it creates a replicated table.
--
-- Exact when nothing ingests from step 1 until 0015 creates the view (an insert meanwhile would be in
-- the raw table but in no rollup): the migrations run at start-up before the apps take traffic, and
-- the Helm hook pauses the collector for a run whose pending migrations backfill, which this one does
-- (docs/DEPLOYMENT.md).

DROP VIEW IF EXISTS {{db}}.inference_rollup_mv {{on_cluster}};

CREATE TABLE IF NOT EXISTS {{db}}.{{local inference_rollup_next}} {{on_cluster}}
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
{{ttl bucket_start AGGREGATED_DATA_RETENTION_DAYS}}
SETTINGS index_granularity = 256, non_replicated_deduplication_window = 1000;

{{distributed inference_rollup_next cityHash64(project_id)}};

INSERT INTO {{db}}.inference_rollup_next
    (grain, level, bucket_start, project_id, model_id, endpoint_id, api_key_project_id, cluster_id, model_name, project_name, endpoint_name, request_count, success_count, cached_count, queuing_ms_sum, queuing_ms_min, queuing_ms_max, input_tokens_sum, output_tokens_sum, latency_count, latency_sum, latency_min, latency_max, latency_q, ttft_count, ttft_sum, ttft_min, ttft_max, ttft_q, throughput_count, throughput_sum, cost_sum, users)
SELECT grain, level, bucket_start, project_id, model_id, endpoint_id, api_key_project_id, cluster_id, model_name, project_name, endpoint_name, request_count, success_count, cached_count, queuing_ms_sum, queuing_ms_min, queuing_ms_max, input_tokens_sum, output_tokens_sum, latency_count, latency_sum, latency_min, latency_max, latency_q, ttft_count, ttft_sum, ttft_min, ttft_max, ttft_q, throughput_count, throughput_sum, cost_sum, users
FROM {{db}}.inference_rollup
WHERE (SELECT count() FROM {{db}}.inference_rollup_next) = 0
SETTINGS distributed_foreground_insert = 1;

RENAME TABLE {{db}}.{{local inference_rollup}} TO {{db}}.{{local inference_rollup_old}}, {{db}}.{{local inference_rollup_next}} TO {{db}}.{{local inference_rollup}} {{on_cluster}};
