"""Fault injection: latency, 5xx, timeouts, dropped connections, rate-limit bursts, bad rows.

Each fault fires at its own rate. Decisions are hashed from (fault seed, request fingerprint,
how many times that exact request was seen), so a run replays identically even with several
requests in flight, and a client's retry of a failed request gets a fresh draw.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from twilight_sim.hashrng import HashRng

Rate = Field(0.0, ge=0.0, le=1.0)
MAX_TRACKED = 200_000  # distinct requests remembered for attempt numbering


class FaultConfig(BaseModel):
    """Rates are probabilities per request; ``apis`` limits faults to some APIs."""

    model_config = ConfigDict(extra="forbid")

    seed: int = 0
    apis: list[str] | None = None
    latency_rate: float = Rate
    latency_ms: float = Field(0.0, ge=0)
    jitter_ms: float = Field(0.0, ge=0)
    error_rate: float = Rate
    error_status: list[int] = Field(default_factory=lambda: [500, 502, 503, 504])
    timeout_rate: float = Rate
    timeout_s: float = Field(35.0, ge=0)
    drop_rate: float = Rate
    rate_limit_rate: float = Rate
    rate_limit_burst: int = Field(1, ge=1)
    malformed_rate: float = Rate
    # Refusals in given wordings (e.g. each one users have reported), picked per request.
    refusal_rate: float = Rate
    refusal_messages: list[str] = Field(default_factory=list)
    refusal_code: int = 40203
    extra_column_rate: float = Rate
    extra_column: str = "sim_extra"


@dataclass
class FaultPlan:
    """What happens to one request."""

    drop: bool = False
    timeout: bool = False
    status: int | None = None  # HTTP 5xx status to answer with
    rate_limited: bool = False
    refusal: str | None = None  # answer this refusal message
    delay_s: float = 0.0
    malformed: bool = False
    extra_column: bool = False
    key: int = 0

    @property
    def kinds(self) -> list[str]:
        flags = {
            "drop": self.drop,
            "timeout": self.timeout,
            "http_error": self.status is not None,
            "rate_limit": self.rate_limited,
            "refusal": self.refusal is not None,
            "latency": self.delay_s > 0,
            "malformed": self.malformed,
            "extra_column": self.extra_column,
        }
        return [k for k, on in flags.items() if on]


class FaultInjector:
    def __init__(self, config: FaultConfig | None = None) -> None:
        self._lock = threading.Lock()
        self._attempts: OrderedDict[str, int] = OrderedDict()
        self._burst_left: dict[str, int] = {}
        self.configure(config or FaultConfig())

    def configure(self, config: FaultConfig) -> None:
        with self._lock:
            self.config = config
            self.rng = HashRng(config.seed)

    def reset(self) -> None:
        with self._lock:
            self._attempts.clear()
            self._burst_left.clear()

    def attempt(self, fingerprint: str) -> int:
        """How many times this exact request was seen before (0 the first time)."""
        with self._lock:
            n = self._attempts.pop(fingerprint, -1) + 1
            self._attempts[fingerprint] = n
            while len(self._attempts) > MAX_TRACKED:
                self._attempts.popitem(last=False)
            return n

    def plan(self, api: str, token: str, fingerprint: str, attempt: int) -> FaultPlan:
        with self._lock:
            cfg, rng = self.config, self.rng
        if cfg.apis is not None and api not in cfg.apis:
            return FaultPlan()
        key = int(fingerprint[:15], 16)

        def hit(kind: str, rate: float) -> bool:
            return rate > 0 and rng.scalar(kind, key, attempt) < rate

        plan = FaultPlan(key=key)
        if hit("drop", cfg.drop_rate):
            plan.drop = True
        elif hit("timeout", cfg.timeout_rate):
            plan.timeout = True
        elif hit("error", cfg.error_rate):
            statuses = cfg.error_status or [503]
            plan.status = statuses[int(rng.scalar("status", key, attempt) * len(statuses))]
        elif cfg.refusal_messages and hit("refusal", cfg.refusal_rate):
            pick = rng.scalar("wording", key, attempt) * len(cfg.refusal_messages)
            plan.refusal = cfg.refusal_messages[int(pick)]
        else:
            plan.rate_limited = self._rate_burst(token, hit("ratelimit", cfg.rate_limit_rate))
        if hit("latency", cfg.latency_rate):
            plan.delay_s = (
                cfg.latency_ms + cfg.jitter_ms * rng.scalar("jitter", key, attempt)
            ) / 1000
        plan.malformed = hit("malformed", cfg.malformed_rate)
        plan.extra_column = hit("extra", cfg.extra_column_rate)
        return plan

    def _rate_burst(self, token: str, triggered: bool) -> bool:
        with self._lock:
            if triggered:
                self._burst_left[token] = self.config.rate_limit_burst - 1
                return True
            left = self._burst_left.get(token, 0)
            if left > 0:
                self._burst_left[token] = left - 1
                return True
            return False

    def corrupt(self, frame: pd.DataFrame, plan: FaultPlan, attempt: int) -> pd.DataFrame:
        """Apply the row-level faults of ``plan`` to an answer's frame."""
        rng = self.rng
        out = frame
        if plan.malformed and len(frame):
            out = frame.astype(object)
            row = int(rng.scalar("badrow", plan.key, attempt) * len(frame))
            dates = [c for c in frame.columns if c.endswith("date")]
            floats = [c for c in frame.columns if frame[c].dtype.kind == "f"]
            if dates and (not floats or rng.scalar("badkind", plan.key, attempt) < 0.5):
                out.iat[row, list(out.columns).index(dates[0])] = "2024-13-45"
            elif floats:
                out.iat[row, list(out.columns).index(floats[0])] = "--"
        if plan.extra_column:
            out = out.copy()
            out[self.config.extra_column] = np.where(np.arange(len(out)) % 2 == 0, "x", "y")
        return out
