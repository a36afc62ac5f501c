-- Derived read-only views. Views hold no data: they are re-created on every schema apply.

-- Latest ledger row per (table, partition): what the warehouse currently holds for a partition.
CREATE OR REPLACE VIEW meta_partition_latest AS
SELECT *
FROM meta_partition_ledger
QUALIFY row_number() OVER (PARTITION BY table_name, partition_key ORDER BY write_id DESC) = 1;

-- Back-adjusted (hfq) daily bars, Tushare's definition: price * adj_factor.
-- Volume and amount are not adjusted; pct_chg is unchanged by adjustment. Days without an
-- adj_factor row have NULL adjusted prices rather than silently unadjusted ones.
CREATE OR REPLACE VIEW daily_hfq AS
SELECT
    d.ts_code,
    d.trade_date,
    d.open * a.adj_factor      AS open,
    d.high * a.adj_factor      AS high,
    d.low * a.adj_factor       AS low,
    d.close * a.adj_factor     AS close,
    d.pre_close * a.adj_factor AS pre_close,
    d.change * a.adj_factor    AS change,
    d.pct_chg,
    d.vol,
    d.amount,
    a.adj_factor
FROM normalized_daily AS d
LEFT JOIN normalized_adj_factor AS a USING (ts_code, trade_date);

-- Forward-adjusted (qfq) daily bars, Tushare's definition:
-- price * adj_factor / latest adj_factor of that stock (latest = newest trade_date held).
CREATE OR REPLACE VIEW daily_qfq AS
WITH latest AS (
    SELECT ts_code, arg_max(adj_factor, trade_date) AS latest_factor
    FROM normalized_adj_factor
    GROUP BY ts_code
)
SELECT
    d.ts_code,
    d.trade_date,
    d.open * a.adj_factor / l.latest_factor      AS open,
    d.high * a.adj_factor / l.latest_factor      AS high,
    d.low * a.adj_factor / l.latest_factor       AS low,
    d.close * a.adj_factor / l.latest_factor     AS close,
    d.pre_close * a.adj_factor / l.latest_factor AS pre_close,
    d.change * a.adj_factor / l.latest_factor    AS change,
    d.pct_chg,
    d.vol,
    d.amount,
    a.adj_factor
FROM normalized_daily AS d
LEFT JOIN normalized_adj_factor AS a USING (ts_code, trade_date)
LEFT JOIN latest AS l USING (ts_code);

-- Financial statements as currently known: the newest announcement per report. The normalized
-- tables keep every version (point-in-time queries filter on f_ann_date / ann_date <= as-of).
CREATE OR REPLACE VIEW income_latest AS
SELECT *
FROM normalized_income
QUALIFY row_number() OVER (
    PARTITION BY ts_code, end_date, report_type ORDER BY f_ann_date DESC, ann_date DESC NULLS LAST
) = 1;

CREATE OR REPLACE VIEW balancesheet_latest AS
SELECT *
FROM normalized_balancesheet
QUALIFY row_number() OVER (
    PARTITION BY ts_code, end_date, report_type ORDER BY f_ann_date DESC, ann_date DESC NULLS LAST
) = 1;

CREATE OR REPLACE VIEW cashflow_latest AS
SELECT *
FROM normalized_cashflow
QUALIFY row_number() OVER (
    PARTITION BY ts_code, end_date, report_type ORDER BY f_ann_date DESC, ann_date DESC NULLS LAST
) = 1;

CREATE OR REPLACE VIEW fina_indicator_latest AS
SELECT *
FROM normalized_fina_indicator
QUALIFY row_number() OVER (PARTITION BY ts_code, end_date ORDER BY ann_date DESC) = 1;
