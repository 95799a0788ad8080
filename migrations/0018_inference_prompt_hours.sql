-- The hours (UTC) in which prompt (agent) traffic arrived: one row per hour, fed by a view on the
-- raw table. The rollups hold both kinds of traffic, so a question that leaves prompt traffic out
-- (the Bud-shape analytics with data_source "inference", the original's default) may use them only
-- when no prompt traffic arrived in its range. Reading the raw table for that answer took ~7 ms of
-- every such request at 10M events (a scan of the range's null map of prompt_id); this table is a
-- few thousand rows. An hour that holds prompt traffic only partly outside the range sends the
-- question to the raw rows (exact, slower); an hour with prompt traffic is never missing.
--
-- Kept one hour longer than the raw rows of its hour (`until`): while any of them is stored, so is
-- its hour. The backfill reads what is stored, before the view exists and only while the table is
-- empty (a re-run copies nothing twice; copies would be harmless: the table says whether, not how
-- many).
CREATE TABLE IF NOT EXISTS {{db}}.{{local inference_prompt_hours}} {{on_cluster}}
(
    hour   DateTime('UTC'),
    until  DateTime('UTC') DEFAULT hour + INTERVAL 1 HOUR
)
ENGINE = {{engine ReplacingMergeTree}}
ORDER BY hour
{{ttl until RAW_DATA_RETENTION_DAYS}};

{{distributed inference_prompt_hours cityHash64(hour)}};

INSERT INTO {{db}}.inference_prompt_hours (hour)
SELECT DISTINCT toStartOfHour(request_arrival_time)
FROM {{db}}.inference_events
WHERE prompt_id IS NOT NULL AND prompt_id != ''
  AND (SELECT count() FROM {{db}}.inference_prompt_hours) = 0
SETTINGS distributed_foreground_insert = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.inference_prompt_hours_mv {{on_cluster}}
TO {{db}}.{{local inference_prompt_hours}}
AS SELECT DISTINCT toStartOfHour(request_arrival_time) AS hour, hour + INTERVAL 1 HOUR AS until
FROM {{db}}.{{local inference_events}}
WHERE prompt_id IS NOT NULL AND prompt_id != '';
