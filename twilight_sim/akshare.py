"""Eastmoney's quote endpoints, as the ``akshare`` functions we use call them, on the same market.

``akshare`` scrapes Eastmoney (push2his/push2 hosts); twilight routes those requests here (see
``twilight_resources.akshare.routing``), so the real ``akshare`` request and parsing code runs
offline. Paths, parameters and JSON shapes follow Eastmoney; values come from the simulated
market, so both sources agree unless a disagreement is injected:

* ``GET /api/qt/stock/kline/get`` (``stock_zh_a_hist``): daily bars, volume in lots (integer),
  amount in yuan (Tushare's thousand yuan x 1000), qfq/hfq through the adjustment factor.
* ``GET /api/qt/stock/get`` (``stock_bid_ask_em``): one stock's quote now.
* ``GET /api/qt/clist/get`` (``stock_zh_a_spot_em``): the market-wide list, ``pz`` rows a page.

Intraday, a day's bar unfolds linearly over the 240 minutes of continuous trading (open at
09:30, the day's close at 15:00), so a quote after the close equals Tushare's bar.
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from twilight_sim.calendar import to_int
from twilight_sim.service import Route, SimRequest, SimResponse
from twilight_sim.stats import ServedStats
from twilight_sim.universe import limit_pct

if TYPE_CHECKING:
    from twilight_sim.market import Market

KLINE_PATH = r"/api/qt/stock/kline/get"
QUOTE_PATH = r"/api/qt/stock/get"
CLIST_PATH = r"/api/qt/clist/get"
OPEN, LUNCH_START, LUNCH_END, CLOSE = time(9, 30), time(11, 30), time(13, 0), time(15, 0)
SESSION_MINUTES = 240
RANGE_CACHE = 8  # whole-market bar ranges kept (see EastmoneyService._daily)
ADJUST = {"0": "", "1": "qfq", "2": "hfq"}
SPOT_KEYS = (
    "f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8", "f9", "f10", "f11", "f12", "f13", "f14",
    "f15", "f16", "f17", "f18", "f20", "f21", "f22", "f23", "f24", "f25", "f62", "f115", "f128",
    "f140", "f141", "f136", "f152",
)  # fmt: skip
Compared = Literal["close", "vol", "amount"]
Handler = Callable[[dict[str, str]], dict[str, object]]


class Disagreement(BaseModel):
    """Multiply one field of one stock's bar (and quote) on one day: a fault to be caught."""

    model_config = ConfigDict(extra="forbid")

    ts_code: str
    trade_date: str = Field(pattern=r"^\d{8}$")
    field: Compared = "close"
    factor: float = 1.05


class AkshareFaults(BaseModel):
    """What is wrong with the Eastmoney side now (``/_sim/akshare`` shows and changes it)."""

    model_config = ConfigDict(extra="forbid")

    down: bool = False  # answer 502 to every request
    latency_ms: float = Field(0.0, ge=0)
    disagreements: list[Disagreement] = Field(default_factory=list)


def session_fraction(now: datetime) -> float:
    """Share of the day's continuous trading that has passed at ``now`` (0 before, 1 after)."""
    clock = now.time()
    if clock <= OPEN:
        return 0.0
    if clock >= CLOSE:
        return 1.0
    minutes = (clock.hour * 60 + clock.minute + clock.second / 60) - (9 * 60 + 30)
    if clock >= LUNCH_END:
        minutes -= 90
    elif clock >= LUNCH_START:
        minutes = 120
    return min(max(minutes / SESSION_MINUTES, 0.0), 1.0)


@dataclass(frozen=True)
class Bar:
    """One stock's bar for one day as Eastmoney shows it (volume in lots, amount in yuan)."""

    trade_date: int
    open: float
    close: float
    high: float
    low: float
    pre_close: float
    vol: float
    amount: float
    turnover: float


def _exchange_code(ts_code: str) -> tuple[int, str]:
    symbol, _, suffix = ts_code.partition(".")
    return (1 if suffix == "SH" else 0), symbol


class EastmoneyService:
    """Answers the Eastmoney requests of ``akshare`` from ``market``."""

    def __init__(self, market: Market, stats: ServedStats | None = None) -> None:
        self.market = market
        self.stats = stats
        self.faults = AkshareFaults()
        self._lock = threading.Lock()
        self._build = threading.Lock()
        self._ranges: OrderedDict[tuple[int, int], pd.DataFrame] = OrderedDict()
        self._codes = {_exchange_code(c)[1]: c for c in market.universe.ts_code}

    def routes(self) -> list[Route]:
        """The Eastmoney paths it answers, for the server to mount."""
        return [
            ("GET", KLINE_PATH, lambda r, m: self._guarded("kline", r, self.kline)),
            ("GET", QUOTE_PATH, lambda r, m: self._guarded("quote", r, self.quote)),
            ("GET", CLIST_PATH, lambda r, m: self._guarded("clist", r, self.clist)),
        ]

    def configure(self, faults: AkshareFaults) -> AkshareFaults:
        with self._lock:
            self.faults = faults
        return faults

    # --- routing helpers -------------------------------------------------------------------

    def _guarded(self, name: str, request: SimRequest, handler: Handler) -> SimResponse:
        if self.stats is not None:
            self.stats.call(f"akshare:{name}")
        faults = self.faults
        if faults.down:
            return SimResponse(502, b"Bad Gateway", "text/plain", wait_s=faults.latency_ms / 1000)
        payload = handler(request.query)
        body = json.dumps(payload, ensure_ascii=False).encode()
        return SimResponse(200, body, wait_s=faults.latency_ms / 1000)

    def _ts_code(self, secid: str | None) -> str | None:
        match = re.fullmatch(r"([01])\.(\d{6})", secid or "")
        if match is None:
            return None
        code = self._codes.get(match.group(2))
        if code is None or _exchange_code(code)[0] != int(match.group(1)):
            return None
        return code

    def _factor(self, ts_code: str, trade_date: int, field: str) -> float:
        factor = 1.0
        for d in self.faults.disagreements:
            if d.ts_code == ts_code and int(d.trade_date) == trade_date and d.field == field:
                factor *= d.factor
        return factor

    # --- the market as Eastmoney sees it -----------------------------------------------------

    def _daily(self, ts_code: str | None, start: int, end: int) -> pd.DataFrame:
        """Complete Tushare daily bars with turnover, days ``start..end`` (no publish delay).

        One stock's bars are computed on demand (a few milliseconds); the whole market's (the
        spot list asks one day of it) are built once per range, by one thread at a time, and a
        handful kept. Building the whole market for one stock's request would cost a by-date
        call per kline, and several in flight built it several times over at once.
        """
        if ts_code is not None:
            return self._bars_of(ts_code, start, end)
        key = (start, end)
        with self._build:  # requests in flight for the same range share one build
            hit = self._ranges.get(key)
            if hit is None:
                hit = self._ranges[key] = self._bars_of(None, start, end)
                while len(self._ranges) > RANGE_CACHE:
                    self._ranges.popitem(last=False)
            self._ranges.move_to_end(key)
            return hit

    def _bars_of(self, ts_code: str | None, start: int, end: int) -> pd.DataFrame:
        params: dict[str, str] = {
            "start_date": str(start),
            "end_date": str(end),
            "now": f"{end}T23:59:59",
        }
        if ts_code is not None:
            params["ts_code"] = ts_code
        bars = self.market.query("daily", **params)
        if not bars.empty:
            basic = self.market.query(
                "daily_basic", fields="ts_code,trade_date,turnover_rate", **params
            )
            bars = bars.merge(basic, on=["ts_code", "trade_date"], how="left")
        return bars

    def bars(self, ts_code: str | None, start: int, end: int, now: datetime) -> list[Bar]:
        """Bars Eastmoney would show at ``now``: complete days, and today's so far."""
        today, fraction = to_int(now.date()), session_fraction(now)
        last = min(end, today)
        frame = self._daily(ts_code, start, last)
        out = []
        ordered = frame.sort_values(["ts_code", "trade_date"])
        days = ordered["trade_date"].astype(int).tolist()
        for day, row in zip(days, ordered.itertuples(index=False), strict=True):
            share = fraction if day == today else 1.0
            if share <= 0.0:
                continue  # before today's open there is no bar for today yet
            out.append(self._bar(row, day, share))
        return out

    def _bar(self, r: Any, day: int, share: float) -> Bar:
        """``r``: a row of Tushare daily columns plus turnover_rate; ``share``: of the session."""
        o, c, h, lo = (float(getattr(r, k)) for k in ("open", "close", "high", "low"))
        price = c if share >= 1.0 else round(o + (c - o) * share, 2)
        high = h if share >= 1.0 else round(max(o, price, o + (h - o) * share), 2)
        low = lo if share >= 1.0 else round(min(o, price, o + (lo - o) * share), 2)
        code = str(r.ts_code)
        vol = round(float(r.vol) * share)
        amount = round(float(r.amount) * 1000 * share, 2)
        turnover = (float(r.turnover_rate) if pd.notna(r.turnover_rate) else 0.0) * share
        return Bar(
            day,
            o,
            round(price * self._factor(code, day, "close"), 2),
            high,
            low,
            float(r.pre_close),
            round(vol * self._factor(code, day, "vol")),
            round(amount * self._factor(code, day, "amount"), 2),
            round(turnover, 2),
        )

    def _adj(self, ts_code: str, start: int, end: int, now: datetime) -> dict[int, float]:
        at = f"{to_int(now.date())}T23:59:59"
        frame = self.market.query(
            "adj_factor", ts_code=ts_code, start_date=str(start), end_date=str(end), now=at
        )
        return dict(
            zip(frame["trade_date"].astype(int), frame["adj_factor"].astype(float), strict=True)
        )

    # --- endpoints ---------------------------------------------------------------------------

    def kline(self, q: dict[str, str]) -> dict[str, object]:
        """``stock_zh_a_hist``: ``date,open,close,high,low,vol,amount,amplitude,pct,chg,turn``."""
        ts_code = self._ts_code(q.get("secid"))
        envelope: dict[str, object] = {
            "rc": 0,
            "rt": 17,
            "svr": 0,
            "lt": 1,
            "full": 0,
            "dlmkts": "",
            "data": None,
        }
        if ts_code is None or q.get("klt", "101") != "101":
            return envelope
        now = self.market.clock.now
        start = int(q.get("beg") or 0)
        end = min(int(q.get("end") or 20500101), to_int(now.date()))
        bars = self.bars(ts_code, start, end, now)
        adjust = ADJUST.get(q.get("fqt", "0"), "")
        factors = self._adj(ts_code, self.market.start, end, now) if adjust and bars else {}
        latest = factors[max(factors)] if factors else 1.0
        klines = []
        for b in bars:
            scale = 1.0
            if adjust == "hfq":
                scale = factors.get(b.trade_date, 1.0)
            elif adjust == "qfq":
                scale = factors.get(b.trade_date, latest) / latest
            o, c, h, lo, pc = (
                round(v * scale, 2) for v in (b.open, b.close, b.high, b.low, b.pre_close)
            )
            change = round(c - pc, 2)
            pct = round(change / pc * 100, 2) if pc else 0.0
            amplitude = round((h - lo) / pc * 100, 2) if pc else 0.0
            d = b.trade_date
            day = f"{d // 10000:04d}-{d // 100 % 100:02d}-{d % 100:02d}"
            klines.append(
                f"{day},{o:.2f},{c:.2f},{h:.2f},{lo:.2f},{int(b.vol)},{b.amount:.2f},"
                f"{amplitude:.2f},{pct:.2f},{change:.2f},{b.turnover:.2f}"
            )
        if not klines:
            return envelope
        market, symbol = _exchange_code(ts_code)
        envelope["data"] = {
            "code": symbol,
            "market": market,
            "name": self._name(ts_code),
            "decimal": 2,
            "dktotal": len(klines),
            "preKPrice": bars[0].pre_close,
            "klines": klines,
        }
        return envelope

    def _name(self, ts_code: str) -> str:
        return self.market.universe.name[self.market.universe.index_of(ts_code)]

    def latest_bar(self, ts_code: str, now: datetime) -> Bar | None:
        """Today's bar so far while trading, else the newest complete one."""
        recent = to_int((now - timedelta(days=40)).date())
        for start in (max(recent, self.market.start), self.market.start):
            bars = self.bars(ts_code, start, to_int(now.date()), now)
            if bars:
                return bars[-1]
        return None

    def quote(self, q: dict[str, str]) -> dict[str, object]:
        """``stock_bid_ask_em``: one stock now; prices decimal (fltt=2), volumes in lots."""
        ts_code = self._ts_code(q.get("secid"))
        envelope: dict[str, object] = {
            "rc": 0,
            "rt": 4,
            "svr": 0,
            "lt": 1,
            "full": 1,
            "dlmkts": "",
            "data": None,
        }
        if ts_code is None:
            return envelope
        now = self.market.clock.now
        b = self.latest_bar(ts_code, now)
        if b is None:
            return envelope
        i = self.market.universe.index_of(ts_code)
        pct_limit = int(limit_pct(self.market.universe, b.trade_date)[i]) / 100
        price, vol = b.close, b.vol
        data: dict[str, object] = {
            "f43": price,
            "f44": b.high,
            "f45": b.low,
            "f46": b.open,
            "f47": int(vol),
            "f48": b.amount,
            "f49": int(vol) // 2,
            "f161": int(vol) - int(vol) // 2,
            "f50": 1.0,
            "f51": round(b.pre_close * (1 + pct_limit), 2),
            "f52": round(b.pre_close * (1 - pct_limit), 2),
            "f57": _exchange_code(ts_code)[1],
            "f58": self._name(ts_code),
            "f60": b.pre_close,
            "f71": round(b.amount / (vol * 100), 2) if vol else price,
            "f168": b.turnover,
            "f169": round(price - b.pre_close, 2),
            "f170": round((price - b.pre_close) / b.pre_close * 100, 2) if b.pre_close else 0.0,
            "f86": int(now.timestamp()),
        }
        for level in range(5):  # buy1..5 at f19/f20 down to f11/f12; sell1..5 f39/f40..f31/f32
            tick = 0.01 * (level + 1)
            data[f"f{19 - 2 * level}"] = round(price - tick, 2)
            data[f"f{20 - 2 * level}"] = 100 * (level + 1)
            data[f"f{39 - 2 * level}"] = round(price + tick, 2)
            data[f"f{40 - 2 * level}"] = 100 * (level + 1)
        envelope["data"] = data
        return envelope

    def clist(self, q: dict[str, str]) -> dict[str, object]:
        """``stock_zh_a_spot_em``: every listed stock now, ``pz`` rows per page ``pn``."""
        now = self.market.clock.now
        today = to_int(now.date())
        days = self.market.days.trade_dates
        newest = days[days <= today]
        if not len(newest):
            return {"rc": 0, "rt": 6, "svr": 0, "lt": 1, "full": 1, "dlmkts": "", "data": None}
        day = int(newest[-1])
        if day == today and session_fraction(now) <= 0 and len(newest) > 1:
            day = int(newest[-2])
        u = self.market.universe
        listed = [
            c
            for c, ld, ex in zip(u.ts_code, u.list_date, u.exit_date, strict=True)
            if ld <= today and (ex == 0 or ex > today)
        ]
        bars = {b_code: b for b_code, b in self._bars_on(day, now)}
        rows = []
        for code in listed:
            market, symbol = _exchange_code(code)
            b = bars.get(code)
            if b is None:  # suspended: Eastmoney shows dashes
                values: dict[str, object] = {k: "-" for k in SPOT_KEYS}
            else:
                pc = b.pre_close
                values = {
                    "f1": 2,
                    "f2": b.close,
                    "f3": round((b.close - pc) / pc * 100, 2),
                    "f4": round(b.close - pc, 2),
                    "f5": int(b.vol),
                    "f6": b.amount,
                    "f7": round((b.high - b.low) / pc * 100, 2),
                    "f8": b.turnover,
                    "f9": "-",
                    "f10": 1.0,
                    "f11": 0.0,
                    "f15": b.high,
                    "f16": b.low,
                    "f17": b.open,
                    "f18": pc,
                    "f20": "-",
                    "f21": "-",
                    "f22": 0.0,
                    "f23": "-",
                    "f24": "-",
                    "f25": "-",
                    "f62": "-",
                    "f115": "-",
                    "f128": "-",
                    "f140": "-",
                    "f141": "-",
                    "f136": "-",
                    "f152": 2,
                }
            values.update({"f12": symbol, "f13": market, "f14": self._name(code)})
            rows.append({k: values[k] for k in SPOT_KEYS})
        rows.sort(key=lambda r: str(r["f12"]), reverse=q.get("po", "1") == "1")
        size = max(1, min(int(q.get("pz") or 20), 100))  # Eastmoney caps a page at 100 rows
        first = (max(1, int(q.get("pn") or 1)) - 1) * size
        return {
            "rc": 0,
            "rt": 6,
            "svr": 0,
            "lt": 1,
            "full": 1,
            "dlmkts": "",
            "data": {"total": len(rows), "diff": rows[first : first + size]},
        }

    def _bars_on(self, day: int, now: datetime) -> list[tuple[str, Bar]]:
        frame = self._daily(None, day, day)
        today, fraction = to_int(now.date()), session_fraction(now)
        share = fraction if day == today else 1.0
        return [(str(r.ts_code), self._bar(r, day, share)) for r in frame.itertuples(index=False)]
