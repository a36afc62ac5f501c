"""The same seed gives byte-identical answers; another seed gives another market."""

from __future__ import annotations

import httpx

from twilight_sim.market import Market
from twilight_sim.testing import TEST_TOKEN, running_simulator

REQUESTS = [
    ("stock_basic", {}),
    ("trade_cal", {"start_date": "20230101"}),
    ("daily", {"trade_date": "20240510"}),
    ("daily", {"trade_date": "20240510"}),
    ("weekly", {"trade_date": "20240510"}),
    ("adj_factor", {"trade_date": "20240510"}),
    ("daily_basic", {"trade_date": "20240510"}),
    ("index_daily", {"ts_code": "000905.SH"}),
    ("index_weight", {"index_code": "000001.SH"}),
    ("income_vip", {"period": "20231231"}),
    ("fina_indicator_vip", {"period": "20230930"}),
    ("disclosure_date", {}),
    ("forecast_vip", {"period": "20231231"}),
    ("express_vip", {"period": "20231231"}),
]


def _bodies(seed: int) -> list[bytes]:
    with running_simulator(seed=seed, n_stocks=40) as server, httpx.Client() as client:
        return [
            client.post(
                server.url, json={"api_name": api, "token": TEST_TOKEN, "params": params}
            ).content
            for api, params in REQUESTS
        ]


def test_same_seed_same_bytes_other_seed_other_market() -> None:
    first, again, other = _bodies(5), _bodies(5), _bodies(6)
    assert first == again
    assert all(b'"code": 0' in body for body in first)
    differs = [a != b for a, b in zip(first, other, strict=True)]
    assert sum(differs) >= len(REQUESTS) - 1  # only trade_cal is the same for every seed


def test_generation_order_does_not_matter() -> None:
    """A market asked about 2024 first answers 2022 exactly like one asked in order."""
    late_first, in_order = Market(seed=9, n_stocks=30), Market(seed=9, n_stocks=30)
    late_first.daily(trade_date="20241231")
    late_first.index_daily(ts_code="000300.SH")
    for m in (in_order, late_first):
        m.book._cache.clear()  # force regeneration from checkpoints as well
    assert late_first.daily(trade_date="20220105").equals(in_order.daily(trade_date="20220105"))
    assert late_first.index_daily(ts_code="000300.SH").equals(
        in_order.index_daily(ts_code="000300.SH")
    )


def test_answers_do_not_depend_on_the_cache() -> None:
    """A market whose price cache holds a single block (every other day regenerated from
    checkpoints, in shuffled order) answers exactly like one that holds them all."""
    roomy, tight = Market(seed=12, n_stocks=40), Market(seed=12, n_stocks=40, cache_mb=0)
    days = [str(d) for d in roomy.days.trade_dates[::37]]
    order = days[1::2][::-1] + days[::2]
    for api in ("daily", "adj_factor", "daily_basic"):
        got = {d: tight.query(api, trade_date=d) for d in order}
        for d in days:
            assert got[d].equals(roomy.query(api, trade_date=d)), (api, d)
    assert len(tight.book._cache) == 1
