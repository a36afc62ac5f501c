-- Derived read-only views. Views hold no data: they are re-created on every schema apply.

-- Latest ledger row per (table, partition): what the warehouse currently holds for a partition.
CREATE OR REPLACE VIEW meta_partition_latest AS
SELECT *
FROM meta_partition_ledger
QUALIFY row_number() OVER (PARTITION BY table_name, partition_key ORDER BY write_id DESC) = 1;

-- Back-adjusted (hfq) daily bars, Tushare's definition: price * adj_factor, to 4 decimals (the
-- products carry float noise such as 0.12000000000000001; tushare's pro_bar prints 2 decimals,
-- which drops real digits of low adjusted prices). Volume and amount are not adjusted; pct_chg
-- is unchanged by adjustment. Days without an adj_factor row have NULL adjusted prices rather
-- than silently unadjusted ones.
CREATE OR REPLACE VIEW daily_hfq AS
SELECT
    d.ts_code,
    d.trade_date,
    round(d.open * a.adj_factor, 4) AS open,
    round(d.high * a.adj_factor, 4) AS high,
    round(d.low * a.adj_factor, 4) AS low,
    round(d.close * a.adj_factor, 4) AS close,
    round(d.pre_close * a.adj_factor, 4) AS pre_close,
    round(d.change * a.adj_factor, 4) AS change,
    d.pct_chg,
    d.vol,
    d.amount,
    a.adj_factor
FROM normalized_daily AS d
LEFT JOIN normalized_adj_factor AS a USING (ts_code, trade_date);

-- Forward-adjusted (qfq) daily bars, Tushare's definition, to 4 decimals:
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
    round(d.open * a.adj_factor / l.latest_factor, 4) AS open,
    round(d.high * a.adj_factor / l.latest_factor, 4) AS high,
    round(d.low * a.adj_factor / l.latest_factor, 4) AS low,
    round(d.close * a.adj_factor / l.latest_factor, 4) AS close,
    round(d.pre_close * a.adj_factor / l.latest_factor, 4) AS pre_close,
    round(d.change * a.adj_factor / l.latest_factor, 4) AS change,
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
