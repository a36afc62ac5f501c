"""The warehouse's last close: the answer after the close, and the fallback during trading."""

from __future__ import annotations

from datetime import datetime

from twilight_resources.calendar import MARKET_TZ
from twilight_resources.providers.base import (
    Capability,
    ProviderUnavailableError,
    Quote,
    UnknownSecurityError,
)
from twilight_resources.sessions import CLOSE, Phase
from twilight_resources.warehouse import WarehouseReader

LAST_CLOSE_SQL = (
    "SELECT trade_date, close FROM normalized_daily WHERE ts_code = ? AND close IS NOT NULL "
    "ORDER BY trade_date DESC LIMIT 1"
)
KNOWN_SQL = "SELECT 1 FROM normalized_stock_basic WHERE ts_code = ? LIMIT 1"


class WarehouseLastCloseProvider:
    """Newest ``normalized_daily`` close of a stock in the current snapshot."""

    name = "warehouse"
    capabilities = frozenset({Capability.LAST_CLOSE})
    phases = frozenset(Phase)

    def __init__(self, reader: WarehouseReader) -> None:
        self._reader = reader

    def quote(self, ts_code: str) -> Quote:
        frame = self._reader.query(LAST_CLOSE_SQL, [ts_code])
        if frame.empty:
            if self._reader.query(KNOWN_SQL, [ts_code]).empty:
                raise UnknownSecurityError(ts_code)
            raise ProviderUnavailableError(f"the warehouse holds no daily bar of {ts_code}")
        row = frame.iloc[0]
        trade_date = row["trade_date"].date()
        return Quote(
            ts_code=ts_code,
            price=float(row["close"]),
            trade_date=trade_date,
            as_of=datetime.combine(trade_date, CLOSE, tzinfo=MARKET_TZ),
            source=self.name,
        )
