"""What Tushare allows a token: calls per minute per API, by points tier, with overrides.

Tushare limits each API separately ("您每分钟最多访问该接口N次": this interface), at a rate set by
the token's points. The tier table is the one Tushare publishes with its points (120: 50/min,
2000: 200/min, 5000: 500/min, 10000+: 1000/min); ``daily`` is documented at 500/min from the
base tier up. Real tokens are refused below these rates at times; the budget adapts to that
(see :mod:`twilight_resources.tushare.budget`), so these are ceilings, not promises.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

TIERS: tuple[tuple[int, int], ...] = ((10_000, 1000), (5000, 500), (2000, 200), (0, 50))
API_FLOORS: Mapping[str, int] = {"daily": 500}  # documented rate at every tier


def tier_per_minute(points: int) -> int:
    return next(rate for floor, rate in TIERS if points >= floor)


@dataclass(frozen=True)
class ApiLimits:
    """Calls per minute for each API of one token."""

    default: int
    per_api: Mapping[str, int] = field(default_factory=dict)

    def per_minute(self, api_name: str) -> int:
        return self.per_api.get(api_name, self.default)

    @classmethod
    def for_tier(
        cls,
        points: int,
        *,
        calls_per_minute: int | None = None,
        overrides: Mapping[str, int] | None = None,
    ) -> ApiLimits:
        """Tier defaults; ``calls_per_minute`` replaces them all, ``overrides`` single APIs."""
        if calls_per_minute is not None:
            return cls(calls_per_minute, dict(overrides or {}))
        base = tier_per_minute(points)
        per_api = {api: max(base, rate) for api, rate in API_FLOORS.items()}
        return cls(base, {**per_api, **(overrides or {})})
