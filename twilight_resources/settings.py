"""Twilight's one settings object.

Precedence: environment (``TWILIGHT_*``) beats ``.env`` beats ``$TWILIGHT_HOME/config/runtime.yaml``
beats defaults. Settings are read lazily through :func:`get_settings` so nothing is decided at
import time; tests set the environment and call :func:`reset_settings`.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)
from pydantic_settings.exceptions import SettingsError as SourceError

ENV_PREFIX = "TWILIGHT_"
REAL_TUSHARE_URL = "http://api.tushare.pro"


class SettingsError(ValueError):
    """Invalid configuration; the message names the offending variable."""


def checkout_root(start: Path | None = None) -> Path | None:
    """The twilight checkout holding ``start`` (default: the working directory), if any.

    A checkout is the directory with this package's sources and ``pyproject.toml``; every
    command run inside one (twilight, dagster through ``twilight dagster``, make) then shares
    the same home without any variable set.
    """
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file() and (folder / "twilight_resources").is_dir():
            return folder
    return None


def default_home() -> Path:
    """``$TWILIGHT_HOME``, else ``.twilight`` of the checkout run from, else ``~/.twilight``.

    Read at call time, never at import time.
    """
    if configured := os.environ.get(f"{ENV_PREFIX}HOME"):
        return Path(configured).expanduser()
    root = checkout_root()
    return root / ".twilight" if root else Path.home() / ".twilight"


def runtime_yaml_path() -> Path:
    return default_home() / "config" / "runtime.yaml"


class TwilightSettings(BaseSettings):
    """Everything an operator may set. Paths left empty derive from ``home``."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        extra="ignore",
        validate_default=True,
    )

    home: Path = Field(default_factory=default_home)
    warehouse_path: Path | None = None
    bearer_db_path: Path | None = None

    tushare_token: SecretStr | None = None
    tushare_api_url: str = REAL_TUSHARE_URL
    # The upstream budget, per API: the token's points tier sets the default rate of each API
    # (twilight_resources/tushare/limits.py); calls_per_minute replaces it for every API and
    # api_calls_per_minute for single ones (JSON: {"daily": 500}). A rate refusal pauses the
    # token for rate_pause_seconds and slows the refused API below the rate it was refused at.
    tushare_points: int = Field(2000, ge=0)
    calls_per_minute: int | None = Field(None, gt=0, le=100_000)
    api_calls_per_minute: dict[str, int] = Field(default_factory=dict)
    rate_pause_seconds: float = Field(60.0, ge=0, le=3600)
    rate_probe_seconds: float = Field(600.0, ge=0)  # hold a refused API's new rate this long
    rate_window_seconds: float = Field(60.0, gt=0)  # the upstream's counting window
    rate_limit_retries: int = Field(8, ge=0, le=100)
    max_in_flight: int = Field(4, ge=1, le=64)
    retry_attempts: int = Field(3, ge=0, le=10)
    retry_backoff_base: float = Field(10.0, ge=0)
    request_timeout: float = Field(30.0, gt=0)

    # The MCP server's live (upstream) answers: rows and wall seconds per answer, and the memory
    # its cache of recent live answers (paged without new calls) may hold.
    mcp_live_max_rows: int = Field(20_000, ge=1, le=1_000_000)
    mcp_live_max_pages: int = Field(10, ge=1, le=1000)
    mcp_live_seconds: float = Field(60.0, gt=0, le=3600)
    mcp_live_cache_mb: int = Field(64, ge=0, le=4096)

    duckdb_read_pool_size: int = Field(4, ge=1, le=64)
    duckdb_read_memory_limit: str = "256MB"
    duckdb_read_threads: int = Field(1, ge=1)
    # The read API moves to a newer snapshot at most this often (seconds): while a backfill
    # publishes every few seconds, each move costs it CPU and cold caches in the middle of
    # answering. /healthz reports the age of the snapshot served.
    snapshot_switch_seconds: float = Field(5.0, ge=0, le=3600)
    duckdb_write_memory_limit: str = "1GB"
    duckdb_write_threads: int = Field(2, ge=1)
    # Dagster steps yield the CPU to the serving processes. Fetching comes before normalizing
    # and writing: a fetcher starved of CPU misses call slots of the budget, which never return.
    fetch_niceness: int = Field(5, ge=0, le=19)
    batch_niceness: int = Field(10, ge=0, le=19)

    market_exchange: Literal["SSE", "SZSE"] = "SSE"
    alert_webhook_url: str | None = None
    scheduler_enabled: bool = True
    sensors_enabled: bool = True
    financials_mode: Literal["period", "stock"] = "period"
    history_start: str = Field("20150101", pattern=r"^\d{8}$")
    index_codes: list[str] = Field(
        default_factory=lambda: ["000001.SH", "000300.SH", "000905.SH", "399001.SZ", "399006.SZ"]
    )

    # AKShare, the second source (twilight_resources/akshare): intraday quotes, cross-source
    # verification, and daily bars when Tushare cannot answer (akshare_mode).
    akshare_enabled: bool = True
    akshare_base_url: str | None = None  # unset: the simulator in simulator mode, else Eastmoney
    akshare_mode: Literal["off", "fallback", "prefer"] = "fallback"
    akshare_timeout: float = Field(5.0, gt=0)
    akshare_max_in_flight: int = Field(8, ge=1, le=64)
    quality_diff_sample: int = Field(100, ge=0)  # stocks compared per check (daily draw); 0: all
    quality_diff_warn: float = Field(0.001, ge=0)  # relative difference flagged as a warning
    quality_diff_critical: float = Field(0.01, ge=0)  # ... and as critical (posted to the webhook)

    sim_seed: int = 20240101
    sim_stocks: int = Field(200, ge=1)
    sim_start_date: str = "20220101"

    @field_validator("tushare_token", mode="before")
    @classmethod
    def _empty_token_is_none(cls, value: object) -> object:
        return None if value in ("", None) else value

    @field_validator("akshare_base_url", mode="before")
    @classmethod
    def _empty_url_is_none(cls, value: object) -> object:
        return None if value in ("", None) else value

    @field_validator("tushare_api_url", "akshare_base_url")
    @classmethod
    def _url_scheme(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("duckdb_read_memory_limit", "duckdb_write_memory_limit")
    @classmethod
    def _memory_limit(cls, value: str) -> str:
        digits = value.upper().rstrip("IB").rstrip("KMGT")
        if not digits.replace(".", "", 1).isdigit():
            raise ValueError("must look like 256MB or 2GB")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        yaml_source = YamlConfigSettingsSource(settings_cls, yaml_file=runtime_yaml_path())
        return init_settings, env_settings, dotenv_settings, yaml_source, file_secret_settings

    @property
    def warehouse_file(self) -> Path:
        return self.warehouse_path or self.home / "warehouse" / "warehouse.duckdb"

    @property
    def bearer_db_file(self) -> Path:
        return self.bearer_db_path or self.home / "state" / "tokens.sqlite"

    @property
    def state_dir(self) -> Path:
        return self.home / "state"

    @property
    def dagster_home(self) -> Path:
        """The Dagster instance of this home, unless ``DAGSTER_HOME`` names another."""
        return Path(os.environ.get("DAGSTER_HOME") or self.home / "dagster")

    @property
    def uses_simulator(self) -> bool:
        """No token means the embedded simulated market (the embedded default)."""
        return self.tushare_token is None


def load_settings(**overrides: Any) -> TwilightSettings:
    """Build settings, turning pydantic's report into one message naming each variable."""
    try:
        return TwilightSettings(**overrides)
    except SourceError as exc:  # a list or mapping variable whose value is not JSON
        field = re.search(r'field "(\w+)"', str(exc))
        name = f"{ENV_PREFIX}{field.group(1).upper()}" if field else "a variable"
        raise SettingsError(
            f"invalid Twilight settings: {name}: lists and mappings are written as JSON, "
            'for example ["000300.SH", "000905.SH"] or {"daily": 200}'
        ) from None
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_input=False, include_url=False):
            name = f"{ENV_PREFIX}{'_'.join(str(p) for p in err['loc']).upper()}"
            problems.append(f"{name}: {err['msg']}")
        raise SettingsError("invalid Twilight settings: " + "; ".join(problems)) from None


@lru_cache(maxsize=1)
def get_settings() -> TwilightSettings:
    return load_settings()


def reset_settings() -> None:
    """Forget the cached settings (tests change the environment between cases)."""
    get_settings.cache_clear()
