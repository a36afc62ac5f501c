"""Dagster's handle on the upstream. All I/O policy (token, budget, retry, paging) is here."""

from __future__ import annotations

from datetime import date, datetime

import httpx
from dagster import ConfigurableResource, InitResourceContext
from pydantic import PrivateAttr

from twilight_resources.calendar import market_today
from twilight_resources.embedded import EMBEDDED_TOKEN, ensure_simulator
from twilight_resources.priority import lower_priority
from twilight_resources.settings import REAL_TUSHARE_URL, TwilightSettings, get_settings
from twilight_resources.tushare.budget import CallBudget, budget_key
from twilight_resources.tushare.client import TushareClient
from twilight_resources.tushare.journal import CallJournal
from twilight_resources.tushare.limits import ApiLimits


def resolve_upstream(settings: TwilightSettings) -> tuple[str, str]:
    """(url, token): the real Tushare with a token, else the embedded simulated market."""
    if settings.tushare_token is not None:
        return settings.tushare_api_url, settings.tushare_token.get_secret_value()
    if settings.tushare_api_url != REAL_TUSHARE_URL:
        return settings.tushare_api_url, EMBEDDED_TOKEN
    return ensure_simulator(settings), EMBEDDED_TOKEN


def upstream_today(settings: TwilightSettings) -> date:
    """Today on the upstream's clock: the exchange's date, or the simulated market's "now".

    The simulated market has a clock of its own (tests move it across a disclosure season), so
    "which partitions exist yet" must follow it rather than the host's date.
    """
    if settings.tushare_token is not None:
        return market_today()
    url, _ = resolve_upstream(settings)
    try:
        now = httpx.get(f"{url}/_sim/health", timeout=5).json()["now"]
    except (httpx.HTTPError, ValueError, KeyError):
        return market_today()
    return datetime.fromisoformat(now).date()


def api_limits(settings: TwilightSettings) -> ApiLimits:
    """Calls per minute of each upstream API for the configured token."""
    return ApiLimits.for_tier(
        settings.tushare_points,
        calls_per_minute=settings.calls_per_minute,
        overrides=settings.api_calls_per_minute,
    )


def budget_from_settings(settings: TwilightSettings) -> CallBudget:
    """The token's shared call budget (starts nothing: the budget is keyed by the token alone)."""
    token = settings.tushare_token
    return CallBudget(
        settings.state_dir / "upstream.sqlite",
        budget_key(token.get_secret_value() if token is not None else EMBEDDED_TOKEN),
        api_limits(settings),
        pause_seconds=settings.rate_pause_seconds,
        probe_after_s=settings.rate_probe_seconds,
        window_s=settings.rate_window_seconds,
    )


def client_from_settings(settings: TwilightSettings | None = None) -> TushareClient:
    settings = settings or get_settings()
    url, token = resolve_upstream(settings)
    return TushareClient(
        url,
        token,
        budget=budget_from_settings(settings),
        journal=CallJournal(settings.state_dir / "upstream.sqlite"),
        timeout=settings.request_timeout,
        retry_attempts=settings.retry_attempts,
        backoff_base=settings.retry_backoff_base,
        max_in_flight=settings.max_in_flight,
        rate_limit_retries=settings.rate_limit_retries,
    )


class TushareResource(ConfigurableResource):
    """The Tushare Pro upstream, configured from TWILIGHT_* settings (the token never is config)."""

    _client: TushareClient | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        lower_priority(get_settings().fetch_niceness)
        self._client = client_from_settings()

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        if self._client is not None:
            self._client.close()

    @property
    def client(self) -> TushareClient:
        if self._client is None:
            self._client = client_from_settings()
        return self._client
