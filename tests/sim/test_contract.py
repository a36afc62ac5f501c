"""Contract: the simulator's columns and value types match real Tushare output.

Sources, in order of authority: the real CSV files and doc samples in ../shared/fixtures/tushare,
then FIELDS.md (parsed here) where no data exists. Everything goes over real HTTP.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pandas as pd
import pytest

from twilight_sim.fields import VIP_BASE
from twilight_sim.market import Market
from twilight_sim.server import SimServer
from twilight_sim.testing import call, tushare_client

# FIELDS.md documents is_open as str, but real data is a bare 0/1 (see the trade_cal fixture)
# and client code everywhere filters with ``is_open == 1``: the service sends an integer.
TYPE_OVERRIDES = {("trade_cal", "is_open"): "int"}
# Columns the fixture's author added to a real export (SOURCES.md says so).
NOT_TUSHARE = {"index_weight": {"prev", "pct_chg"}}
BASE_APIS = [
    "stock_basic",
    "trade_cal",
    "daily",
    "adj_factor",
    "daily_basic",
    "weekly",
    "monthly",
    "index_basic",
    "index_daily",
    "index_dailybasic",
    "index_weight",
    "income",
    "balancesheet",
    "cashflow",
    "fina_indicator",
    "forecast",
    "express",
    "disclosure_date",
]
ALL_APIS = BASE_APIS + sorted(VIP_BASE)


def parse_fields_md(path: Path) -> dict[str, list[tuple[str, str, bool]]]:
    """{api: [(field, type, shown by default)]} from FIELDS.md's tables."""
    out: dict[str, list[tuple[str, str, bool]]] = {}
    for section in re.split(r"^## ", path.read_text(encoding="utf-8"), flags=re.M)[1:]:
        api = section.split("\n", 1)[0].strip()
        rows = re.findall(r"^\| (\w+) \| (\w+) \| (Y|N|) \|", section, flags=re.M)
        if rows:
            out[api] = [(name, kind, flag != "N") for name, kind, flag in rows]
    return out


def value_kind(text: str) -> str | None:
    """How a printed value looks: 'float', 'digits' (date or int), 'str'; None if missing."""
    if text in ("", "None", "NaN", "nan"):
        return None
    if re.fullmatch(r"-?\d+", text):
        return "digits"
    if re.fullmatch(r"-?(\d+\.\d*|\.\d+|\d+(\.\d+)?[eE][-+]?\d+)", text):
        return "float"
    return "str"


def parse_doc_sample(path: Path) -> dict[str, set[str]]:
    """{column: kinds seen} from a printed DataFrame (wrapped blocks and all)."""
    kinds: dict[str, set[str]] = {}
    header: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        tokens = [t for t in line.split() if t != "\\"]
        if not tokens:
            continue
        if not re.fullmatch(r"\d+", tokens[0]):
            header = tokens
            continue
        values = tokens[1:]
        if len(values) != len(header):
            continue  # a truncated or wrapped row; its columns are checked elsewhere
        for name, value in zip(header, values, strict=True):
            kind = value_kind(value)
            if kind:
                kinds.setdefault(name, set()).add(kind)
    return kinds


def parse_csv(path: Path) -> dict[str, set[str]]:
    with path.open(encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        kinds: dict[str, set[str]] = {name: set() for name in reader.fieldnames or []}
        for row in reader:
            for name, value in row.items():
                kind = value_kind(value or "")
                if kind:
                    kinds[name].add(kind)
    return kinds


CSV_API = {
    "daily": "daily",
    "daily_basic": "daily_basic",
    "fina_indicator": "fina_indicator",
    "index_daily": "index_daily",
    "index_dailybasic": "index_dailybasic",
    "index_weight": "index_weight",
    "stock_basic": "stock_basic",
    "trade_cal": "trade_cal",
}


def real_samples(fixtures: Path) -> list[tuple[str, str, dict[str, set[str]]]]:
    samples = []
    for folder, api in CSV_API.items():
        for path in sorted((fixtures / folder).glob("*.csv")):
            if "qfq" not in path.name:  # a forward-adjusted export, not raw API output
                samples.append((api, path.name, parse_csv(path)))
    for path in sorted((fixtures / "doc_samples").glob("*.txt")):
        samples.append((path.stem, path.name, parse_doc_sample(path)))
    return samples


def sample_params(market: Market) -> dict[str, dict[str, object]]:
    """Params that give every API a non-empty answer on the test market."""
    express = market.query("express_vip", period="20231231")
    forecast = market.query("forecast_vip", period="20231231")
    code = str(express["ts_code"].iloc[0])
    month_start = str(
        market.query("trade_cal", start_date="20240701", end_date="20240731", is_open="1")[
            "cal_date"
        ].min()
    )
    return {
        "stock_basic": {},
        "trade_cal": {"start_date": "20240101", "end_date": "20240131"},
        "daily": {"trade_date": "20240510"},
        "adj_factor": {"ts_code": code},
        "daily_basic": {"trade_date": "20240510"},
        "weekly": {"ts_code": code},
        "monthly": {"ts_code": code},
        "index_basic": {},
        "index_daily": {"ts_code": "000300.SH"},
        "index_dailybasic": {"trade_date": "20240510"},
        "index_weight": {"index_code": "000300.SH", "trade_date": month_start},
        "income": {"ts_code": code},
        "balancesheet": {"ts_code": code},
        "cashflow": {"ts_code": code},
        "fina_indicator": {"ts_code": code},
        "forecast": {"ts_code": str(forecast["ts_code"].iloc[0])},
        "express": {"ts_code": code},
        "disclosure_date": {"end_date": "20231231"},
        **{vip: {"period": "20231231"} for vip in VIP_BASE},
    }


@pytest.fixture(scope="module")
def documented(fixtures_dir: Path) -> dict[str, list[tuple[str, str, bool]]]:
    return parse_fields_md(fixtures_dir / "FIELDS.md")


@pytest.fixture(scope="module")
def params(market: Market) -> dict[str, dict[str, object]]:
    return sample_params(market)


def _doc_api(api: str) -> str:
    return VIP_BASE.get(api, api)


def _json_kind(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    return {str: "str", int: "int", float: "float"}.get(type(value), type(value).__name__)


@pytest.mark.parametrize("api", ALL_APIS)
def test_default_columns_and_types_match_fields_md(
    api: str, sim: SimServer, documented: dict, params: dict
) -> None:
    doc = documented[_doc_api(api)]
    default = [name for name, _, shown in doc if shown]
    answer = call(sim.url, api, params[api])
    assert answer["code"] == 0, answer["msg"]
    data = answer["data"]
    assert data["fields"] == default
    assert data["items"], f"{api} answered no rows for {params[api]}"
    everything = call(sim.url, api, params[api], fields=",".join(n for n, _, _ in doc))["data"]
    assert everything["fields"] == [name for name, _, _ in doc]
    expected = {name: TYPE_OVERRIDES.get((api, name), kind) for name, kind, _ in doc}
    for col, name in enumerate(everything["fields"]):
        seen = {_json_kind(row[col]) for row in everything["items"]} - {None}
        want = expected[name]
        assert seen <= {want}, f"{api}.{name}: JSON values {seen}, documented {want}"
        if want == "str" and name.endswith("date") and seen:
            assert all(
                re.fullmatch(r"\d{8}", row[col])
                for row in everything["items"]
                if row[col] is not None
            ), f"{api}.{name} is not YYYYMMDD"


def test_every_real_sample_column_exists_with_the_real_kind(
    sim: SimServer, fixtures_dir: Path, documented: dict, params: dict
) -> None:
    checked = 0
    for api, source, kinds in real_samples(fixtures_dir):
        names = [n for n, _, _ in documented[api]]
        columns = [c for c in kinds if c not in NOT_TUSHARE.get(api, set())]
        assert set(columns) <= set(names), f"{source}: columns outside FIELDS.md"
        data = call(sim.url, api, params[api], fields=",".join(names))["data"]
        assert data["items"], f"{api} answered no rows"
        index = {name: i for i, name in enumerate(data["fields"])}
        for column in columns:
            sim_kinds = {_json_kind(row[index[column]]) for row in data["items"]} - {None}
            real = kinds[column]
            if "str" in real:
                assert sim_kinds <= {"str"}, f"{source}:{column} real str, simulated {sim_kinds}"
            elif "float" in real:
                assert sim_kinds <= {"float"}, f"{source}:{column} real float, sim {sim_kinds}"
            elif real == {"digits"}:
                # Dates and flags print as bare digits: a digit string or an int.
                values = [row[index[column]] for row in data["items"] if row[index[column]]]
                assert all(re.fullmatch(r"\d+", str(v)) for v in values), f"{source}:{column}"
            checked += 1
    assert checked > 150


def _decimals(text: str) -> int:
    return len(text.split(".")[1].rstrip("0")) if "." in text and "e" not in text else 0


def _doc_sample_rows(path: Path) -> list[dict[str, str]]:
    """Rows of a printed DataFrame whose values line up with the header in force."""
    rows, header = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        tokens = [t for t in line.split() if t != "\\"]
        if not tokens:
            continue
        if not re.fullmatch(r"\d+", tokens[0]):
            header = tokens
        elif len(tokens) - 1 == len(header):
            rows.append(dict(zip(header, tokens[1:], strict=True)))
    return rows


def real_decimals(fixtures: Path) -> dict[str, dict[str, int]]:
    """{api: {float column: most decimals any real value shows}} over CSVs and doc samples
    (values printed in scientific notation say nothing about decimals and are left out)."""
    out: dict[str, dict[str, int]] = {}

    def add(api: str, rows: list[dict[str, str]]) -> None:
        seen = out.setdefault(api, {})
        for row in rows:
            for name, value in row.items():
                plain = re.fullmatch(r"-?\d+\.\d+", value or "")
                if plain and name not in NOT_TUSHARE.get(api, set()):
                    seen[name] = max(seen.get(name, 0), _decimals(value))

    for folder, api in CSV_API.items():
        for path in sorted((fixtures / folder).glob("*.csv")):
            if "qfq" not in path.name:
                with path.open(encoding="utf-8") as fh:
                    add(api, list(csv.DictReader(fh)))
    for path in sorted((fixtures / "doc_samples").glob("*.txt")):
        add(path.stem, _doc_sample_rows(path))
    return out


PRECISION_PARAMS = {
    "daily": [{"trade_date": d} for d in ("20220104", "20230601", "20240510")],
    "daily_basic": [{"trade_date": d} for d in ("20220104", "20240510")],
}


def test_float_precision_matches_real_data(
    sim: SimServer, fixtures_dir: Path, documented: dict, params: dict
) -> None:
    """No simulated float prints more decimals than real Tushare output of that field shows
    (prices and changes to the fen, EPS to 2 places, pct_chg to 4...): no float noise."""
    checked = 0
    for api, real in sorted(real_decimals(fixtures_dir).items()):
        names = [n for n, _, _ in documented[api]]
        for p in PRECISION_PARAMS.get(api, [params[api]]):
            data = call(sim.url, api, p, fields=",".join(names))["data"]
            assert data["items"], f"{api} answered no rows for {p}"
            for col, name in enumerate(data["fields"]):
                values = [row[col] for row in data["items"] if isinstance(row[col], float)]
                if name not in real or not values:
                    continue
                most = max(values, key=lambda v: _decimals(repr(v)))
                assert _decimals(repr(most)) <= real[name], (
                    f"{api}.{name}: {most!r} has more decimals than real data ({real[name]})"
                )
                checked += 1
    assert checked > 100


def test_daily_default_column_order_is_the_real_order(sim: SimServer, fixtures_dir: Path) -> None:
    with (fixtures_dir / "daily" / "000001.SZ_jennyfzz.csv").open() as fh:
        header = next(csv.reader(fh))
    assert call(sim.url, "daily", {"trade_date": "20240510"})["data"]["fields"] == header
    with (fixtures_dir / "fina_indicator" / "600036.SH_bancob.csv").open() as fh:
        header = next(csv.reader(fh))
    code = str(sim.market.query("express_vip", period="20231231")["ts_code"].iloc[0])
    fields = call(sim.url, "fina_indicator", {"ts_code": code})["data"]["fields"]
    assert fields == header


def test_calendar_matches_the_real_sse_calendar(sim: SimServer, fixtures_dir: Path) -> None:
    with (fixtures_dir / "trade_cal" / "trade_cal_2023_2025_bancob.csv").open() as fh:
        real = {r["cal_date"]: r["pretrade_date"] for r in csv.DictReader(fh)}
    from twilight_sim.calendar import TradingCalendar

    cal = TradingCalendar(int(min(real)), int(max(real)))
    simulated = {
        str(d): str(p)
        for d, p, o in zip(cal.cal_dates, cal.pretrade, cal.is_open, strict=True)
        if o
    }
    assert simulated == real


def test_tushare_sdk_gets_dataframes(sim: SimServer, params: dict) -> None:
    pro = tushare_client(sim)
    for api in ALL_APIS:
        frame = pro.query(api, **params[api])
        assert isinstance(frame, pd.DataFrame) and len(frame) > 0, api
    daily = pro.daily(ts_code="000001.SZ,600000.SH", start_date="20240102", end_date="20240110")
    assert list(daily.columns)[:2] == ["ts_code", "trade_date"]
    assert daily["close"].dtype == float and daily["trade_date"].dtype == object
    cal = pro.trade_cal(exchange="SSE", start_date="20240101", end_date="20240131")
    assert set(cal["is_open"]) == {0, 1}
