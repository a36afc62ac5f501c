"""The simulated upstream behind the HTTP server: one market, its two protocols and their controls.

Tushare Pro and Eastmoney's quote endpoints answer from the same :class:`Market`; the access
policy, injected faults, clock and stats are what the admin endpoints (``/_sim/``) read and
change, and what tests change directly.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from twilight_sim.akshare import EastmoneyService
from twilight_sim.faults import FaultConfig, FaultInjector
from twilight_sim.market import Market
from twilight_sim.service import AccessPolicy, TushareService
from twilight_sim.stats import ServedStats


class SimConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seed: int = 20240101
    n_stocks: int = Field(200, ge=1, le=10_000)
    start_date: str = "20220101"
    end_date: str | None = None
    n_indices: int = Field(5, ge=1, le=7)
    host: str = "127.0.0.1"
    port: int = Field(0, ge=0, le=65535)
    rate_limit_per_minute: int | None = Field(500, ge=0)
    tokens: list[str] | None = None
    denied_apis: list[str] = Field(default_factory=list)
    # The unfriendly upstream (twilight_sim.ratelimit): stated per-API limits, a throttle
    # below them, per-day quotas and an IP-count limit; all off by default.
    api_limits: dict[str, int] = Field(default_factory=dict)
    throttle_per_minute: int | None = Field(None, ge=1)
    throttle_block_s: float = Field(60.0, ge=0)
    daily_quotas: dict[str, int] = Field(default_factory=dict)
    max_ips: int | None = Field(None, ge=1)
    limit_window_s: float = Field(60.0, gt=0)  # what per-minute limits count over
    faults: FaultConfig = Field(default_factory=FaultConfig)
    now: str | None = None
    cache_mb: int = Field(256, ge=8)
    warm: bool = False  # generate every price block before serving


class Simulation(ABC):
    """The market served, the services answering from it, and the controls over both; the
    base of :class:`twilight_sim.server.SimServer`, which serves it."""

    def __init__(self, config: SimConfig, market: Market | None = None) -> None:
        self.config = config
        self.market = market or Market(
            config.seed,
            config.n_stocks,
            config.start_date,
            config.end_date,
            config.n_indices,
            config.cache_mb,
        )
        if config.now:
            self.market.clock.set(config.now)
        self.stats_recorder = ServedStats()
        self.faults = FaultInjector(config.faults)
        policy = AccessPolicy(
            config.rate_limit_per_minute,
            config.tokens,
            list(config.denied_apis),
            dict(config.api_limits),
            config.throttle_per_minute,
            config.throttle_block_s,
            dict(config.daily_quotas),
            config.max_ips,
            config.limit_window_s,
        )
        self.tushare = TushareService(self.market, policy, self.faults, self.stats_recorder)
        # Eastmoney's quote endpoints (what `akshare` calls), answered from the same market.
        self.eastmoney = EastmoneyService(self.market, self.stats_recorder)

    @property
    @abstractmethod
    def url(self) -> str:
        """Where it is served."""

    def stats(self) -> dict[str, int]:
        """Calls received per API since start (or the last reset)."""
        return self.stats_recorder.calls_per_api()

    def stats_detail(self) -> dict[str, object]:
        """Calls, rows, error codes and injected faults, as ``GET /_sim/stats`` shows them."""
        return self.stats_recorder.snapshot()

    def reset_stats(self) -> None:
        """Forget stats, rate-limit windows and fault attempt counts (a fresh replay)."""
        self.stats_recorder.reset()
        self.tushare.limiter.reset()
        self.faults.reset()

    def set_faults(
        self, faults: FaultConfig | dict[str, object] | None = None, **changes: object
    ) -> FaultConfig:
        """Replace the fault config (``None`` and no changes clears every fault)."""
        base = faults if isinstance(faults, FaultConfig) else FaultConfig(**(faults or {}))
        config = base.model_copy(update=changes) if changes else base
        config = FaultConfig.model_validate(config.model_dump())
        self.faults.configure(config)
        return config

    def set_clock(self, now: str | datetime) -> str:
        """Move the simulated "now" (YYYYMMDD, YYYYMMDDTHH:MM, or a datetime)."""
        return self.market.clock.set(now).isoformat()

    def set_policy(self, **changes: object) -> AccessPolicy:
        """Change any AccessPolicy field at runtime (limits, tokens, denied_apis, quotas...)."""
        current = asdict(self.tushare.policy)
        unknown = set(changes) - set(current)
        if unknown:
            raise ValueError(f"unknown policy settings: {sorted(unknown)}")
        policy = AccessPolicy(**{**current, **changes})
        self.tushare.set_policy(policy)
        return policy
