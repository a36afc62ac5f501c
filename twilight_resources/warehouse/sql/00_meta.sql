-- The warehouse's own bookkeeping. Written only by the warehouse writer, in the same
-- transaction as the data it describes, so bookkeeping and data can never disagree.
-- Allowed statements in sql/: CREATE TABLE IF NOT EXISTS, CREATE OR REPLACE VIEW and
-- ALTER TABLE ... ADD COLUMN IF NOT EXISTS. Schemas only grow.

-- Partition ledger: one row per (table, partition key, write). History is kept, so the
-- latest row per (table_name, partition_key) says what the warehouse holds for that partition
-- and older rows say what was written before. Partitions that came back empty get a row with
-- rows = 0: "fetched, nothing there" is remembered. Unpartitioned outputs use partition_key ''.
CREATE TABLE IF NOT EXISTS meta_partition_ledger (
    table_name    VARCHAR   NOT NULL,  -- raw_<api> or normalized_<api>
    partition_key VARCHAR   NOT NULL,  -- Dagster partition key ('' when unpartitioned)
    write_id      BIGINT    NOT NULL,  -- one id per committed write (meta_counters 'write_id')
    written_at    TIMESTAMP NOT NULL,  -- commit time (UTC)
    run_id        VARCHAR,             -- Dagster run id, if written from a run
    asset_key     VARCHAR,             -- Dagster asset key, slash-joined
    rows          BIGINT    NOT NULL,  -- rows received for this partition (after de-duplication)
    inserted      BIGINT    NOT NULL,  -- normalized: new keys; raw: rows appended
    updated       BIGINT    NOT NULL,  -- normalized: existing keys whose values changed
    unchanged     BIGINT    NOT NULL,  -- normalized: existing keys with identical values
    rejected      BIGINT    NOT NULL,  -- rows sent to meta_quarantine
    raw_id_min    BIGINT,              -- raw: raw_id range of this partition's rows in this write
    raw_id_max    BIGINT,
    PRIMARY KEY (table_name, partition_key, write_id)
);

-- Rows the normalized layer rejected (failed cast, NULL key column), with the raw row as JSON.
CREATE TABLE IF NOT EXISTS meta_quarantine (
    table_name     VARCHAR   NOT NULL, -- normalized table the row was meant for
    partition_key  VARCHAR,
    raw_id         BIGINT,             -- row of raw_<api> it came from
    reason         VARCHAR   NOT NULL, -- e.g. "close: cannot cast 'abc' to DOUBLE"
    raw_row        JSON,               -- the raw values as received
    quarantined_at TIMESTAMP NOT NULL,
    write_id       BIGINT    NOT NULL,
    run_id         VARCHAR
);

-- Monotonic counters ('raw_id', 'write_id'); blocks are allocated inside the write transaction.
CREATE TABLE IF NOT EXISTS meta_counters (
    name  VARCHAR PRIMARY KEY,
    value BIGINT  NOT NULL
);

-- Parts of the published snapshot that lag the warehouse: each write records here, in its own
-- transaction, the (table, bucket) parts it changed (bucket: the year of the table's date key as
-- text, '*' for the whole table; table '*': every table). The publish that exports them clears
-- them, so after a crash at any point the next publish still knows what the last one lacks.
CREATE TABLE IF NOT EXISTS meta_dirty_parts (
    table_name VARCHAR NOT NULL,
    bucket     VARCHAR NOT NULL,
    PRIMARY KEY (table_name, bucket)
);

-- Cross-source disagreements: the warehouse's normalized_daily against AKShare's bars of the same
-- stock and day, one row per (day, stock, field) found apart, from the `cross_source` asset check
-- after each daily refresh (one transaction under the writer lock, then published). A later
-- check that finds the values agree again keeps the row with severity 'resolved'.
CREATE TABLE IF NOT EXISTS quality_diff (
    trade_date      DATE    NOT NULL,
    ts_code         VARCHAR NOT NULL,
    field           VARCHAR NOT NULL,  -- close, vol (lots) or amount (thousand CNY)
    warehouse_value DOUBLE,            -- normalized_daily (Tushare, or AKShare when it filled)
    akshare_value   DOUBLE,            -- AKShare's bar, converted to Tushare's units
    rel_diff        DOUBLE,            -- |akshare - warehouse| / |warehouse|
    severity        VARCHAR NOT NULL,  -- warning, critical, resolved, missing
    checked_at      TIMESTAMP NOT NULL,
    source          VARCHAR,           -- the compared source ('akshare')
    PRIMARY KEY (trade_date, ts_code, field)
);
