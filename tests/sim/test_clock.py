"""The simulated clock: nothing is visible before it exists, and the clock moves at runtime."""

from __future__ import annotations

from twilight_sim.server import SimServer
from twilight_sim.testing import call


def _rows(server: SimServer, api: str, params: dict, fields: str = "") -> list[list]:
    answer = call(server.url, api, params, fields=fields)
    assert answer["code"] == 0, answer["msg"]
    return answer["data"]["items"]


def test_default_now_is_the_end_of_the_range(sim: SimServer) -> None:
    assert sim.market.clock.now.isoformat() == "2024-12-31T23:59:59"
    assert _rows(sim, "daily", {"trade_date": "20241231"})


def test_todays_bars_appear_at_16_00(small_sim: SimServer) -> None:
    small_sim.set_clock("20240415T10:00")
    assert _rows(small_sim, "daily", {"trade_date": "20240415"}) == []
    assert _rows(small_sim, "daily", {"trade_date": "20240412"})
    latest = _rows(small_sim, "daily", {"start_date": "20240401"}, "trade_date")
    assert max(r[0] for r in latest) == "20240412"
    small_sim.set_clock("20240415T16:30")
    assert _rows(small_sim, "daily", {"trade_date": "20240415"})
    assert _rows(small_sim, "adj_factor", {"trade_date": "20240415"})


def test_weekly_bar_appears_once_its_week_is_over(small_sim: SimServer) -> None:
    small_sim.set_clock("20240417T18:00")  # a Wednesday
    weeks = _rows(small_sim, "weekly", {"start_date": "20240401"}, "trade_date")
    assert max(r[0] for r in weeks) == "20240412"
    small_sim.set_clock("20240419T18:00")
    weeks = _rows(small_sim, "weekly", {"start_date": "20240401"}, "trade_date")
    assert max(r[0] for r in weeks) == "20240419"


def test_disclosure_season_unfolds_as_the_clock_advances(small_sim: SimServer) -> None:
    period = {"period": "20231231"}
    seen = []
    for day in ("20240110", "20240301", "20240415", "20240501"):
        small_sim.set_clock(day)
        rows = _rows(small_sim, "income_vip", period, "ts_code,ann_date")
        assert all(r[1] <= day for r in rows)
        seen.append(len(rows))
    assert seen[0] == 0 and seen == sorted(seen) and seen[-1] > seen[1]
    small_sim.set_clock("20240301")
    plan = _rows(
        small_sim, "disclosure_date", {"end_date": "20231231"}, "ts_code,pre_date,actual_date"
    )
    assert plan and all(r[2] is None or r[2] <= "20240301" for r in plan)
    assert any(r[2] is None for r in plan)
    small_sim.set_clock("20240501")
    done = _rows(small_sim, "disclosure_date", {"end_date": "20231231"}, "actual_date")
    assert all(r[0] is not None for r in done)
    forecasts = _rows(small_sim, "forecast_vip", period, "ann_date")
    small_sim.set_clock("20240105")
    assert len(_rows(small_sim, "forecast_vip", period, "ann_date")) < len(forecasts)


def test_listings_appear_on_their_listing_day(sim: SimServer) -> None:
    m = sim.market
    ipo = min(d for d in m.universe.list_date if d > 20230101)
    listed = m.query("stock_basic", now=str(ipo), fields="ts_code,list_date")
    before = m.query("stock_basic", now=str(ipo - 1), fields="ts_code,list_date")
    assert str(ipo) in set(listed.list_date) and str(ipo) not in set(before.list_date)
