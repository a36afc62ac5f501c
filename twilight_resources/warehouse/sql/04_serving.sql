-- Derived tables the read API answers from. Written only by the warehouse writer, in the
-- transaction that writes their source tables, so a snapshot never shows them apart.

-- Every version of every financial statement row, row-shaped: one stock's report is a few
-- narrow rows instead of 90-170 columns per table (DuckDB scans each column of a wide row on
-- its own: ~4 ms a table). Kept in primary-key order, so one stock is one block.
CREATE TABLE IF NOT EXISTS serve_statement_rows (
    ts_code     VARCHAR NOT NULL, -- Tushare security code
    end_date    DATE    NOT NULL, -- report period end date
    statement   VARCHAR NOT NULL, -- income, balancesheet, cashflow or fina_indicator
    report_type VARCHAR NOT NULL, -- the statement's report type; '' for fina_indicator
    known_on    DATE    NOT NULL, -- when this version was announced: f_ann_date (ann_date for
                                  -- fina_indicator)
    vals        VARCHAR NOT NULL, -- JSON array of the answer's values, in the order of
                                  -- serve_statement_layout.columns (dates as YYYYMMDD)
    PRIMARY KEY (ts_code, end_date, statement, report_type, known_on)
);

-- The columns each statement's vals were built with: the writer rebuilds the rows whenever
-- these differ from the DDL's (a new warehouse, an upgrade, a column added).
CREATE TABLE IF NOT EXISTS serve_statement_layout (
    statement VARCHAR   PRIMARY KEY,
    columns   VARCHAR[] NOT NULL
);
