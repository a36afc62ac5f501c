"""AKShare's answers in Tushare's names, units and codes.

Units (Eastmoney, through ``akshare``): volume in lots (手, 100 shares), amount in yuan; Tushare's
``daily``: ``vol`` in lots, ``amount`` in thousand yuan. Codes: ``600000`` vs ``600000.SH``.
Prices are unadjusted unless asked otherwise, in yuan in both.
"""

from __future__ import annotations

import re
from datetime import date

import pandas as pd

YUAN_PER_TUSHARE_AMOUNT = 1000.0  # Tushare's amount unit is thousand yuan
SHARES_PER_LOT = 100  # Eastmoney's and Tushare's volume unit is the lot (手)
DAILY_COLUMNS = (
    "ts_code", "trade_date", "open", "high", "low", "close", "pre_close", "change", "pct_chg",
    "vol", "amount",
)  # fmt: skip


class UnsupportedCodeError(ValueError):
    """A code AKShare's Eastmoney functions cannot address (e.g. Beijing, indices)."""


def to_symbol(ts_code: str) -> str:
    """``600000.SH`` -> ``600000``: Eastmoney's functions take the bare six digits."""
    match = re.fullmatch(r"(\d{6})\.(SH|SZ)", ts_code.strip().upper())
    if match is None:
        raise UnsupportedCodeError(f"{ts_code}: AKShare answers Shanghai/Shenzhen A shares only")
    symbol, exchange = match.groups()
    # stock_zh_a_hist picks the market from the first digit (6 = Shanghai); check we agree.
    if (exchange == "SH") != symbol.startswith("6"):
        raise UnsupportedCodeError(f"{ts_code}: not an A-share code of {exchange}")
    return symbol


def to_ts_code(symbol: str) -> str:
    """``600000`` -> ``600000.SH``, ``000001`` -> ``000001.SZ``, ``830799`` -> ``830799.BJ``."""
    symbol = str(symbol).strip().zfill(6)
    if symbol.startswith("6"):
        return f"{symbol}.SH"
    if symbol.startswith(("0", "2", "3")):
        return f"{symbol}.SZ"
    if symbol.startswith(("4", "8", "92")):
        return f"{symbol}.BJ"
    raise UnsupportedCodeError(f"{symbol}: not a known A-share code")


def amount_to_tushare(yuan: pd.Series | float) -> pd.Series | float:
    """Yuan (AKShare) -> thousand yuan (Tushare)."""
    return yuan / YUAN_PER_TUSHARE_AMOUNT


def hist_to_daily(frame: pd.DataFrame, ts_code: str) -> pd.DataFrame:
    """``stock_zh_a_hist`` rows -> Tushare ``daily`` rows (newest first, like Tushare).

    Built column by column from arrays: a check asks thousands of one-row answers, and
    pandas' per-call overhead (rename, to_datetime, sort) would cost more than the request.
    """
    if frame.empty:
        return pd.DataFrame(columns=list(DAILY_COLUMNS))
    frame = frame.iloc[::-1]  # akshare answers oldest first
    close = frame["收盘"].to_numpy(dtype=float)
    change = frame["涨跌额"].to_numpy(dtype=float)
    return pd.DataFrame(
        {
            "ts_code": ts_code,
            "trade_date": [_yyyymmdd(d) for d in frame["日期"]],
            "open": frame["开盘"].to_numpy(dtype=float),
            "high": frame["最高"].to_numpy(dtype=float),
            "low": frame["最低"].to_numpy(dtype=float),
            "close": close,
            # Eastmoney gives the change, not the previous close: Tushare's is close - change.
            "pre_close": (close - change).round(2),
            "change": change,
            "pct_chg": frame["涨跌幅"].to_numpy(dtype=float),
            "vol": frame["成交量"].to_numpy(dtype=float),
            "amount": frame["成交额"].to_numpy(dtype=float) / YUAN_PER_TUSHARE_AMOUNT,
        }
    )


def _yyyymmdd(value: object) -> str:
    if isinstance(value, date):  # also datetime and pandas' Timestamp
        return value.strftime("%Y%m%d")
    return str(value)[:10].replace("-", "")


def spot_to_daily(frame: pd.DataFrame, trade_date: str) -> pd.DataFrame:
    """``stock_zh_a_spot_em`` rows -> Tushare ``daily`` rows for ``trade_date`` (traded only)."""
    out = pd.DataFrame(
        {
            "ts_code": frame["代码"].map(to_ts_code),
            "trade_date": trade_date,
            "open": frame["今开"],
            "high": frame["最高"],
            "low": frame["最低"],
            "close": frame["最新价"],
            "pre_close": frame["昨收"],
            "change": frame["涨跌额"],
            "pct_chg": frame["涨跌幅"],
            "vol": frame["成交量"].astype(float),
            "amount": amount_to_tushare(frame["成交额"].astype(float)),
        }
    )
    return out[out["close"].notna()].reset_index(drop=True)


def bid_ask_to_quote(frame: pd.DataFrame) -> dict[str, float]:
    """``stock_bid_ask_em`` (item/value rows) -> price fields in Tushare's units."""
    items = dict(zip(frame["item"], frame["value"], strict=True))
    return {
        "price": float(items["最新"]),
        "open": float(items["今开"]),
        "high": float(items["最高"]),
        "low": float(items["最低"]),
        "pre_close": float(items["昨收"]),
        "vol": float(items["总手"]),
        "amount": float(amount_to_tushare(float(items["金额"]))),
    }
