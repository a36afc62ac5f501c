"""Output fields of the market APIs as Tushare Pro documents them, plus per-call row caps.

A spec is a space-separated list of ``name[:kind][-]``: kind ``s`` str, ``i`` int, float
otherwise; a trailing ``-`` marks a field only returned when asked for via ``fields=``. The
order is Tushare's default column order. Decimals say how values are rounded, as the real
service does (prices to the fen, pct_chg to 4 places).
"""

from __future__ import annotations

from dataclasses import dataclass

from twilight_sim.fields_fina import FINA_DECIMALS, FINA_SPECS


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # "str" | "float" | "int"
    default: bool
    decimals: int


MARKET_SPECS: dict[str, str] = {
    "stock_basic": (
        "ts_code:s symbol:s name:s area:s industry:s fullname:s- enname:s- cnspell:s market:s "
        "exchange:s- curr_type:s- list_status:s- list_date:s delist_date:s- is_hs:s- act_name:s "
        "act_ent_type:s"
    ),
    "trade_cal": ("exchange:s cal_date:s is_open:i pretrade_date:s"),
    "daily": ("ts_code:s trade_date:s open high low close pre_close change pct_chg vol amount"),
    "weekly": ("ts_code:s trade_date:s close open high low pre_close change pct_chg vol amount"),
    "monthly": ("ts_code:s trade_date:s close open high low pre_close change pct_chg vol amount"),
    "adj_factor": ("ts_code:s trade_date:s adj_factor"),
    "daily_basic": (
        "ts_code:s trade_date:s close turnover_rate turnover_rate_f volume_ratio pe pe_ttm pb ps "
        "ps_ttm dv_ratio dv_ttm total_share float_share free_share total_mv circ_mv"
    ),
    "index_basic": (
        "ts_code:s name:s fullname:s market:s publisher:s index_type:s category:s base_date:s "
        "base_point list_date:s weight_rule:s desc:s exp_date:s"
    ),
    "index_daily": (
        "ts_code:s trade_date:s close open high low pre_close change pct_chg vol amount"
    ),
    "index_dailybasic": (
        "ts_code:s trade_date:s total_mv float_mv total_share float_share free_share turnover_rate "
        "turnover_rate_f pe pe_ttm pb"
    ),
    "index_weight": ("index_code:s con_code:s trade_date:s weight"),
}
_PRICE2 = dict.fromkeys(("open", "high", "low", "close", "pre_close", "change"), 2)
_BAR = {**_PRICE2, "pct_chg": 4, "vol": 2, "amount": 3}
_INDEX_BAR = {**dict.fromkeys(_PRICE2, 4), "pct_chg": 4, "vol": 0, "amount": 3}
MARKET_DECIMALS: dict[str, dict[str, int]] = {
    "daily": _BAR,
    "weekly": _BAR,
    "monthly": _BAR,
    "adj_factor": {"adj_factor": 3},
    "daily_basic": {"close": 2, "volume_ratio": 2},
    "index_basic": {"base_point": 2},
    "index_daily": _INDEX_BAR,
    "index_dailybasic": {
        **dict.fromkeys(("total_mv", "float_mv", "total_share", "float_share", "free_share"), 0),
        **dict.fromkeys(("turnover_rate", "turnover_rate_f", "pe", "pe_ttm", "pb"), 2),
    },
}

# Rows per call. daily/weekly/monthly/index_daily/fina_indicator/disclosure_date are Tushare's
# documented caps; the others are our choice (Tushare returns those "in one call").
ROW_CAPS: dict[str, int] = {
    "stock_basic": 10000,
    "trade_cal": 15000,
    "daily": 6000,
    "weekly": 4500,
    "monthly": 4500,
    "adj_factor": 6000,
    "daily_basic": 6000,
    "index_basic": 5000,
    "index_daily": 8000,
    "index_dailybasic": 3000,
    "index_weight": 6000,
    "income": 5000,
    "balancesheet": 5000,
    "cashflow": 5000,
    "forecast": 5000,
    "express": 5000,
    "fina_indicator": 60,
    "disclosure_date": 3000,
    "income_vip": 5000,
    "balancesheet_vip": 5000,
    "cashflow_vip": 5000,
    "forecast_vip": 5000,
    "express_vip": 5000,
    "fina_indicator_vip": 5000,
}
VIP_BASE = {
    f"{api}_vip": api
    for api in ("income", "balancesheet", "cashflow", "forecast", "express", "fina_indicator")
}


def _parse(spec: str, decimals: dict[str, int], fallback: int) -> tuple[Field, ...]:
    out = []
    for token in spec.split():
        default = not token.endswith("-")
        name, _, kind = token.rstrip("-").partition(":")
        full = {"s": "str", "i": "int", "": "float"}[kind]
        out.append(Field(name, full, default, decimals.get(name, fallback)))
    return tuple(out)


def _build() -> dict[str, tuple[Field, ...]]:
    table = {
        api: _parse(spec, MARKET_DECIMALS.get(api, {}), 4) for api, spec in MARKET_SPECS.items()
    }
    for api, spec in FINA_SPECS.items():
        table[api] = _parse(spec, FINA_DECIMALS.get(api, {}), 4)
    for vip, base in VIP_BASE.items():
        table[vip] = table[base]
    return table


FIELDS: dict[str, tuple[Field, ...]] = _build()


def default_fields(api: str) -> list[str]:
    return [f.name for f in FIELDS[api] if f.default]


def field_names(api: str) -> list[str]:
    return [f.name for f in FIELDS[api]]
