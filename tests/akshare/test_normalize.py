"""AKShare's answers in Tushare's names and units, proved against a direct calculation.

The real ``akshare`` functions run over HTTP against the simulator; the expected values are
computed here from the same simulated market's Tushare answers: amount (yuan) = Tushare amount
(thousand yuan) x 1000, volume in whole lots, codes ``600000`` <-> ``600000.SH``.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from twilight_resources.akshare import (
    AkshareClient,
    UnsupportedCodeError,
    amount_to_tushare,
    load_akshare,
    to_symbol,
    to_ts_code,
)
from twilight_sim.server import SimServer

CODES = ("600000.SH", "000001.SZ", "300001.SZ", "688001.SH")


@pytest.mark.parametrize(
    ("ts_code", "symbol"),
    [("600000.SH", "600000"), ("000001.SZ", "000001"), ("300750.SZ", "300750"),
     ("688001.SH", "688001")],
)  # fmt: skip
def test_codes_round_trip(ts_code: str, symbol: str) -> None:
    assert to_symbol(ts_code) == symbol
    assert to_ts_code(symbol) == ts_code


def test_codes_akshare_cannot_address_are_refused() -> None:
    for bad in ("830799.BJ", "000001.SH", "600000.SZ", "600000", "000300.CSI"):
        with pytest.raises(UnsupportedCodeError):
            to_symbol(bad)
    assert to_ts_code("830799") == "830799.BJ"


def test_amount_unit() -> None:
    assert amount_to_tushare(123_456_789.0) == pytest.approx(123_456.789)


def tushare_daily(sim: SimServer, ts_code: str, start: str, end: str) -> pd.DataFrame:
    frame = sim.market.query("daily", ts_code=ts_code, start_date=start, end_date=end, now=end)
    return frame.sort_values("trade_date", ascending=False, ignore_index=True)


@pytest.mark.parametrize("ts_code", CODES)
def test_hist_raw_units_against_tushare(sim: SimServer, ak_client: AkshareClient, ts_code: str):
    raw = load_akshare().stock_zh_a_hist(to_symbol(ts_code), "daily", "20240601", "20240731")
    ts = tushare_daily(sim, ts_code, "20240601", "20240731").iloc[::-1].reset_index(drop=True)
    assert len(raw) == len(ts) > 0
    # Eastmoney's units, as akshare returns them: yuan and whole lots.
    assert (raw["成交额"] == (ts["amount"] * 1000).round(2)).all()
    assert (raw["成交量"] == ts["vol"].round()).all()
    assert (raw["收盘"] == ts["close"]).all() and (raw["开盘"] == ts["open"]).all()


@pytest.mark.parametrize("ts_code", CODES)
def test_hist_normalized_equals_tushare(sim: SimServer, ak_client: AkshareClient, ts_code: str):
    got = ak_client.daily(ts_code, date(2024, 6, 1), date(2024, 7, 31))
    ts = tushare_daily(sim, ts_code, "20240601", "20240731")
    assert got.columns.tolist() == ts.columns.tolist()  # Tushare's names, in Tushare's order
    assert (got["ts_code"] == ts_code).all() and (got["trade_date"] == ts["trade_date"]).all()
    for column in ("open", "high", "low", "close", "pre_close", "change"):
        assert got[column].tolist() == pytest.approx(ts[column].tolist(), abs=1e-9), column
    assert got["amount"].tolist() == pytest.approx(ts["amount"].tolist(), rel=1e-12)
    assert (got["vol"] - ts["vol"]).abs().max() <= 0.5  # whole lots vs Tushare's decimals
    assert got["pct_chg"].tolist() == pytest.approx(ts["pct_chg"].tolist(), abs=0.006)


def test_qfq_and_hfq_follow_the_adjustment_factor(sim: SimServer, ak_client: AkshareClient):
    code = "000001.SZ"
    factors = sim.market.query(
        "adj_factor", ts_code=code, start_date="20240501", end_date="20240731"
    ).set_index("trade_date")["adj_factor"]
    latest = factors.loc[factors.index.max()]
    raw = ak_client.daily(code, "20240501", "20240731").set_index("trade_date")
    hfq = ak_client.daily(code, "20240501", "20240731", "hfq").set_index("trade_date")
    qfq = ak_client.daily(code, "20240501", "20240731", "qfq").set_index("trade_date")
    expected_hfq = (raw["close"] * factors.reindex(raw.index)).round(2)
    expected_qfq = (raw["close"] * factors.reindex(raw.index) / latest).round(2)
    assert (hfq["close"] - expected_hfq).abs().max() <= 0.011
    assert (qfq["close"] - expected_qfq).abs().max() <= 0.011
    assert factors.nunique() > 1  # an ex-dividend day inside the range makes this meaningful


def test_intraday_bar_unfolds_to_tushare_close(sim: SimServer, ak_client: AkshareClient):
    code, day = "600000.SH", date(2024, 7, 15)
    ts = tushare_daily(sim, code, "20240715", "20240715").iloc[0]
    sim.set_clock("20240715T10:30")  # a quarter of the 240 trading minutes
    bar = ak_client.today(code, day)
    assert bar["close"] == pytest.approx(round(ts["open"] + (ts["close"] - ts["open"]) * 0.25, 2))
    assert bar["amount"] == pytest.approx(round(ts["amount"] * 1000 * 0.25, 2) / 1000)
    quote = ak_client.quote(code)
    assert quote["price"] == bar["close"] and quote["pre_close"] == ts["pre_close"]
    sim.set_clock("20240715T15:30")
    assert ak_client.today(code, day)["close"] == ts["close"]
    assert ak_client.quote(code)["amount"] == pytest.approx(ts["amount"])


def test_spot_list_after_the_close_equals_tushare_daily(sim: SimServer, ak_client):
    sim.set_clock("20240712T15:30")
    spot = ak_client.spot("20240712").set_index("ts_code").sort_index()
    ts = sim.market.query("daily", trade_date="20240712", now="20240712")
    ts = ts.set_index("ts_code").sort_index()
    assert spot.index.tolist() == ts.index.tolist()
    assert spot["close"].tolist() == ts["close"].tolist()
    assert spot["amount"].tolist() == pytest.approx(ts["amount"].tolist(), rel=1e-12)
    assert spot["vol"].tolist() == ts["vol"].round().tolist()
