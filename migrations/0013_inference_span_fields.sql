-- The fields the gateway's OpenTelemetry spans carry and the CloudEvent does not, for the records the
-- collector makes from spans (POST /v1/traces, apps/collector/src/otlp, docs/OTLP.md). Declared in
-- packages/schema/src/inference.ts, so a CloudEvent may carry them too. Only what the product serves:
--   record_kind              inference | blocked | response (the original's three views over spans);
--                            existing rows are inferences
--   trace_id                 the request's trace
--   input_messages, output,  the inference detail (compressed: messages are most of a row's bytes)
--   system_prompt
--   country_code, region,    client geography and agent (the geography and gateway endpoints); the
--   city, user_agent,        client's address is the existing request_ip
--   device_type,
--   browser_name, os_name
--   method, path,            the HTTP request at the gateway (top routes, gateway latency)
--   gateway_processing_ms,
--   total_duration_ms
--   is_blocked,              blocking (a blocked request is a record of kind "blocked": counted as a
--   block_reason, rule_id    request, never as a success, as in the original's analytics)
--   response_id              /v1/responses
--
-- Adding columns rewrites no data part: old parts read the defaults. The rollup's view and the id
-- table's view name the columns they read, so they are unaffected.
ALTER TABLE {{db}}.{{local inference_events}} {{on_cluster}}
    ADD COLUMN IF NOT EXISTS record_kind            LowCardinality(String) DEFAULT 'inference',
    ADD COLUMN IF NOT EXISTS trace_id               Nullable(String),
    ADD COLUMN IF NOT EXISTS input_messages         Nullable(String) CODEC(ZSTD(3)),
    ADD COLUMN IF NOT EXISTS output                 Nullable(String) CODEC(ZSTD(3)),
    ADD COLUMN IF NOT EXISTS system_prompt          Nullable(String) CODEC(ZSTD(3)),
    ADD COLUMN IF NOT EXISTS country_code           LowCardinality(Nullable(String)),
    ADD COLUMN IF NOT EXISTS region                 LowCardinality(Nullable(String)),
    ADD COLUMN IF NOT EXISTS city                   LowCardinality(Nullable(String)),
    ADD COLUMN IF NOT EXISTS user_agent             Nullable(String) CODEC(ZSTD(3)),
    ADD COLUMN IF NOT EXISTS device_type            LowCardinality(Nullable(String)),
    ADD COLUMN IF NOT EXISTS browser_name           LowCardinality(Nullable(String)),
    ADD COLUMN IF NOT EXISTS os_name                LowCardinality(Nullable(String)),
    ADD COLUMN IF NOT EXISTS method                 LowCardinality(Nullable(String)),
    ADD COLUMN IF NOT EXISTS path                   LowCardinality(Nullable(String)),
    ADD COLUMN IF NOT EXISTS gateway_processing_ms  Nullable(UInt32),
    ADD COLUMN IF NOT EXISTS total_duration_ms      Nullable(UInt32),
    ADD COLUMN IF NOT EXISTS is_blocked             Bool DEFAULT false,
    ADD COLUMN IF NOT EXISTS block_reason           LowCardinality(Nullable(String)),
    ADD COLUMN IF NOT EXISTS rule_id                Nullable(UUID),
    ADD COLUMN IF NOT EXISTS response_id            Nullable(String);

-- Cluster mode: the Distributed table was created AS the local table (0001) and does not follow its
-- changes, so it gets the same columns (no codecs: it stores no columns). Nothing in single-node
-- mode, where there is no Distributed table.
{{cluster_only}}
ALTER TABLE {{db}}.inference_events {{on_cluster}}
    ADD COLUMN IF NOT EXISTS record_kind            LowCardinality(String) DEFAULT 'inference',
    ADD COLUMN IF NOT EXISTS trace_id               Nullable(String),
    ADD COLUMN IF NOT EXISTS input_messages         Nullable(String),
    ADD COLUMN IF NOT EXISTS output                 Nullable(String),
    ADD COLUMN IF NOT EXISTS system_prompt          Nullable(String),
    ADD COLUMN IF NOT EXISTS country_code           LowCardinality(Nullable(String)),
    ADD COLUMN IF NOT EXISTS region                 LowCardinality(Nullable(String)),
    ADD COLUMN IF NOT EXISTS city                   LowCardinality(Nullable(String)),
    ADD COLUMN IF NOT EXISTS user_agent             Nullable(String),
    ADD COLUMN IF NOT EXISTS device_type            LowCardinality(Nullable(String)),
    ADD COLUMN IF NOT EXISTS browser_name           LowCardinality(Nullable(String)),
    ADD COLUMN IF NOT EXISTS os_name                LowCardinality(Nullable(String)),
    ADD COLUMN IF NOT EXISTS method                 LowCardinality(Nullable(String)),
    ADD COLUMN IF NOT EXISTS path                   LowCardinality(Nullable(String)),
    ADD COLUMN IF NOT EXISTS gateway_processing_ms  Nullable(UInt32),
    ADD COLUMN IF NOT EXISTS total_duration_ms      Nullable(UInt32),
    ADD COLUMN IF NOT EXISTS is_blocked             Bool DEFAULT false,
    ADD COLUMN IF NOT EXISTS block_reason           LowCardinality(Nullable(String)),
    ADD COLUMN IF NOT EXISTS rule_id                Nullable(UUID),
    ADD COLUMN IF NOT EXISTS response_id            Nullable(String);
