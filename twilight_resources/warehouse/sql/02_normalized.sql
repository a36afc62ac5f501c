-- Normalized layer: typed, de-duplicated, one row per primary key (PRIMARY-KEY upsert).
-- Column names are Tushare's output field names (all fields FIELDS.md lists, shown by default or
-- not). Types: YYYYMMDD dates -> DATE, float -> DOUBLE, int -> INTEGER, other str -> VARCHAR.
-- The PRIMARY KEY order is also the physical sort order the writer maintains (code, date, ...).
-- Lineage: source ('tushare'), ingested_at (UTC, set by the writer), raw_id (row of raw_<api>).
-- Schemas only grow: add columns with ALTER TABLE ... ADD COLUMN IF NOT EXISTS.

-- ===== T1 =====

-- stock_basic: listed securities, one row per stock (snapshot; list_status tells L/D/P)
CREATE TABLE IF NOT EXISTS normalized_stock_basic (
    ts_code        VARCHAR NOT NULL, -- Tushare security code (e.g. 000001.SZ)
    symbol         VARCHAR,          -- exchange ticker (6 digits)
    name           VARCHAR,          -- short name
    area           VARCHAR,          -- region/province
    industry       VARCHAR,          -- industry
    fullname       VARCHAR,          -- full company name
    enname         VARCHAR,          -- English name
    cnspell        VARCHAR,          -- pinyin initials
    market         VARCHAR,          -- board (main/ChiNext/STAR/CDR/BSE)
    exchange       VARCHAR,          -- exchange code
    curr_type      VARCHAR,          -- trading currency
    list_status    VARCHAR,          -- listing status L/D/P
    list_date      DATE,             -- listing date
    delist_date    DATE,             -- delisting date
    is_hs          VARCHAR,          -- Stock Connect flag N/H/S
    act_name       VARCHAR,          -- actual controller name
    act_ent_type   VARCHAR,          -- actual controller entity type
    source         VARCHAR,
    ingested_at    TIMESTAMP,
    raw_id         BIGINT,
    PRIMARY KEY (ts_code)
);

-- trade_cal: exchange trading calendar, one row per exchange and calendar day
CREATE TABLE IF NOT EXISTS normalized_trade_cal (
    exchange       VARCHAR NOT NULL DEFAULT 'SSE', -- exchange code (Tushare default SSE)
    cal_date       DATE NOT NULL,                  -- calendar date
    is_open        VARCHAR,                        -- trading day flag 0/1
    pretrade_date  DATE,                           -- previous trading day
    source         VARCHAR,
    ingested_at    TIMESTAMP,
    raw_id         BIGINT,
    PRIMARY KEY (exchange, cal_date)
);

-- daily: unadjusted daily bars, one row per stock and trading day (no row on suspension days)
CREATE TABLE IF NOT EXISTS normalized_daily (
    ts_code        VARCHAR NOT NULL, -- Tushare security code (e.g. 000001.SZ)
    trade_date     DATE NOT NULL,    -- trade date YYYYMMDD
    open           DOUBLE,           -- open
    high           DOUBLE,           -- high
    low            DOUBLE,           -- low
    close          DOUBLE,           -- close
    pre_close      DOUBLE,           -- previous close (ex-rights adjusted)
    change         DOUBLE,           -- price change
    pct_chg        DOUBLE,           -- pct change (%)
    vol            DOUBLE,           -- volume (lots of 100 shares; index: lots)
    amount         DOUBLE,           -- turnover (thousand CNY)
    source         VARCHAR,
    ingested_at    TIMESTAMP,
    raw_id         BIGINT,
    PRIMARY KEY (ts_code, trade_date)
);

-- adj_factor: cumulative adjustment factor per stock and trading day (feeds the qfq/hfq views)
CREATE TABLE IF NOT EXISTS normalized_adj_factor (
    ts_code        VARCHAR NOT NULL, -- Tushare security code (e.g. 000001.SZ)
    trade_date     DATE NOT NULL,    -- trade date YYYYMMDD
    adj_factor     DOUBLE,           -- adjustment factor
    source         VARCHAR,
    ingested_at    TIMESTAMP,
    raw_id         BIGINT,
    PRIMARY KEY (ts_code, trade_date)
);

-- daily_basic: daily valuation and share-count indicators per stock
CREATE TABLE IF NOT EXISTS normalized_daily_basic (
    ts_code         VARCHAR NOT NULL, -- Tushare security code (e.g. 000001.SZ)
    trade_date      DATE NOT NULL,    -- trade date YYYYMMDD
    close           DOUBLE,           -- close
    turnover_rate   DOUBLE,           -- turnover rate (%)
    turnover_rate_f DOUBLE,           -- turnover rate on free float (%)
    volume_ratio    DOUBLE,           -- volume ratio
    pe              DOUBLE,           -- P/E (total mv / net profit; empty if loss)
    pe_ttm          DOUBLE,           -- P/E TTM
    pb              DOUBLE,           -- P/B
    ps              DOUBLE,           -- P/S
    ps_ttm          DOUBLE,           -- P/S TTM
    dv_ratio        DOUBLE,           -- dividend yield (%)
    dv_ttm          DOUBLE,           -- dividend yield TTM (%)
    total_share     DOUBLE,           -- total shares (10k shares)
    float_share     DOUBLE,           -- float shares (10k shares)
    free_share      DOUBLE,           -- free-float shares (10k shares)
    total_mv        DOUBLE,           -- total market value (10k CNY; index_dailybasic: CNY)
    circ_mv         DOUBLE,           -- circulating market value (10k CNY)
    source          VARCHAR,
    ingested_at     TIMESTAMP,
    raw_id          BIGINT,
    PRIMARY KEY (ts_code, trade_date)
);

-- ===== T2 =====

-- weekly: weekly bars per stock (trade_date = last trading day of the week)
CREATE TABLE IF NOT EXISTS normalized_weekly (
    ts_code        VARCHAR NOT NULL, -- Tushare security code (e.g. 000001.SZ)
    trade_date     DATE NOT NULL,    -- trade date YYYYMMDD
    close          DOUBLE,           -- close
    open           DOUBLE,           -- open
    high           DOUBLE,           -- high
    low            DOUBLE,           -- low
    pre_close      DOUBLE,           -- previous close (ex-rights adjusted)
    change         DOUBLE,           -- price change
    pct_chg        DOUBLE,           -- pct change (%)
    vol            DOUBLE,           -- volume (lots of 100 shares; index: lots)
    amount         DOUBLE,           -- turnover (thousand CNY)
    source         VARCHAR,
    ingested_at    TIMESTAMP,
    raw_id         BIGINT,
    PRIMARY KEY (ts_code, trade_date)
);

-- monthly: monthly bars per stock (trade_date = last trading day of the month)
CREATE TABLE IF NOT EXISTS normalized_monthly (
    ts_code        VARCHAR NOT NULL, -- Tushare security code (e.g. 000001.SZ)
    trade_date     DATE NOT NULL,    -- trade date YYYYMMDD
    close          DOUBLE,           -- close
    open           DOUBLE,           -- open
    high           DOUBLE,           -- high
    low            DOUBLE,           -- low
    pre_close      DOUBLE,           -- previous close (ex-rights adjusted)
    change         DOUBLE,           -- price change
    pct_chg        DOUBLE,           -- pct change (%)
    vol            DOUBLE,           -- volume (lots of 100 shares; index: lots)
    amount         DOUBLE,           -- turnover (thousand CNY)
    source         VARCHAR,
    ingested_at    TIMESTAMP,
    raw_id         BIGINT,
    PRIMARY KEY (ts_code, trade_date)
);

-- index_basic: index catalogue, one row per index
CREATE TABLE IF NOT EXISTS normalized_index_basic (
    ts_code        VARCHAR NOT NULL, -- Tushare security code (e.g. 000001.SZ)
    name           VARCHAR,          -- short name
    fullname       VARCHAR,          -- full company name
    market         VARCHAR,          -- board (main/ChiNext/STAR/CDR/BSE)
    publisher      VARCHAR,          -- publisher
    index_type     VARCHAR,          -- index style
    category       VARCHAR,          -- index category
    base_date      DATE,             -- base date
    base_point     DOUBLE,           -- base point
    list_date      DATE,             -- listing date
    weight_rule    VARCHAR,          -- weighting method
    "desc"         VARCHAR,          -- description
    exp_date       DATE,             -- expiry date
    source         VARCHAR,
    ingested_at    TIMESTAMP,
    raw_id         BIGINT,
    PRIMARY KEY (ts_code)
);

-- index_daily: daily index bars
CREATE TABLE IF NOT EXISTS normalized_index_daily (
    ts_code        VARCHAR NOT NULL, -- Tushare security code (e.g. 000001.SZ)
    trade_date     DATE NOT NULL,    -- trade date YYYYMMDD
    close          DOUBLE,           -- close
    open           DOUBLE,           -- open
    high           DOUBLE,           -- high
    low            DOUBLE,           -- low
    pre_close      DOUBLE,           -- previous close (ex-rights adjusted)
    change         DOUBLE,           -- price change
    pct_chg        DOUBLE,           -- pct change (%)
    vol            DOUBLE,           -- volume (lots of 100 shares; index: lots)
    amount         DOUBLE,           -- turnover (thousand CNY)
    source         VARCHAR,
    ingested_at    TIMESTAMP,
    raw_id         BIGINT,
    PRIMARY KEY (ts_code, trade_date)
);

-- index_dailybasic: daily valuation indicators of the major broad indices
CREATE TABLE IF NOT EXISTS normalized_index_dailybasic (
    ts_code         VARCHAR NOT NULL, -- Tushare security code (e.g. 000001.SZ)
    trade_date      DATE NOT NULL,    -- trade date YYYYMMDD
    total_mv        DOUBLE,           -- total market value (10k CNY; index_dailybasic: CNY)
    float_mv        DOUBLE,           -- float market value (CNY)
    total_share     DOUBLE,           -- total shares (10k shares)
    float_share     DOUBLE,           -- float shares (10k shares)
    free_share      DOUBLE,           -- free-float shares (10k shares)
    turnover_rate   DOUBLE,           -- turnover rate (%)
    turnover_rate_f DOUBLE,           -- turnover rate on free float (%)
    pe              DOUBLE,           -- P/E (total mv / net profit; empty if loss)
    pe_ttm          DOUBLE,           -- P/E TTM
    pb              DOUBLE,           -- P/B
    source          VARCHAR,
    ingested_at     TIMESTAMP,
    raw_id          BIGINT,
    PRIMARY KEY (ts_code, trade_date)
);

-- index_weight: index constituents and weights (monthly snapshots)
CREATE TABLE IF NOT EXISTS normalized_index_weight (
    index_code     VARCHAR NOT NULL, -- index code
    con_code       VARCHAR NOT NULL, -- constituent code
    trade_date     DATE NOT NULL,    -- trade date YYYYMMDD
    weight         DOUBLE,           -- weight (%)
    source         VARCHAR,
    ingested_at    TIMESTAMP,
    raw_id         BIGINT,
    PRIMARY KEY (index_code, trade_date, con_code)
);

-- ===== T3 =====

-- income: income statements; one row per report version (f_ann_date keeps restatements apart)
CREATE TABLE IF NOT EXISTS normalized_income (
    ts_code                   VARCHAR NOT NULL, -- Tushare security code (e.g. 000001.SZ)
    ann_date                  DATE,             -- announcement date
    f_ann_date                DATE NOT NULL,    -- actual (final) announcement date
    end_date                  DATE NOT NULL,    -- report period end date
    report_type               VARCHAR NOT NULL, -- report type code (1..12)
    comp_type                 VARCHAR,          -- company type 1 general/2 bank/3 insurance/4 securities
    end_type                  VARCHAR,          -- report period type
    basic_eps                 DOUBLE,           -- basic EPS
    diluted_eps               DOUBLE,           -- diluted EPS
    total_revenue             DOUBLE,           -- total operating revenue
    revenue                   DOUBLE,           -- operating revenue
    int_income                DOUBLE,           -- interest income
    prem_earned               DOUBLE,           -- premiums earned
    comm_income               DOUBLE,           -- fee & commission income
    n_commis_income           DOUBLE,           -- net fee & commission income
    n_oth_income              DOUBLE,           -- other net operating income
    n_oth_b_income            DOUBLE,           -- plus: other business net income
    prem_income               DOUBLE,           -- insurance premium income
    out_prem                  DOUBLE,           -- less: ceded premiums
    une_prem_reser            DOUBLE,           -- provision for unearned premium
    reins_income              DOUBLE,           -- of which: reinsurance premium income
    n_sec_tb_income           DOUBLE,           -- net brokerage income
    n_sec_uw_income           DOUBLE,           -- net underwriting income
    n_asset_mg_income         DOUBLE,           -- net asset management income
    oth_b_income              DOUBLE,           -- other business income
    fv_value_chg_gain         DOUBLE,           -- plus: fair value change gain
    invest_income             DOUBLE,           -- plus: investment income
    ass_invest_income         DOUBLE,           -- of which: income from associates/JVs
    forex_gain                DOUBLE,           -- plus: FX gain
    total_cogs                DOUBLE,           -- total operating cost
    oper_cost                 DOUBLE,           -- less: operating cost
    int_exp                   DOUBLE,           -- less: interest expense
    comm_exp                  DOUBLE,           -- less: fee & commission expense
    biz_tax_surchg            DOUBLE,           -- less: business taxes & surcharges
    sell_exp                  DOUBLE,           -- less: selling expense
    admin_exp                 DOUBLE,           -- less: admin expense
    fin_exp                   DOUBLE,           -- less: financial expense
    assets_impair_loss        DOUBLE,           -- less: asset impairment loss
    prem_refund               DOUBLE,           -- surrender payments
    compens_payout            DOUBLE,           -- total claims paid
    reser_insur_liab          DOUBLE,           -- provision for insurance liabilities
    div_payt                  DOUBLE,           -- policyholder dividends
    reins_exp                 DOUBLE,           -- reinsurance expense
    oper_exp                  DOUBLE,           -- operating expenditure
    compens_payout_refu       DOUBLE,           -- less: claims recovered from reinsurers
    insur_reser_refu          DOUBLE,           -- less: insurance reserves recovered
    reins_cost_refund         DOUBLE,           -- less: reinsurance cost recovered
    other_bus_cost            DOUBLE,           -- other business cost
    operate_profit            DOUBLE,           -- operating profit
    non_oper_income           DOUBLE,           -- plus: non-operating income
    non_oper_exp              DOUBLE,           -- less: non-operating expense
    nca_disploss              DOUBLE,           -- of which: loss on disposal of non-current assets
    total_profit              DOUBLE,           -- total profit (pre-tax)
    income_tax                DOUBLE,           -- income tax
    n_income                  DOUBLE,           -- net profit incl. minority
    n_income_attr_p           DOUBLE,           -- net profit attributable to parent
    minority_gain             DOUBLE,           -- minority interest P&L
    oth_compr_income          DOUBLE,           -- other comprehensive income
    t_compr_income            DOUBLE,           -- total comprehensive income
    compr_inc_attr_p          DOUBLE,           -- comprehensive income attr. to parent
    compr_inc_attr_m_s        DOUBLE,           -- comprehensive income attr. to minority
    ebit                      DOUBLE,           -- EBIT
    ebitda                    DOUBLE,           -- EBITDA
    insurance_exp             DOUBLE,           -- insurance business expense
    undist_profit             DOUBLE,           -- undistributed profit at year start
    distable_profit           DOUBLE,           -- distributable profit
    rd_exp                    DOUBLE,           -- R&D expense
    fin_exp_int_exp           DOUBLE,           -- fin. expense: interest expense
    fin_exp_int_inc           DOUBLE,           -- fin. expense: interest income
    transfer_surplus_rese     DOUBLE,           -- transfer from surplus reserve
    transfer_housing_imprest  DOUBLE,           -- transfer from housing revolving fund
    transfer_oth              DOUBLE,           -- other transfers in
    adj_lossgain              DOUBLE,           -- prior-year P&L adjustment
    withdra_legal_surplus     DOUBLE,           -- statutory surplus reserve appropriated
    withdra_legal_pubfund     DOUBLE,           -- statutory public welfare fund appropriated
    withdra_biz_devfund       DOUBLE,           -- enterprise development fund appropriated
    withdra_rese_fund         DOUBLE,           -- reserve fund appropriated
    withdra_oth_ersu          DOUBLE,           -- discretionary surplus reserve appropriated
    workers_welfare           DOUBLE,           -- staff bonus & welfare
    distr_profit_shrhder      DOUBLE,           -- profit distributable to shareholders
    prfshare_payable_dvd      DOUBLE,           -- preferred dividends payable
    comshare_payable_dvd      DOUBLE,           -- common dividends payable
    capit_comstock_div        DOUBLE,           -- common stock dividends capitalised
    net_after_nr_lp_correct   DOUBLE,           -- net profit excl. non-recurring (before correction)
    credit_impa_loss          DOUBLE,           -- credit impairment loss
    net_expo_hedging_benefits DOUBLE,           -- net exposure hedging gain
    oth_impair_loss_assets    DOUBLE,           -- other asset impairment loss
    total_opcost              DOUBLE,           -- total operating cost (II)
    amodcost_fin_assets       DOUBLE,           -- gain on derecognition of amortised-cost fin. assets
    oth_income                DOUBLE,           -- other income
    asset_disp_income         DOUBLE,           -- asset disposal income
    continued_net_profit      DOUBLE,           -- net profit from continuing ops
    end_net_profit            DOUBLE,           -- net profit from discontinued ops
    update_flag               VARCHAR,          -- update flag
    source                    VARCHAR,
    ingested_at               TIMESTAMP,
    raw_id                    BIGINT,
    PRIMARY KEY (ts_code, end_date, report_type, f_ann_date)
);

-- balancesheet: balance sheets; one row per report version (f_ann_date keeps restatements apart)
CREATE TABLE IF NOT EXISTS normalized_balancesheet (
    ts_code                    VARCHAR NOT NULL, -- Tushare security code (e.g. 000001.SZ)
    ann_date                   DATE,             -- announcement date
    f_ann_date                 DATE NOT NULL,    -- actual (final) announcement date
    end_date                   DATE NOT NULL,    -- report period end date
    report_type                VARCHAR NOT NULL, -- report type code (1..12)
    comp_type                  VARCHAR,          -- company type 1 general/2 bank/3 insurance/4 securities
    end_type                   VARCHAR,          -- report period type
    total_share                DOUBLE,           -- total shares (10k shares)
    cap_rese                   DOUBLE,           -- capital reserve
    undistr_porfit             DOUBLE,           -- undistributed profit (sic: porfit)
    surplus_rese               DOUBLE,           -- surplus reserve
    special_rese               DOUBLE,           -- special reserve
    money_cap                  DOUBLE,           -- cash & equivalents (monetary funds)
    trad_asset                 DOUBLE,           -- trading financial assets
    notes_receiv               DOUBLE,           -- notes receivable
    accounts_receiv            DOUBLE,           -- accounts receivable
    oth_receiv                 DOUBLE,           -- other receivables
    prepayment                 DOUBLE,           -- prepayments
    div_receiv                 DOUBLE,           -- dividends receivable
    int_receiv                 DOUBLE,           -- interest receivable
    inventories                DOUBLE,           -- inventories
    amor_exp                   DOUBLE,           -- prepaid expenses
    nca_within_1y              DOUBLE,           -- non-current assets due within 1y
    sett_rsrv                  DOUBLE,           -- settlement reserves
    loanto_oth_bank_fi         DOUBLE,           -- loans to banks/FIs
    premium_receiv             DOUBLE,           -- premiums receivable
    reinsur_receiv             DOUBLE,           -- reinsurance receivable
    reinsur_res_receiv         DOUBLE,           -- reinsurance contract reserves receivable
    pur_resale_fa              DOUBLE,           -- reverse repo assets
    oth_cur_assets             DOUBLE,           -- other current assets
    total_cur_assets           DOUBLE,           -- total current assets
    fa_avail_for_sale          DOUBLE,           -- AFS financial assets
    htm_invest                 DOUBLE,           -- held-to-maturity investments
    lt_eqt_invest              DOUBLE,           -- long-term equity investments
    invest_real_estate         DOUBLE,           -- investment property
    time_deposits              DOUBLE,           -- time deposits
    oth_assets                 DOUBLE,           -- other assets
    lt_rec                     DOUBLE,           -- long-term receivables
    fix_assets                 DOUBLE,           -- fixed assets
    cip                        DOUBLE,           -- construction in progress
    const_materials            DOUBLE,           -- construction materials
    fixed_assets_disp          DOUBLE,           -- fixed assets pending disposal
    produc_bio_assets          DOUBLE,           -- productive biological assets
    oil_and_gas_assets         DOUBLE,           -- oil & gas assets
    intan_assets               DOUBLE,           -- intangible assets
    r_and_d                    DOUBLE,           -- development expenditure
    goodwill                   DOUBLE,           -- goodwill
    lt_amor_exp                DOUBLE,           -- long-term prepaid expenses
    defer_tax_assets           DOUBLE,           -- deferred tax assets
    decr_in_disbur             DOUBLE,           -- loans and advances granted
    oth_nca                    DOUBLE,           -- other non-current assets
    total_nca                  DOUBLE,           -- total non-current assets
    cash_reser_cb              DOUBLE,           -- cash & deposits with central bank
    depos_in_oth_bfi           DOUBLE,           -- deposits with banks/FIs
    prec_metals                DOUBLE,           -- precious metals
    deriv_assets               DOUBLE,           -- derivative assets
    rr_reins_une_prem          DOUBLE,           -- reins. unearned premium reserve receivable
    rr_reins_outstd_cla        DOUBLE,           -- reins. outstanding claims reserve receivable
    rr_reins_lins_liab         DOUBLE,           -- reins. life insurance reserve receivable
    rr_reins_lthins_liab       DOUBLE,           -- reins. long-term health reserve receivable
    refund_depos               DOUBLE,           -- refundable deposits
    ph_pledge_loans            DOUBLE,           -- policyholder pledged loans
    refund_cap_depos           DOUBLE,           -- refundable capital deposits
    indep_acct_assets          DOUBLE,           -- independent account assets
    client_depos               DOUBLE,           -- of which: client deposits
    client_prov                DOUBLE,           -- of which: client provisions
    transac_seat_fee           DOUBLE,           -- of which: trading seat fees
    invest_as_receiv           DOUBLE,           -- investments classified as receivables
    total_assets               DOUBLE,           -- total assets
    lt_borr                    DOUBLE,           -- long-term borrowings
    st_borr                    DOUBLE,           -- short-term borrowings
    cb_borr                    DOUBLE,           -- borrowings from central bank
    depos_ib_deposits          DOUBLE,           -- deposits & interbank deposits taken
    loan_oth_bank              DOUBLE,           -- placements from banks
    trading_fl                 DOUBLE,           -- trading financial liabilities
    notes_payable              DOUBLE,           -- notes payable
    acct_payable               DOUBLE,           -- accounts payable
    adv_receipts               DOUBLE,           -- advances from customers
    sold_for_repur_fa          DOUBLE,           -- repo liabilities
    comm_payable               DOUBLE,           -- fees & commissions payable
    payroll_payable            DOUBLE,           -- payroll payable
    taxes_payable              DOUBLE,           -- taxes payable
    int_payable                DOUBLE,           -- interest payable
    div_payable                DOUBLE,           -- dividends payable
    oth_payable                DOUBLE,           -- other payables
    acc_exp                    DOUBLE,           -- accrued expenses
    deferred_inc               DOUBLE,           -- deferred income
    st_bonds_payable           DOUBLE,           -- short-term bonds payable
    payable_to_reinsurer       DOUBLE,           -- payable to reinsurers
    rsrv_insur_cont            DOUBLE,           -- insurance contract reserves
    acting_trading_sec         DOUBLE,           -- brokerage client funds payable
    acting_uw_sec              DOUBLE,           -- underwriting client funds payable
    non_cur_liab_due_1y        DOUBLE,           -- non-current liabilities due within 1y
    oth_cur_liab               DOUBLE,           -- other current liabilities
    total_cur_liab             DOUBLE,           -- total current liabilities
    bond_payable               DOUBLE,           -- bonds payable
    lt_payable                 DOUBLE,           -- long-term payables
    specific_payables          DOUBLE,           -- special payables
    estimated_liab             DOUBLE,           -- provisions (estimated liabilities)
    defer_tax_liab             DOUBLE,           -- deferred tax liabilities
    defer_inc_non_cur_liab     DOUBLE,           -- deferred income (non-current)
    oth_ncl                    DOUBLE,           -- other non-current liabilities
    total_ncl                  DOUBLE,           -- total non-current liabilities
    depos_oth_bfi              DOUBLE,           -- deposits from banks/FIs
    deriv_liab                 DOUBLE,           -- derivative liabilities
    depos                      DOUBLE,           -- customer deposits
    agency_bus_liab            DOUBLE,           -- agency business liabilities
    oth_liab                   DOUBLE,           -- other liabilities
    prem_receiv_adva           DOUBLE,           -- premiums received in advance
    depos_received             DOUBLE,           -- deposits received
    ph_invest                  DOUBLE,           -- policyholder deposits & investments
    reser_une_prem             DOUBLE,           -- unearned premium reserve
    reser_outstd_claims        DOUBLE,           -- outstanding claims reserve
    reser_lins_liab            DOUBLE,           -- life insurance reserve
    reser_lthins_liab          DOUBLE,           -- long-term health insurance reserve
    indept_acc_liab            DOUBLE,           -- independent account liabilities
    pledge_borr                DOUBLE,           -- of which: pledged borrowings
    indem_payable              DOUBLE,           -- claims payable
    policy_div_payable         DOUBLE,           -- policy dividends payable
    total_liab                 DOUBLE,           -- total liabilities
    treasury_share             DOUBLE,           -- less: treasury shares
    ordin_risk_reser           DOUBLE,           -- general risk reserve
    forex_differ               DOUBLE,           -- FX translation difference
    invest_loss_unconf         DOUBLE,           -- unrecognised investment loss
    minority_int               DOUBLE,           -- minority interest
    total_hldr_eqy_exc_min_int DOUBLE,           -- equity attr. to parent (excl. minority)
    total_hldr_eqy_inc_min_int DOUBLE,           -- total equity incl. minority
    total_liab_hldr_eqy        DOUBLE,           -- total liabilities & equity
    lt_payroll_payable         DOUBLE,           -- long-term payroll payable
    oth_comp_income            DOUBLE,           -- other comprehensive income
    oth_eqt_tools              DOUBLE,           -- other equity instruments
    oth_eqt_tools_p_shr        DOUBLE,           -- other equity instruments: preferred
    lending_funds              DOUBLE,           -- margin lending funds
    acc_receivable             DOUBLE,           -- receivables
    st_fin_payable             DOUBLE,           -- short-term financing payable
    payables                   DOUBLE,           -- payables
    hfs_assets                 DOUBLE,           -- held-for-sale assets
    hfs_sales                  DOUBLE,           -- held-for-sale liabilities
    cost_fin_assets            DOUBLE,           -- amortised-cost financial assets
    fair_value_fin_assets      DOUBLE,           -- FVOCI financial assets
    cip_total                  DOUBLE,           -- construction in progress (total)
    oth_pay_total              DOUBLE,           -- other payables (total)
    long_pay_total             DOUBLE,           -- long-term payables (total)
    debt_invest                DOUBLE,           -- debt investments
    oth_debt_invest            DOUBLE,           -- other debt investments
    oth_eq_invest              DOUBLE,           -- other equity instrument investments
    oth_illiq_fin_assets       DOUBLE,           -- other non-current financial assets
    oth_eq_ppbond              DOUBLE,           -- other equity instruments: perpetual bonds
    receiv_financing           DOUBLE,           -- receivables financing
    use_right_assets           DOUBLE,           -- right-of-use assets
    lease_liab                 DOUBLE,           -- lease liabilities
    contract_assets            DOUBLE,           -- contract assets
    contract_liab              DOUBLE,           -- contract liabilities
    accounts_receiv_bill       DOUBLE,           -- notes & accounts receivable
    accounts_pay               DOUBLE,           -- notes & accounts payable
    oth_rcv_total              DOUBLE,           -- other receivables (total)
    fix_assets_total           DOUBLE,           -- fixed assets (total)
    update_flag                VARCHAR,          -- update flag
    source                     VARCHAR,
    ingested_at                TIMESTAMP,
    raw_id                     BIGINT,
    PRIMARY KEY (ts_code, end_date, report_type, f_ann_date)
);

-- cashflow: cash-flow statements; one row per report version (f_ann_date keeps restatements apart)
CREATE TABLE IF NOT EXISTS normalized_cashflow (
    ts_code                     VARCHAR NOT NULL, -- Tushare security code (e.g. 000001.SZ)
    ann_date                    DATE,             -- announcement date
    f_ann_date                  DATE NOT NULL,    -- actual (final) announcement date
    end_date                    DATE NOT NULL,    -- report period end date
    comp_type                   VARCHAR,          -- company type 1 general/2 bank/3 insurance/4 securities
    report_type                 VARCHAR NOT NULL, -- report type code (1..12)
    end_type                    VARCHAR,          -- report period type
    net_profit                  DOUBLE,           -- net profit
    finan_exp                   DOUBLE,           -- financial expense
    c_fr_sale_sg                DOUBLE,           -- cash from sales of goods/services
    recp_tax_rends              DOUBLE,           -- tax refunds received
    n_depos_incr_fi             DOUBLE,           -- net incr. in customer & interbank deposits
    n_incr_loans_cb             DOUBLE,           -- net incr. in central bank borrowings
    n_inc_borr_oth_fi           DOUBLE,           -- net incr. in placements from FIs
    prem_fr_orig_contr          DOUBLE,           -- premiums received (original contracts)
    n_incr_insured_dep          DOUBLE,           -- net incr. in policyholder deposits
    n_reinsur_prem              DOUBLE,           -- net reinsurance cash
    n_incr_disp_tfa             DOUBLE,           -- net incr. from disposal of trading assets
    ifc_cash_incr               DOUBLE,           -- net incr. in interest & fee cash received
    n_incr_disp_faas            DOUBLE,           -- net incr. from disposal of AFS assets
    n_incr_loans_oth_bank       DOUBLE,           -- net incr. in placements from banks
    n_cap_incr_repur            DOUBLE,           -- net incr. in repo funds
    c_fr_oth_operate_a          DOUBLE,           -- other operating cash received
    c_inf_fr_operate_a          DOUBLE,           -- operating cash inflow subtotal
    c_paid_goods_s              DOUBLE,           -- cash paid for goods/services
    c_paid_to_for_empl          DOUBLE,           -- cash paid to/for employees
    c_paid_for_taxes            DOUBLE,           -- taxes paid
    n_incr_clt_loan_adv         DOUBLE,           -- net incr. in customer loans
    n_incr_dep_cbob             DOUBLE,           -- net incr. in deposits with CB & banks
    c_pay_claims_orig_inco      DOUBLE,           -- claims paid (original contracts)
    pay_handling_chrg           DOUBLE,           -- fees & commissions paid
    pay_comm_insur_plcy         DOUBLE,           -- policy dividends paid
    oth_cash_pay_oper_act       DOUBLE,           -- other operating cash paid
    st_cash_out_act             DOUBLE,           -- operating cash outflow subtotal
    n_cashflow_act              DOUBLE,           -- net operating cash flow
    oth_recp_ral_inv_act        DOUBLE,           -- other investing cash received
    c_disp_withdrwl_invest      DOUBLE,           -- cash from investment recovery
    c_recp_return_invest        DOUBLE,           -- cash from investment returns
    n_recp_disp_fiolta          DOUBLE,           -- net cash from disposal of fixed/intangible/LT assets
    n_recp_disp_sobu            DOUBLE,           -- net cash from disposal of subsidiaries
    stot_inflows_inv_act        DOUBLE,           -- investing cash inflow subtotal
    c_pay_acq_const_fiolta      DOUBLE,           -- cash paid for fixed/intangible/LT assets (capex)
    c_paid_invest               DOUBLE,           -- cash paid for investments
    n_disp_subs_oth_biz         DOUBLE,           -- net cash paid for subsidiaries acquired
    oth_pay_ral_inv_act         DOUBLE,           -- other investing cash paid
    n_incr_pledge_loan          DOUBLE,           -- net incr. in pledged loans
    stot_out_inv_act            DOUBLE,           -- investing cash outflow subtotal
    n_cashflow_inv_act          DOUBLE,           -- net investing cash flow
    c_recp_borrow               DOUBLE,           -- cash from borrowings
    proc_issue_bonds            DOUBLE,           -- cash from bond issuance
    oth_cash_recp_ral_fnc_act   DOUBLE,           -- other financing cash received
    stot_cash_in_fnc_act        DOUBLE,           -- financing cash inflow subtotal
    free_cashflow               DOUBLE,           -- free cash flow to firm
    c_prepay_amt_borr           DOUBLE,           -- cash repaid on debt
    c_pay_dist_dpcp_int_exp     DOUBLE,           -- cash paid for dividends/profit/interest
    incl_dvd_profit_paid_sc_ms  DOUBLE,           -- of which: subsidiaries dividends to minority
    oth_cashpay_ral_fnc_act     DOUBLE,           -- other financing cash paid
    stot_cashout_fnc_act        DOUBLE,           -- financing cash outflow subtotal
    n_cash_flows_fnc_act        DOUBLE,           -- net financing cash flow
    eff_fx_flu_cash             DOUBLE,           -- FX effect on cash
    n_incr_cash_cash_equ        DOUBLE,           -- net incr. in cash & equivalents
    c_cash_equ_beg_period       DOUBLE,           -- cash & equivalents at period start
    c_cash_equ_end_period       DOUBLE,           -- cash & equivalents at period end
    c_recp_cap_contrib          DOUBLE,           -- cash from capital contributions
    incl_cash_rec_saims         DOUBLE,           -- of which: subsidiaries minority contributions
    uncon_invest_loss           DOUBLE,           -- unrecognised investment loss
    prov_depr_assets            DOUBLE,           -- plus: asset impairment provisions
    depr_fa_coga_dpba           DOUBLE,           -- depreciation of fixed/oil&gas/bio assets
    amort_intang_assets         DOUBLE,           -- amortisation of intangibles
    lt_amort_deferred_exp       DOUBLE,           -- amortisation of LT prepaid expenses
    decr_deferred_exp           DOUBLE,           -- decrease in prepaid expenses
    incr_acc_exp                DOUBLE,           -- increase in accrued expenses
    loss_disp_fiolta            DOUBLE,           -- loss on disposal of fixed/intangible/LT assets
    loss_scr_fa                 DOUBLE,           -- loss on scrapping fixed assets
    loss_fv_chg                 DOUBLE,           -- fair value change loss
    invest_loss                 DOUBLE,           -- investment loss
    decr_def_inc_tax_assets     DOUBLE,           -- decrease in deferred tax assets
    incr_def_inc_tax_liab       DOUBLE,           -- increase in deferred tax liabilities
    decr_inventories            DOUBLE,           -- decrease in inventories
    decr_oper_payable           DOUBLE,           -- decrease in operating receivables
    incr_oper_payable           DOUBLE,           -- increase in operating payables
    others                      DOUBLE,           -- others
    im_net_cashflow_oper_act    DOUBLE,           -- net operating cash flow (indirect method)
    conv_debt_into_cap          DOUBLE,           -- debt converted to capital
    conv_copbonds_due_within_1y DOUBLE,           -- convertible bonds due within 1y
    fa_fnc_leases               DOUBLE,           -- fixed assets under finance lease
    im_n_incr_cash_equ          DOUBLE,           -- net incr. in cash & equiv. (indirect)
    net_dism_capital_add        DOUBLE,           -- net incr. in placements to banks
    net_cash_rece_sec           DOUBLE,           -- net cash from brokerage (CNY)
    credit_impa_loss            DOUBLE,           -- credit impairment loss
    use_right_asset_dep         DOUBLE,           -- depreciation of right-of-use assets
    oth_loss_asset              DOUBLE,           -- other asset impairment loss
    end_bal_cash                DOUBLE,           -- cash at period end
    beg_bal_cash                DOUBLE,           -- less: cash at period start
    end_bal_cash_equ            DOUBLE,           -- plus: cash equivalents at period end
    beg_bal_cash_equ            DOUBLE,           -- less: cash equivalents at period start
    update_flag                 VARCHAR,          -- update flag
    source                      VARCHAR,
    ingested_at                 TIMESTAMP,
    raw_id                      BIGINT,
    PRIMARY KEY (ts_code, end_date, report_type, f_ann_date)
);

-- fina_indicator: financial indicators per report period and announcement
CREATE TABLE IF NOT EXISTS normalized_fina_indicator (
    ts_code                      VARCHAR NOT NULL, -- Tushare security code (e.g. 000001.SZ)
    ann_date                     DATE NOT NULL,    -- announcement date
    end_date                     DATE NOT NULL,    -- report period end date
    eps                          DOUBLE,           -- basic EPS
    dt_eps                       DOUBLE,           -- diluted EPS
    total_revenue_ps             DOUBLE,           -- total revenue per share
    revenue_ps                   DOUBLE,           -- revenue per share
    capital_rese_ps              DOUBLE,           -- capital reserve per share
    surplus_rese_ps              DOUBLE,           -- surplus reserve per share
    undist_profit_ps             DOUBLE,           -- undistributed profit per share
    extra_item                   DOUBLE,           -- non-recurring items
    profit_dedt                  DOUBLE,           -- net profit excl. non-recurring
    gross_margin                 DOUBLE,           -- gross profit (amount)
    current_ratio                DOUBLE,           -- current ratio
    quick_ratio                  DOUBLE,           -- quick ratio
    cash_ratio                   DOUBLE,           -- conservative quick (cash) ratio
    invturn_days                 DOUBLE,           -- inventory turnover days
    arturn_days                  DOUBLE,           -- receivables turnover days
    inv_turn                     DOUBLE,           -- inventory turnover
    ar_turn                      DOUBLE,           -- receivables turnover
    ca_turn                      DOUBLE,           -- current asset turnover
    fa_turn                      DOUBLE,           -- fixed asset turnover
    assets_turn                  DOUBLE,           -- total asset turnover
    op_income                    DOUBLE,           -- net operating income
    valuechange_income           DOUBLE,           -- net value-change income
    interst_income               DOUBLE,           -- interest expense (sic)
    daa                          DOUBLE,           -- depreciation & amortisation
    ebit                         DOUBLE,           -- EBIT
    ebitda                       DOUBLE,           -- EBITDA
    fcff                         DOUBLE,           -- free cash flow to firm
    fcfe                         DOUBLE,           -- free cash flow to equity
    current_exint                DOUBLE,           -- non-interest-bearing current liabilities
    noncurrent_exint             DOUBLE,           -- non-interest-bearing non-current liabilities
    interestdebt                 DOUBLE,           -- interest-bearing debt
    netdebt                      DOUBLE,           -- net debt
    tangible_asset               DOUBLE,           -- tangible assets
    working_capital              DOUBLE,           -- working capital
    networking_capital           DOUBLE,           -- net operating working capital
    invest_capital               DOUBLE,           -- total invested capital
    retained_earnings            DOUBLE,           -- retained earnings
    diluted2_eps                 DOUBLE,           -- period-end diluted EPS
    bps                          DOUBLE,           -- book value per share
    ocfps                        DOUBLE,           -- operating cash flow per share
    retainedps                   DOUBLE,           -- retained earnings per share
    cfps                         DOUBLE,           -- net cash flow per share
    ebit_ps                      DOUBLE,           -- EBIT per share
    fcff_ps                      DOUBLE,           -- FCFF per share
    fcfe_ps                      DOUBLE,           -- FCFE per share
    netprofit_margin             DOUBLE,           -- net profit margin
    grossprofit_margin           DOUBLE,           -- gross margin (%)
    cogs_of_sales                DOUBLE,           -- cost of sales ratio
    expense_of_sales             DOUBLE,           -- period expense ratio
    profit_to_gr                 DOUBLE,           -- net profit / total revenue
    saleexp_to_gr                DOUBLE,           -- selling exp / total revenue
    adminexp_of_gr               DOUBLE,           -- admin exp / total revenue
    finaexp_of_gr                DOUBLE,           -- financial exp / total revenue
    impai_ttm                    DOUBLE,           -- impairment loss / total revenue
    gc_of_gr                     DOUBLE,           -- total cost / total revenue
    op_of_gr                     DOUBLE,           -- operating profit / total revenue
    ebit_of_gr                   DOUBLE,           -- EBIT / total revenue
    roe                          DOUBLE,           -- ROE
    roe_waa                      DOUBLE,           -- weighted average ROE
    roe_dt                       DOUBLE,           -- ROE excl. non-recurring
    roa                          DOUBLE,           -- return on assets
    npta                         DOUBLE,           -- net profit / total assets
    roic                         DOUBLE,           -- ROIC
    roe_yearly                   DOUBLE,           -- annualised ROE
    roa2_yearly                  DOUBLE,           -- annualised ROA
    roe_avg                      DOUBLE,           -- average ROE (placement criteria)
    opincome_of_ebt              DOUBLE,           -- operating income / pre-tax profit
    investincome_of_ebt          DOUBLE,           -- value-change income / pre-tax profit
    n_op_profit_of_ebt           DOUBLE,           -- non-operating net / pre-tax profit
    tax_to_ebt                   DOUBLE,           -- income tax / pre-tax profit
    dtprofit_to_profit           DOUBLE,           -- net profit excl. NR / net profit
    salescash_to_or              DOUBLE,           -- sales cash / revenue
    ocf_to_or                    DOUBLE,           -- OCF / revenue
    ocf_to_opincome              DOUBLE,           -- OCF / operating income
    capitalized_to_da            DOUBLE,           -- capex / D&A
    debt_to_assets               DOUBLE,           -- debt-to-assets ratio
    assets_to_eqt                DOUBLE,           -- equity multiplier
    dp_assets_to_eqt             DOUBLE,           -- equity multiplier (DuPont)
    ca_to_assets                 DOUBLE,           -- current assets / total assets
    nca_to_assets                DOUBLE,           -- non-current assets / total assets
    tbassets_to_totalassets      DOUBLE,           -- tangible assets / total assets
    int_to_talcap                DOUBLE,           -- interest-bearing debt / invested capital
    eqt_to_talcapital            DOUBLE,           -- parent equity / invested capital
    currentdebt_to_debt          DOUBLE,           -- current liabilities / total liabilities
    longdeb_to_debt              DOUBLE,           -- non-current liabilities / total liabilities
    ocf_to_shortdebt             DOUBLE,           -- OCF / current liabilities
    debt_to_eqt                  DOUBLE,           -- debt-to-equity
    eqt_to_debt                  DOUBLE,           -- parent equity / total liabilities
    eqt_to_interestdebt          DOUBLE,           -- parent equity / interest-bearing debt
    tangibleasset_to_debt        DOUBLE,           -- tangible assets / total liabilities
    tangasset_to_intdebt         DOUBLE,           -- tangible assets / interest-bearing debt
    tangibleasset_to_netdebt     DOUBLE,           -- tangible assets / net debt
    ocf_to_debt                  DOUBLE,           -- OCF / total liabilities
    ocf_to_interestdebt          DOUBLE,           -- OCF / interest-bearing debt
    ocf_to_netdebt               DOUBLE,           -- OCF / net debt
    ebit_to_interest             DOUBLE,           -- interest coverage (EBIT/interest)
    longdebt_to_workingcapital   DOUBLE,           -- LT debt / working capital
    ebitda_to_debt               DOUBLE,           -- EBITDA / total liabilities
    turn_days                    DOUBLE,           -- operating cycle (days)
    roa_yearly                   DOUBLE,           -- annualised ROA (net)
    roa_dp                       DOUBLE,           -- ROA (DuPont)
    fixed_assets                 DOUBLE,           -- fixed assets total
    profit_prefin_exp            DOUBLE,           -- operating profit before fin. expense
    non_op_profit                DOUBLE,           -- non-operating profit
    op_to_ebt                    DOUBLE,           -- operating profit / pre-tax profit
    nop_to_ebt                   DOUBLE,           -- non-operating profit / pre-tax profit
    ocf_to_profit                DOUBLE,           -- OCF / operating profit
    cash_to_liqdebt              DOUBLE,           -- cash / current liabilities
    cash_to_liqdebt_withinterest DOUBLE,           -- cash / interest-bearing current liabilities
    op_to_liqdebt                DOUBLE,           -- operating profit / current liabilities
    op_to_debt                   DOUBLE,           -- operating profit / total liabilities
    roic_yearly                  DOUBLE,           -- annualised ROIC
    total_fa_trun                DOUBLE,           -- total fixed asset turnover
    profit_to_op                 DOUBLE,           -- total profit / revenue
    q_opincome                   DOUBLE,           -- quarterly net operating income
    q_investincome               DOUBLE,           -- quarterly value-change income
    q_dtprofit                   DOUBLE,           -- quarterly net profit excl. NR
    q_eps                        DOUBLE,           -- quarterly EPS
    q_netprofit_margin           DOUBLE,           -- quarterly net margin
    q_gsprofit_margin            DOUBLE,           -- quarterly gross margin
    q_exp_to_sales               DOUBLE,           -- quarterly period expense ratio
    q_profit_to_gr               DOUBLE,           -- quarterly net profit / total revenue
    q_saleexp_to_gr              DOUBLE,           -- quarterly selling exp / total revenue
    q_adminexp_to_gr             DOUBLE,           -- quarterly admin exp / total revenue
    q_finaexp_to_gr              DOUBLE,           -- quarterly fin exp / total revenue
    q_impair_to_gr_ttm           DOUBLE,           -- quarterly impairment / total revenue
    q_gc_to_gr                   DOUBLE,           -- quarterly total cost / total revenue
    q_op_to_gr                   DOUBLE,           -- quarterly op profit / total revenue
    q_roe                        DOUBLE,           -- quarterly ROE
    q_dt_roe                     DOUBLE,           -- quarterly ROE excl. NR
    q_npta                       DOUBLE,           -- quarterly net profit / total assets
    q_opincome_to_ebt            DOUBLE,           -- quarterly op income / pre-tax profit
    q_investincome_to_ebt        DOUBLE,           -- quarterly value-change income / pre-tax profit
    q_dtprofit_to_profit         DOUBLE,           -- quarterly NR-excl. profit / net profit
    q_salescash_to_or            DOUBLE,           -- quarterly sales cash / revenue
    q_ocf_to_sales               DOUBLE,           -- quarterly OCF / revenue
    q_ocf_to_or                  DOUBLE,           -- quarterly OCF / operating income
    basic_eps_yoy                DOUBLE,           -- basic EPS YoY (%)
    dt_eps_yoy                   DOUBLE,           -- diluted EPS YoY (%)
    cfps_yoy                     DOUBLE,           -- OCF per share YoY (%)
    op_yoy                       DOUBLE,           -- operating profit YoY (%)
    ebt_yoy                      DOUBLE,           -- pre-tax profit YoY (%)
    netprofit_yoy                DOUBLE,           -- parent net profit YoY (%)
    dt_netprofit_yoy             DOUBLE,           -- parent net profit excl. NR YoY (%)
    ocf_yoy                      DOUBLE,           -- OCF YoY (%)
    roe_yoy                      DOUBLE,           -- diluted ROE YoY (%)
    bps_yoy                      DOUBLE,           -- BPS vs year start (%)
    assets_yoy                   DOUBLE,           -- total assets vs year start (%)
    eqt_yoy                      DOUBLE,           -- parent equity vs year start (%)
    tr_yoy                       DOUBLE,           -- total revenue YoY (%)
    or_yoy                       DOUBLE,           -- revenue YoY (%)
    q_gr_yoy                     DOUBLE,           -- quarterly total revenue YoY (%)
    q_gr_qoq                     DOUBLE,           -- quarterly total revenue QoQ (%)
    q_sales_yoy                  DOUBLE,           -- quarterly revenue YoY (%)
    q_sales_qoq                  DOUBLE,           -- quarterly revenue QoQ (%)
    q_op_yoy                     DOUBLE,           -- quarterly op profit YoY (%)
    q_op_qoq                     DOUBLE,           -- quarterly op profit QoQ (%)
    q_profit_yoy                 DOUBLE,           -- quarterly net profit YoY (%)
    q_profit_qoq                 DOUBLE,           -- quarterly net profit QoQ (%)
    q_netprofit_yoy              DOUBLE,           -- quarterly parent net profit YoY (%)
    q_netprofit_qoq              DOUBLE,           -- quarterly parent net profit QoQ (%)
    equity_yoy                   DOUBLE,           -- net assets YoY (%)
    rd_exp                       DOUBLE,           -- R&D expense
    update_flag                  VARCHAR,          -- update flag
    source                       VARCHAR,
    ingested_at                  TIMESTAMP,
    raw_id                       BIGINT,
    PRIMARY KEY (ts_code, end_date, ann_date)
);

-- forecast: earnings forecasts (业绩预告) per announcement
CREATE TABLE IF NOT EXISTS normalized_forecast (
    ts_code         VARCHAR NOT NULL, -- Tushare security code (e.g. 000001.SZ)
    ann_date        DATE NOT NULL,    -- announcement date
    end_date        DATE NOT NULL,    -- report period end date
    type            VARCHAR,          -- forecast type (预增/预减/扭亏/首亏/续亏/续盈/略增/略减)
    p_change_min    DOUBLE,           -- forecast net profit change lower bound (%)
    p_change_max    DOUBLE,           -- forecast net profit change upper bound (%)
    net_profit_min  DOUBLE,           -- forecast net profit lower bound (10k CNY)
    net_profit_max  DOUBLE,           -- forecast net profit upper bound (10k CNY)
    last_parent_net DOUBLE,           -- prior-year net profit attr. to parent
    first_ann_date  DATE,             -- first announcement date
    summary         VARCHAR,          -- forecast summary text
    change_reason   VARCHAR,          -- reason for change (text)
    source          VARCHAR,
    ingested_at     TIMESTAMP,
    raw_id          BIGINT,
    PRIMARY KEY (ts_code, end_date, ann_date)
);

-- express: earnings express reports (业绩快报) per announcement
CREATE TABLE IF NOT EXISTS normalized_express (
    ts_code                    VARCHAR NOT NULL, -- Tushare security code (e.g. 000001.SZ)
    ann_date                   DATE NOT NULL,    -- announcement date
    end_date                   DATE NOT NULL,    -- report period end date
    revenue                    DOUBLE,           -- operating revenue
    operate_profit             DOUBLE,           -- operating profit
    total_profit               DOUBLE,           -- total profit (pre-tax)
    n_income                   DOUBLE,           -- net profit incl. minority
    total_assets               DOUBLE,           -- total assets
    total_hldr_eqy_exc_min_int DOUBLE,           -- equity attr. to parent (excl. minority)
    diluted_eps                DOUBLE,           -- diluted EPS
    diluted_roe                DOUBLE,           -- ROE diluted (%)
    yoy_net_profit             DOUBLE,           -- prior-year restated net profit
    bps                        DOUBLE,           -- book value per share
    yoy_sales                  DOUBLE,           -- YoY growth: revenue
    yoy_op                     DOUBLE,           -- YoY growth: operating profit
    yoy_tp                     DOUBLE,           -- YoY growth: total profit
    yoy_dedu_np                DOUBLE,           -- YoY growth: net profit attr. to parent
    yoy_eps                    DOUBLE,           -- YoY growth: basic EPS
    yoy_roe                    DOUBLE,           -- YoY change: weighted ROE
    growth_assets              DOUBLE,           -- growth vs year start: total assets
    yoy_equity                 DOUBLE,           -- growth vs year start: parent equity
    growth_bps                 DOUBLE,           -- growth vs year start: BPS
    or_last_year               DOUBLE,           -- prior-year revenue
    op_last_year               DOUBLE,           -- prior-year operating profit
    tp_last_year               DOUBLE,           -- prior-year total profit
    np_last_year               DOUBLE,           -- prior-year net profit
    eps_last_year              DOUBLE,           -- prior-year EPS
    open_net_assets            DOUBLE,           -- net assets at period start
    open_bps                   DOUBLE,           -- BPS at period start
    perf_summary               VARCHAR,          -- performance summary text
    is_audit                   INTEGER,          -- audited flag 1/0
    remark                     VARCHAR,          -- remark
    source                     VARCHAR,
    ingested_at                TIMESTAMP,
    raw_id                     BIGINT,
    PRIMARY KEY (ts_code, end_date, ann_date)
);

-- disclosure_date: scheduled and actual disclosure dates of periodic reports
CREATE TABLE IF NOT EXISTS normalized_disclosure_date (
    ts_code        VARCHAR NOT NULL, -- Tushare security code (e.g. 000001.SZ)
    ann_date       DATE,             -- announcement date
    end_date       DATE NOT NULL,    -- report period end date
    pre_date       DATE,             -- scheduled disclosure date
    actual_date    DATE,             -- actual disclosure date
    modify_date    VARCHAR,          -- disclosure date revision history
    source         VARCHAR,
    ingested_at    TIMESTAMP,
    raw_id         BIGINT,
    PRIMARY KEY (ts_code, end_date)
);
