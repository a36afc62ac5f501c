"""The simulated A-share market: one object answering every API for any clock time.

>>> m = Market(seed=1, n_stocks=50)
>>> m.daily(trade_date="20240102").columns[:3].tolist()
['ts_code', 'trade_date', 'open']
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from functools import partial

import pandas as pd

from twilight_sim.apis import HANDLERS, UNLIMITED, Answer, answer
from twilight_sim.market_data import MarketData


class Market(MarketData):
    """The market's data (:class:`MarketData`) with every API of the simulator as a method."""

    def answer(
        self,
        api: str,
        params: Mapping[str, object] | None = None,
        fields: object = None,
        now: str | datetime | None = None,
    ) -> Answer:
        """One capped page, exactly as the HTTP server sends it."""
        return answer(self, api, params, fields, self.visibility(now))

    def query(
        self, api: str, fields: object = None, now: str | datetime | None = None, **params: object
    ) -> pd.DataFrame:
        """Every matching row of ``api`` (no row cap), like ``pro.<api>(**params)``."""
        return answer(self, api, params, fields, self.visibility(now), cap=UNLIMITED).frame

    def __getattr__(self, name: str) -> Callable[..., pd.DataFrame]:
        if name in HANDLERS:
            return partial(self.query, name)
        raise AttributeError(name)
