-- Crash-safe writes. One insert writes a part in the raw table and one in each table a view feeds
-- (the id table, the rollups); the engine commits them one after the other, so a process killed in
-- between leaves the raw rows stored and the rollup without them — and the collector's identity check
-- then answers "duplicate" to the redelivery, so the rollup would never count them.
--
-- The collector therefore writes every batch with an insert deduplication token, keeps the batch in a
-- write-ahead log until it is committed, and after a restart inserts each logged batch again with the
-- same token (docs/COLLECTOR.md, "Crash safety"). With deduplication on these tables and
-- deduplicate_blocks_in_dependent_materialized_views on the insert, a table that already has the
-- block skips it and a table that missed it takes it: every table ends with the block exactly once.
-- The window is how many recent blocks each table remembers; a replay comes right after a restart.
-- (Replicated tables in cluster mode deduplicate by replicated_deduplication_window, 1000 by default.)
ALTER TABLE {{db}}.{{local inference_events}} {{on_cluster}} MODIFY SETTING non_replicated_deduplication_window = 1000;
ALTER TABLE {{db}}.{{local inference_ids}} {{on_cluster}} MODIFY SETTING non_replicated_deduplication_window = 1000;
ALTER TABLE {{db}}.{{local inference_rollup}} {{on_cluster}} MODIFY SETTING non_replicated_deduplication_window = 1000;
ALTER TABLE {{db}}.{{local metric_samples}} {{on_cluster}} MODIFY SETTING non_replicated_deduplication_window = 1000;
ALTER TABLE {{db}}.{{local metric_samples_rollup_5m}} {{on_cluster}} MODIFY SETTING non_replicated_deduplication_window = 1000;
ALTER TABLE {{db}}.{{local metric_samples_rollup_1h}} {{on_cluster}} MODIFY SETTING non_replicated_deduplication_window = 1000;
ALTER TABLE {{db}}.{{local metric_samples_rollup_1d}} {{on_cluster}} MODIFY SETTING non_replicated_deduplication_window = 1000;
