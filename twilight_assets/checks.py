"""Asset checks on the normalized tables: keys, required fields, bar sanity, coverage.

Checks query through :class:`WarehouseReader`: the newest published snapshot, so they never
wait for (or block) a writer and see what the serving processes serve; or, while their run's
writes wait for its one publish, the warehouse file itself under the writer lock. They are built
by one factory from the check kinds each catalog entry names, and are non-blocking: a failure
flags the data in the UI and in the run, it does not stop downstream assets.

In a run of trade-date partitions, the checks of a table partitioned by trade date look at the
run's dates only: every rule they apply holds or fails within a date (the primary key includes
trade_date), so the result for those dates is the same, and a check costs what the run wrote
rather than a scan of the whole table (20 s on 10M rows, competing with the read API for memory
bandwidth). Without partitions (a run of unpartitioned assets, a check launched on its own)
they look at the whole table.
"""

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSpec,
    AssetKey,
    MetadataValue,
    multi_asset_check,
)

from twilight_resources.calendar import from_key
from twilight_resources.catalog import CATALOG, Catalog, CatalogError, Grain, Table
from twilight_resources.settings import TwilightSettings, get_settings
from twilight_resources.warehouse import (
    SnapshotUnavailableError,
    TableSpec,
    WarehouseReader,
    WarehouseWriter,
    table_spec,
)
from twilight_resources.warehouse.io_manager import markdown_table
from twilight_resources.warehouse.schema import quote

SAMPLE_ROWS = 5
PRICES = ("open", "high", "low", "close")
# Suspensions explain a day with fewer rows than listed stocks, never one with half of them;
# more rows than listed stocks means stock_basic lags the table (1% slack for same-day IPOs).
MIN_LISTED_RATIO = 0.5
MAX_LISTED_RATIO = 1.01
# Aggregates are compared with float noise and the two decimals Tushare rounds to in mind.
REL_TOL = 1e-6
ABS_TOL = 0.005
# Bar rules by the name a failure is reported under; NULL prices are left to required_not_null.
OHLC_RULES = {
    "low > open": '"low" <= "open"',
    "open > high": '"open" <= "high"',
    "low > close": '"low" <= "close"',
    "close > high": '"close" <= "high"',
    "low > high": '"low" <= "high"',
    "price <= 0": 'least("open", "high", "low", "close") > 0',
}

PERIOD_UNITS = {Grain.WEEK_END: "week", Grain.MONTH_END: "month"}  # date_trunc: ISO week, month

STOCK_BASIC = table_spec("normalized_stock_basic").name
TRADE_CAL = table_spec("normalized_trade_cal").name
DAILY = table_spec("normalized_daily").name


def run_dates(context: AssetCheckExecutionContext | None) -> tuple[str, str] | None:
    """The run's partition keys as (first, last); None if it has none (an unpartitioned run,
    or a check invoked directly without a partition)."""
    if context is None or not (context.has_partition_key or context.has_partition_key_range):
        return None
    keys = context.partition_key_range
    return keys.start, keys.end


@dataclass(frozen=True)
class Scope:
    """One table in one snapshot (``relation``: the table, or its rows of the run's dates),
    with the row count the runner already took."""

    reader: WarehouseReader
    spec: TableSpec
    settings: TwilightSettings
    rows: int
    relation: str
    dates: tuple[str, str] | None = None
    grain: Grain | None = None

    @classmethod
    def of(
        cls,
        reader: WarehouseReader,
        spec: TableSpec,
        settings: TwilightSettings,
        dates: tuple[str, str] | None = None,
        grain: Grain | None = None,
    ) -> "Scope":
        """``dates`` narrow a table partitioned by trade date to the run's rows."""
        relation, scoped = spec.name, None
        if dates is not None and grain is Grain.TRADE_DATE:
            lo, hi = (from_key(d).isoformat() for d in dates)  # parsed: never raw text in SQL
            relation = f"(SELECT * FROM {spec.name} WHERE trade_date BETWEEN '{lo}' AND '{hi}')"
            scoped = dates
        rows = _scalar(reader, f"SELECT count(*) FROM {relation}")
        return cls(reader, spec, settings, rows, relation, scoped, grain)


@dataclass(frozen=True)
class Outcome:
    """What a probe found; the runner adds the snapshot and row count."""

    passed: bool
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)


Probe = Callable[[Scope], Outcome]


@dataclass(frozen=True)
class CheckKind:
    """One check, applied to each table whose catalog entry names it; the description may
    depend on the table (its key, its required columns)."""

    name: str
    description: str | Callable[[TableSpec], str]
    probe: Probe

    def describe(self, spec: TableSpec) -> str:
        return self.description if isinstance(self.description, str) else self.description(spec)


def _columns(names: tuple[str, ...]) -> str:
    return ", ".join(quote(c) for c in names)


def _scalar(reader: WarehouseReader, sql: str, params: Mapping[str, Any] | None = None) -> int:
    row = reader.records(sql, dict(params) if params else None)[0]
    return int(next(iter(row.values())))


def _offenders(
    reader: WarehouseReader | WarehouseWriter,
    sql: str,
    order: str,
    params: Mapping[str, Any] | None = None,
) -> tuple[int, pd.DataFrame]:
    """How many rows ``sql`` returns, and the first few by ``order`` (dates as text). A writer
    queries the raw file, which no snapshot holds."""
    sampled = (
        f"SELECT * FROM (SELECT *, count(*) OVER () AS _offending FROM ({sql})) "
        f"ORDER BY {order} LIMIT {SAMPLE_ROWS}"
    )
    if isinstance(reader, WarehouseWriter):
        frame = reader.query_raw(sampled, dict(params) if params else None)
    else:
        frame = reader.query(sampled, dict(params) if params else None)
    count = int(frame["_offending"].iloc[0]) if len(frame) else 0
    frame = frame.drop(columns="_offending")
    for column in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[column]):
            frame[column] = frame[column].dt.strftime("%Y-%m-%d")
    return count, frame


def _example(sample: pd.DataFrame) -> str:
    return ", ".join(f"{k}={v}" for k, v in sample.iloc[0].items())


def _verdict(
    scope: Scope,
    count: int,
    sample: pd.DataFrame,
    *,
    ok: str,
    bad: str,
    counter: str,
    extra: Mapping[str, Any] | None = None,
) -> Outcome:
    """Pass saying ``ok``, or fail saying "<count> <bad>" with an example offending row."""
    name, metadata = scope.spec.name, {counter: count, **(extra or {})}
    if count == 0:
        return Outcome(True, f"{name}: {ok}", metadata)
    metadata["examples"] = MetadataValue.md(markdown_table(sample))
    return Outcome(False, f"{name}: {count} {bad}; e.g. {_example(sample)}", metadata)


def _calendar_days(scope: Scope) -> int:
    return _scalar(
        scope.reader,
        f"SELECT count(*) FROM {TRADE_CAL} WHERE exchange = $exchange",
        {"exchange": scope.settings.market_exchange},
    )


def _no_calendar(scope: Scope) -> Outcome:
    exchange = scope.settings.market_exchange
    return Outcome(True, f"{scope.spec.name}: skipped, {TRADE_CAL} has no {exchange} days yet")


def primary_key_unique(scope: Scope) -> Outcome:
    spec = scope.spec
    key = _columns(spec.primary_key)
    count, sample = _offenders(
        scope.reader,
        f"SELECT {key}, count(*) AS copies FROM {scope.relation} GROUP BY {key} "
        "HAVING count(*) > 1",
        f"copies DESC, {key}",
    )
    return _verdict(
        scope,
        count,
        sample,
        ok=f"primary key ({', '.join(spec.primary_key)}) unique over {scope.rows} rows",
        bad="duplicated primary key(s)",
        counter="duplicated_keys",
    )


def required_columns(spec: TableSpec) -> tuple[str, ...]:
    """Primary-key columns, plus the prices of a bar table (one with all four)."""
    bar = set(PRICES) <= set(spec.columns)
    return (*spec.primary_key, *(PRICES if bar else ()))


def required_not_null(scope: Scope) -> Outcome:
    spec = scope.spec
    required = required_columns(spec)
    which = ", ".join(f"CASE WHEN {quote(c)} IS NULL THEN '{c}' END" for c in required)
    count, sample = _offenders(
        scope.reader,
        f"SELECT {_columns(spec.primary_key)}, concat_ws(', ', {which}) AS null_columns "
        f"FROM {scope.relation} WHERE {' OR '.join(f'{quote(c)} IS NULL' for c in required)}",
        _columns(spec.primary_key),
    )
    return _verdict(
        scope,
        count,
        sample,
        ok=f"{', '.join(required)} present in all {scope.rows} rows",
        bad="row(s) lack a required field (" + ", ".join(required) + ")",
        counter="rows_with_nulls",
    )


def ohlc_sane(scope: Scope) -> Outcome:
    spec = scope.spec
    broken = ", ".join(
        f"CASE WHEN NOT ({rule}) THEN '{label}' END" for label, rule in OHLC_RULES.items()
    )
    count, sample = _offenders(
        scope.reader,
        f"SELECT {_columns(spec.primary_key)}, {_columns(PRICES)}, "
        f"concat_ws(', ', {broken}) AS broken FROM {scope.relation} "
        f"WHERE NOT ({' AND '.join(OHLC_RULES.values())})",
        _columns(spec.primary_key),
    )
    return _verdict(
        scope,
        count,
        sample,
        ok=f"all {scope.rows} bars have low <= open, close <= high and positive prices",
        bad=f"of {scope.rows} bars break low <= open, close <= high or prices > 0",
        counter="insane_bars",
    )


def rows_match_listed(scope: Scope) -> Outcome:
    """Rows per stored trade date vs stocks listed that day (list_date <= d < delist_date)."""
    spec, reader = scope.spec, scope.reader
    if _scalar(reader, f"SELECT count(*) FROM {STOCK_BASIC}") == 0:
        return Outcome(True, f"{spec.name}: skipped, {STOCK_BASIC} is empty (nothing to compare)")
    days = _scalar(reader, f"SELECT count(DISTINCT trade_date) FROM {scope.relation}")
    count, sample = _offenders(
        reader,
        f"WITH days AS (SELECT trade_date, count(*) AS stored_rows FROM {scope.relation} "
        "GROUP BY trade_date) "
        "SELECT d.trade_date, d.stored_rows, count(s.ts_code) AS listed_stocks, "
        "round(d.stored_rows / nullif(count(s.ts_code), 0), 3) AS ratio "
        f"FROM days d LEFT JOIN {STOCK_BASIC} s ON s.list_date <= d.trade_date "
        "AND coalesce(s.delist_date, DATE '9999-12-31') > d.trade_date "
        "GROUP BY d.trade_date, d.stored_rows "
        "HAVING d.stored_rows < $low * count(s.ts_code) "
        "OR d.stored_rows > $high * count(s.ts_code)",
        "trade_date",
        {"low": MIN_LISTED_RATIO, "high": MAX_LISTED_RATIO},
    )
    return _verdict(
        scope,
        count,
        sample,
        ok=f"rows on each of {days} trade dates within {MIN_LISTED_RATIO:.0%}.."
        f"{MAX_LISTED_RATIO:.0%} of the stocks listed that day",
        bad=f"of {days} trade dates have fewer than {MIN_LISTED_RATIO:.0%} or more "
        f"than {MAX_LISTED_RATIO:.0%} as many rows as stocks listed that day",
        counter="days_out_of_range",
        extra={"days_checked": days},
    )


def _close_enough(a: str, b: str) -> str:
    return f"coalesce(abs({a} - {b}) <= $rel * greatest(abs({a}), abs({b})) + $abs, FALSE)"


def matches_daily(scope: Scope) -> Outcome:
    """Bars whose whole period (ISO week / month up to trade_date) has stored daily rows."""
    spec, reader = scope.spec, scope.reader
    if _calendar_days(scope) == 0:
        return _no_calendar(scope)
    # A period is covered when every open day from its first calendar day to the bar's
    # trade_date has daily rows, and the calendar reaches back to that first day.
    covered = (
        f"WITH cal AS (SELECT cal_date, is_open FROM {TRADE_CAL} WHERE exchange = $exchange), "
        "missing AS (SELECT cal_date FROM cal WHERE is_open = '1' "
        f"AND cal_date NOT IN (SELECT DISTINCT trade_date FROM {DAILY})), "
        "periods AS (SELECT DISTINCT trade_date AS period_end, "
        f"CAST(date_trunc($unit, trade_date) AS DATE) AS period_start FROM {spec.name}), "
        "covered AS (SELECT p.* FROM periods p "
        "WHERE p.period_start >= (SELECT min(cal_date) FROM cal) "
        "AND p.period_end <= (SELECT max(cal_date) FROM cal) AND NOT EXISTS "
        "(SELECT 1 FROM missing m WHERE m.cal_date BETWEEN p.period_start AND p.period_end)) "
    )
    assert scope.grain in PERIOD_UNITS, f"{spec.name}: matches_daily needs week or month ends"
    where = {"exchange": scope.settings.market_exchange, "unit": PERIOD_UNITS[scope.grain]}
    compared = _scalar(
        reader,
        f"{covered} SELECT count(*) FROM {spec.name} b JOIN covered p "
        "ON b.trade_date = p.period_end",
        where,
    )
    fields = {"high": "max(d.high)", "low": "min(d.low)", "close": "arg_max(d.close, d.trade_date)"}
    aggregates = "".join(f"{agg} AS daily_{name}, " for name, agg in fields.items())
    differs = ", ".join(
        f"CASE WHEN NOT {_close_enough(name, f'daily_{name}')} THEN '{name}' END"
        for name in (*fields, "vol")
    )
    count, sample = _offenders(
        reader,
        f"{covered}, agg AS (SELECT b.ts_code, b.trade_date, b.high, b.low, b.close, b.vol, "
        f"{aggregates}sum(d.vol) AS daily_vol, count(d.trade_date) AS daily_rows "
        f"FROM {spec.name} b JOIN covered p ON b.trade_date = p.period_end "
        f"LEFT JOIN {DAILY} d ON d.ts_code = b.ts_code AND d.trade_date <= b.trade_date "
        "AND CAST(date_trunc($unit, d.trade_date) AS DATE) = p.period_start "
        "GROUP BY ALL) "
        "SELECT * FROM (SELECT *, CASE WHEN daily_rows = 0 THEN 'no daily rows' "
        f"ELSE concat_ws(', ', {differs}) END AS mismatched FROM agg) WHERE mismatched <> ''",
        "trade_date, ts_code",
        {**where, "rel": REL_TOL, "abs": ABS_TOL},
    )
    ok = (
        f"all {compared} bars of fully covered periods agree with {DAILY}"
        if compared
        else f"no bar's period is fully covered by {DAILY} yet (nothing compared)"
    )
    return _verdict(
        scope,
        count,
        sample,
        ok=ok,
        bad=f"of {compared} bars of fully covered periods disagree with {DAILY} "
        "(high = max, low = min, close = last close, vol = sum)",
        counter="mismatched_bars",
        extra={"bars_compared": compared},
    )


def no_calendar_gaps(scope: Scope) -> Outcome:
    """Open days of the configured exchange between the table's first and last date, unstored."""
    reader = scope.reader
    if _calendar_days(scope) == 0:
        return _no_calendar(scope)
    exchange = {"exchange": scope.settings.market_exchange}
    span = (
        f"WITH span AS (SELECT min(trade_date) AS lo, max(trade_date) AS hi "
        f"FROM {scope.relation}), "
        f"open_days AS (SELECT c.cal_date FROM {TRADE_CAL} c, span WHERE c.exchange = $exchange "
        "AND c.is_open = '1' AND c.cal_date BETWEEN span.lo AND span.hi) "
    )
    expected = _scalar(reader, f"{span} SELECT count(*) FROM open_days", exchange)
    count, sample = _offenders(
        reader,
        f"{span} SELECT cal_date AS missing_date FROM open_days "
        f"WHERE cal_date NOT IN (SELECT DISTINCT trade_date FROM {scope.relation})",
        "missing_date",
        exchange,
    )
    return _verdict(
        scope,
        count,
        sample,
        ok=f"rows on all {expected} open {exchange['exchange']} days in its date range",
        bad=f"of {expected} open {exchange['exchange']} days in its date range have no rows",
        counter="missing_days",
        extra={"open_days_expected": expected},
    )


def no_quarantined_rows(scope: Scope) -> Outcome:
    """Rows of the partitions as now held that the normalized layer rejected (bad values)."""
    spec = scope.spec
    count, sample = _offenders(
        scope.reader,
        "SELECT q.partition_key, q.raw_id, q.reason FROM meta_quarantine q "
        "JOIN meta_partition_latest l ON l.table_name = q.table_name "
        "AND l.partition_key = q.partition_key AND l.write_id = q.write_id "
        "WHERE q.table_name = $table",
        "partition_key DESC, raw_id",
        {"table": spec.name},
    )
    return _verdict(
        scope,
        count,
        sample,
        ok="no row of its current partitions was quarantined",
        bad="upstream row(s) quarantined (see meta_quarantine; they stay in the raw table)",
        counter="quarantined_rows",
    )


def no_unknown_columns(scope: Scope) -> Outcome:
    """Upstream columns sql/ does not declare, in the raw answers the table now holds (read
    from the raw file under the writer lock)."""
    raw = table_spec(f"raw_{scope.spec.api}").name
    count, sample = _offenders(
        WarehouseWriter.from_settings(scope.settings),
        f"SELECT k AS column_name, count(*) AS raw_rows, min(r.partition_key) AS first_partition "
        f"FROM {raw} r JOIN meta_partition_latest l ON l.table_name = '{raw}' "
        "AND l.partition_key = r.partition_key AND r.raw_id BETWEEN l.raw_id_min AND l.raw_id_max, "
        "unnest(json_keys(r.extra_fields)) AS t(k) WHERE r.extra_fields IS NOT NULL GROUP BY k",
        "raw_rows DESC, column_name",
    )
    return _verdict(
        scope,
        count,
        sample,
        ok="the upstream sent no column that sql/ does not declare",
        bad=f"upstream column(s) not declared in sql/ (kept in {raw}.extra_fields; "
        "the schema may have drifted)",
        counter="unknown_columns",
    )


KINDS = (
    CheckKind(
        "primary_key_unique",
        lambda spec: (
            f"No two rows share the primary key ({', '.join(spec.primary_key)}) declared in sql/."
        ),
        primary_key_unique,
    ),
    CheckKind(
        "required_not_null",
        lambda spec: f"{', '.join(required_columns(spec))} are never NULL.",
        required_not_null,
    ),
    CheckKind(
        "ohlc_sane",
        "Every bar has low <= open, close <= high, low <= high and positive prices.",
        ohlc_sane,
    ),
    CheckKind(
        "rows_match_listed",
        f"Each stored trade date has {MIN_LISTED_RATIO:.0%}..{MAX_LISTED_RATIO:.0%} as many "
        "rows as stocks listed that day per normalized_stock_basic.",
        rows_match_listed,
    ),
    CheckKind(
        "matches_daily",
        "Bars whose period is fully covered by normalized_daily agree with it: high = max, "
        "low = min, close = last close, vol = sum.",
        matches_daily,
    ),
    CheckKind(
        "no_calendar_gaps",
        "Every open day of the configured exchange between the first and last stored "
        "trade_date has rows.",
        no_calendar_gaps,
    ),
    CheckKind(
        "no_quarantined_rows",
        "No upstream row of the partitions now held was rejected into meta_quarantine.",
        no_quarantined_rows,
    ),
    CheckKind(
        "no_unknown_columns",
        "The raw answers now held carry no column that sql/ does not declare.",
        no_unknown_columns,
    ),
)


def run_probe(
    spec: TableSpec,
    probe: Probe,
    name: str,
    dates: tuple[str, str] | None = None,
    grain: Grain | None = None,
    reader: WarehouseReader | None = None,
) -> AssetCheckResult:
    """Run ``probe`` on one state of the warehouse (the run's ``dates`` of a trade-date table,
    else the whole table); no rows passes. ``grain`` defaults to the table's in the catalog.

    ``reader``: one the caller keeps open for several probes (a snapshot opened once, not
    once per probe); by default one of its own."""
    settings = get_settings()
    if reader is None:
        with WarehouseReader.from_settings(settings, pool_size=1) as own:
            return run_probe(spec, probe, name, dates, grain, own)
    if grain is None and spec.api in CATALOG:
        grain = CATALOG[spec.api].grain
    asset_key = AssetKey(["normalized", spec.api])
    try:
        with reader.held() as source:
            scope = Scope.of(reader, spec, settings, dates, grain)
            outcome = probe(scope) if scope.rows else Outcome(True, f"{spec.name}: no rows yet")
    except SnapshotUnavailableError:
        return AssetCheckResult(
            asset_key=asset_key,
            check_name=name,
            passed=True,
            description=f"{spec.name}: no rows yet (no snapshot published)",
        )
    checked = f"{scope.dates[0]}..{scope.dates[1]}" if scope.dates else "whole table"
    return AssetCheckResult(
        asset_key=asset_key,
        check_name=name,
        passed=outcome.passed,
        description=outcome.description,
        metadata={
            "table_rows": scope.rows, "checked_dates": checked,
            "read": source, **outcome.metadata,
        },
    )  # fmt: skip


def build_table_checks(entry: Table, kinds: Sequence[CheckKind]) -> AssetChecksDefinition:
    """Every check kind the entry names, on ``normalized/<api>``, as one step.

    One step per table rather than per check: each step of a multiprocess run is a process
    start-up, and a dozen of them cost more than the queries themselves.
    """
    spec = entry.spec
    chosen = [kind for kind in kinds if kind.name in entry.checks]

    @multi_asset_check(
        name=f"{entry.api}_checks",
        specs=[
            AssetCheckSpec(
                kind.name,
                asset=AssetKey(["normalized", entry.api]),
                description=kind.describe(spec),
                blocking=False,
            )
            for kind in chosen
        ],
    )
    def _checks(context: AssetCheckExecutionContext) -> Iterator[AssetCheckResult]:
        dates = run_dates(context)
        with WarehouseReader.from_settings(get_settings(), pool_size=1) as reader:
            for kind in chosen:
                yield run_probe(spec, kind.probe, kind.name, dates, entry.grain, reader)

    return _checks


def build_checks(catalog: Catalog, kinds: Sequence[CheckKind]) -> list[AssetChecksDefinition]:
    """One check step per catalog table; a check name no kind implements is an error."""
    known = {kind.name for kind in kinds}
    unknown = {t.api: sorted(set(t.checks) - known) for t in catalog if set(t.checks) - known}
    if unknown:
        raise CatalogError(f"catalog entries name checks that do not exist: {unknown}")
    return [build_table_checks(entry, kinds) for entry in catalog if entry.checks]
