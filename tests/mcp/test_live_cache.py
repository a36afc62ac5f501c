"""The live-answer cache is bounded by the bytes its frames hold, not by how many it keeps."""

from datetime import UTC, datetime

import numpy as np
import pandas as pd

from twilight_serve.mcp.answers import LiveCache


def frame(rows: int) -> pd.DataFrame:
    return pd.DataFrame(
        {"ts_code": [f"{i:06d}.SZ" for i in range(rows)], "close": np.arange(rows, dtype=float)}
    )


def size(f: pd.DataFrame) -> int:
    return int(f.memory_usage(index=True, deep=True).sum())


def test_big_answers_evict_the_oldest_to_stay_under_the_bound() -> None:
    answers = [frame(50_000) for _ in range(4)]
    bound = int(size(answers[0]) * 2.5)
    cache = LiveCache(bound)
    now = datetime.now(UTC)
    for i, f in enumerate(answers):
        cache.put(str(i), f, now)
    assert cache.bytes <= bound
    assert [cache.get(str(i)) is not None for i in range(4)] == [False, False, True, True]


def test_an_answer_larger_than_the_bound_is_not_kept_and_small_ones_stay() -> None:
    small, big = frame(10), frame(100_000)
    cache = LiveCache(size(big) - 1)
    now = datetime.now(UTC)
    cache.put("small", small, now)
    cache.put("big", big, now)
    assert cache.get("big") is None
    hit = cache.get("small")
    assert hit is not None and hit[0] is small
    assert cache.bytes == size(small)


def test_replacing_an_answer_counts_it_once() -> None:
    f = frame(1000)
    cache = LiveCache(10 * size(f))
    now = datetime.now(UTC)
    for _ in range(5):
        cache.put("same", f, now)
    assert cache.bytes == size(f)
