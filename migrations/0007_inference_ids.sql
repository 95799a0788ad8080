-- The identity of an inference is its inference_id alone. The collector checks ids it does not
-- remember (after a restart, or once its claims have expired) against this table before it writes,
-- so an inference sent again with another request_arrival_time (a publisher that re-stamps on retry,
-- an example re-run after a restart) is a duplicate, not a second inference.
--
-- Why a table of its own: the raw table is sorted by project, model, endpoint and time, so looking
-- an id up there without its time reads the whole table. Here the sorting key is the id's 16 bytes in
-- big-endian order (UUIDToNum): the gateway's inference ids are UUIDv7, which begin with their
-- millisecond timestamp, so a batch of recent ids falls into the last few index granules and the
-- look-up costs the same at 10M rows as at 10k (ClickHouse's own UUID order compares the second
-- half first, which would scatter them). Random (v4) ids still work; they touch one granule each.
--
-- Fed by a materialized view from the raw table, so an id is here exactly when its row is. Kept as
-- long as raw rows (RAW_DATA_RETENTION_DAYS). The backfill copies the ids already stored, before the
-- view exists and only while the table is empty (a re-run never copies twice; copies would be
-- harmless anyway: the look-up asks whether an id exists).
CREATE TABLE IF NOT EXISTS {{db}}.{{local inference_ids}} {{on_cluster}}
(
    inference_id          UUID,
    request_arrival_time  DateTime64(3, 'UTC')
)
ENGINE = {{engine ReplacingMergeTree}}
ORDER BY UUIDToNum(inference_id)
{{ttl request_arrival_time RAW_DATA_RETENTION_DAYS}}
SETTINGS index_granularity = 1024;

{{distributed inference_ids cityHash64(inference_id)}};

INSERT INTO {{db}}.inference_ids
SELECT inference_id, request_arrival_time
FROM {{db}}.inference_events
WHERE (SELECT count() FROM {{db}}.inference_ids) = 0
SETTINGS distributed_foreground_insert = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.inference_ids_mv {{on_cluster}}
TO {{db}}.{{local inference_ids}}
AS SELECT inference_id, request_arrival_time
FROM {{db}}.{{local inference_events}};
