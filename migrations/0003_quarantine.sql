-- Rejected events, kept with the reason so nothing is silently lost. One row per rejected
-- CloudEvent (or per undecodable entry of a delivery). The raw payload is stored as received.
CREATE TABLE IF NOT EXISTS {{db}}.{{local quarantine}} {{on_cluster}}
(
    received_at   DateTime64(3, 'UTC') DEFAULT now64(3),
    event_id      String,
    event_type    LowCardinality(String),
    event_source  LowCardinality(String),
    reason_code   LowCardinality(String),
    reason        String,
    field_path    String,
    raw_payload   String CODEC(ZSTD(3)),
    channel       LowCardinality(String)
)
ENGINE = {{engine MergeTree}}
PARTITION BY toYYYYMM(received_at)
ORDER BY (received_at, event_type)
{{ttl received_at QUARANTINE_RETENTION_DAYS}};

{{distributed quarantine rand()}};
