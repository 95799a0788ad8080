-- The seven rollup tables of 0004 and 0006, replaced by inference_rollup (0008), which copied their
-- states. Nothing reads or writes them any more: 0008 dropped their views, and the query app reads the
-- new table. A separate migration so that a re-run of 0008 after a failure still finds them.
DROP TABLE IF EXISTS {{db}}.inference_rollup_5m {{on_cluster}};
DROP TABLE IF EXISTS {{db}}.{{local inference_rollup_5m}} {{on_cluster}};
DROP TABLE IF EXISTS {{db}}.inference_rollup_1h {{on_cluster}};
DROP TABLE IF EXISTS {{db}}.{{local inference_rollup_1h}} {{on_cluster}};
DROP TABLE IF EXISTS {{db}}.inference_rollup_1d {{on_cluster}};
DROP TABLE IF EXISTS {{db}}.{{local inference_rollup_1d}} {{on_cluster}};
DROP TABLE IF EXISTS {{db}}.inference_model_1h {{on_cluster}};
DROP TABLE IF EXISTS {{db}}.{{local inference_model_1h}} {{on_cluster}};
DROP TABLE IF EXISTS {{db}}.inference_model_1d {{on_cluster}};
DROP TABLE IF EXISTS {{db}}.{{local inference_model_1d}} {{on_cluster}};
DROP TABLE IF EXISTS {{db}}.inference_total_1h {{on_cluster}};
DROP TABLE IF EXISTS {{db}}.{{local inference_total_1h}} {{on_cluster}};
DROP TABLE IF EXISTS {{db}}.inference_total_1d {{on_cluster}};
DROP TABLE IF EXISTS {{db}}.{{local inference_total_1d}} {{on_cluster}};
