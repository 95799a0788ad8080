-- Generic metric samples (GPU utilisation, queue depth, anything with a name and a value).
-- Identity is the CloudEvent (source, id): the write path checks it before inserting, exactly as
-- for inference_id (see 0001), and ReplacingMergeTree collapses copies for raw reads with FINAL.
CREATE TABLE IF NOT EXISTS {{db}}.{{local metric_samples}} {{on_cluster}}
(
    metric_type   LowCardinality(String),
    value         Float64,
    sample_time   DateTime64(3, 'UTC'),
    model         LowCardinality(String) DEFAULT '',
    project       LowCardinality(String) DEFAULT '',
    endpoint      LowCardinality(String) DEFAULT '',
    cluster       LowCardinality(String) DEFAULT '',
    labels        Map(LowCardinality(String), String),
    event_type    LowCardinality(String),
    event_source  LowCardinality(String),
    event_id      String,
    received_at   DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX idx_event_id event_id TYPE bloom_filter(0.001) GRANULARITY 1
)
ENGINE = {{engine ReplacingMergeTree(received_at)}}
PARTITION BY toYYYYMM(sample_time)
ORDER BY (metric_type, model, project, endpoint, cluster, sample_time, event_source, event_id)
{{ttl sample_time METRICS_RETENTION_DAYS}}
SETTINGS index_granularity = 8192;

{{distributed metric_samples cityHash64(event_source, event_id)}};
