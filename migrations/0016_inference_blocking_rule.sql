-- The blocking rule's name and type and the blocking event's own reason, from the gateway's
-- `gateway_blocking_events.*` span attributes (apps/collector/src/otlp/map.ts). Declared in
-- packages/schema/src/inference.ts. budapp keys its per-rule block counts by the rule's NAME
-- (blocked_by_rule of GET /observability/gateway/blocking-stats), and the original service's
-- per-reason counts read the event's reason first; 0013 kept only the rule id.
--
-- Adding columns rewrites no data part: old parts read NULL.
ALTER TABLE {{db}}.{{local inference_events}} {{on_cluster}}
    ADD COLUMN IF NOT EXISTS rule_name              LowCardinality(Nullable(String)),
    ADD COLUMN IF NOT EXISTS rule_type              LowCardinality(Nullable(String)),
    ADD COLUMN IF NOT EXISTS block_reason_detail    Nullable(String);

-- Cluster mode: the Distributed table does not follow its local table's changes (see 0013).
{{cluster_only}}
ALTER TABLE {{db}}.inference_events {{on_cluster}}
    ADD COLUMN IF NOT EXISTS rule_name              LowCardinality(Nullable(String)),
    ADD COLUMN IF NOT EXISTS rule_type              LowCardinality(Nullable(String)),
    ADD COLUMN IF NOT EXISTS block_reason_detail    Nullable(String);
