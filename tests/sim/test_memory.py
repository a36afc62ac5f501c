"""Memory stays bounded by what a request answers, not by the market or the range behind it.

Peaks are taken with ``tracemalloc`` (numpy and pandas report their buffers to it), across the
server's threads: a bound on bytes, not on time, so the test does not depend on the machine.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import httpx
import pandas as pd
import pytest

from twilight_sim import apis
from twilight_sim.market import Market
from twilight_sim.testing import running_simulator

MB = 1 << 20


@contextmanager
def traced() -> Iterator[list[int]]:
    """Yields a list that holds the peak traced bytes once the block ends."""
    peak: list[int] = []
    tracemalloc.start()
    try:
        yield peak
    finally:
        peak.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()


def test_cross_source_klines_do_not_build_the_whole_market() -> None:
    """A check asks one stock's bars per request, several in flight: each answer costs one
    stock's bars, not the whole market's range once per request in flight."""
    with (
        running_simulator(
            seed=4,
            n_stocks=1500,
            start_date="20230101",
            end_date="20241231",
            rate_limit_per_minute=None,
        ) as sim,
        httpx.Client(timeout=60) as client,
    ):
        codes = sim.market.universe.ts_code[::150][:8]

        def kline(code: str) -> int:
            secid = ("1." if code.endswith(".SH") else "0.") + code[:6]
            r = client.get(
                f"{sim.url}/api/qt/stock/kline/get",
                params={
                    "secid": secid,
                    "klt": "101",
                    "fqt": "0",
                    "beg": "20240102",
                    "end": "20240531",
                },
            )
            return len(r.json()["data"]["klines"])

        sim.market.book.ensure(sim.market.days.n_days - 1)  # price history is not measured
        with traced() as peak, ThreadPoolExecutor(8) as pool:
            rows = list(pool.map(kline, codes))
    assert min(rows) > 50
    assert peak[0] < 16 * MB, f"{peak[0] / MB:.0f} MB for {len(codes)} one-stock answers"


def test_a_long_range_is_computed_in_chunks() -> None:
    """An in-process query of a year of the whole market needs about its answer's size twice
    over (the chunks and their concatenation), not a multiple per quarter of history."""
    m = Market(seed=5, n_stocks=1000, start_date="20150101", end_date="20241231")
    m.book.ensure(m.days.n_days - 1)
    with traced() as peak:
        frame = m.query("daily_basic", start_date="20240101", end_date="20241231")
    size = int(frame.memory_usage(index=True, deep=False).sum())
    assert len(frame) > 200_000
    assert peak[0] < 2.6 * size, f"peak {peak[0] / MB:.0f} MB for a {size / MB:.0f} MB answer"


@pytest.mark.parametrize("api", ["daily", "adj_factor", "daily_basic", "weekly"])
def test_chunked_answers_equal_one_piece(api: str, monkeypatch: pytest.MonkeyPatch) -> None:
    m = Market(seed=6, n_stocks=60, start_date="20230101", end_date="20240630")
    whole = m.query(api, start_date="20230601", end_date="20240331")
    monkeypatch.setattr(apis, "CHUNK_ROWS", 397)
    pieces = m.query(api, start_date="20230601", end_date="20240331")
    assert len(whole) > 5 * 397
    pd.testing.assert_frame_equal(pieces, whole)
