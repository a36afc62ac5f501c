"""Settings: precedence env > .env > runtime.yaml > defaults, clear errors, no leaked token."""

from __future__ import annotations

from pathlib import Path

import pytest

from twilight_resources.settings import SettingsError, load_settings
from twilight_resources.tushare.resource import api_limits

TOKEN = "tok-0123456789abcdef"


def write_yaml(home: Path, text: str) -> None:
    (home / "config").mkdir(parents=True, exist_ok=True)
    (home / "config" / "runtime.yaml").write_text(text)


def test_per_api_budgets_from_the_environment(
    twilight_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWILIGHT_TUSHARE_POINTS", "5000")
    monkeypatch.setenv("TWILIGHT_API_CALLS_PER_MINUTE", '{"daily_basic": 120}')
    limits = api_limits(load_settings())
    assert limits.per_minute("adj_factor") == 500 and limits.per_minute("daily_basic") == 120
    monkeypatch.setenv("TWILIGHT_CALLS_PER_MINUTE", "90")
    limits = api_limits(load_settings())
    assert limits.per_minute("daily") == 90 and limits.per_minute("daily_basic") == 120


def test_defaults(twilight_home: Path) -> None:
    s = load_settings()
    assert s.home == twilight_home
    # Per-API budgets from the points tier: daily is documented at 500/min from the base tier.
    assert s.calls_per_minute is None and s.tushare_points == 2000
    limits = api_limits(s)
    assert limits.per_minute("daily") == 500 and limits.per_minute("adj_factor") == 200
    assert s.retry_attempts == 3
    assert s.tushare_api_url == "http://api.tushare.pro"
    assert s.tushare_token is None and s.uses_simulator
    assert s.warehouse_file == twilight_home / "warehouse" / "warehouse.duckdb"
    assert s.market_exchange == "SSE"


def test_env_beats_dotenv_beats_yaml_beats_default(
    twilight_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_yaml(twilight_home, "calls_per_minute: 100\nretry_attempts: 5\nmax_in_flight: 7\n")
    Path(".env").write_text("TWILIGHT_CALLS_PER_MINUTE=200\nTWILIGHT_RETRY_ATTEMPTS=6\n")
    monkeypatch.setenv("TWILIGHT_CALLS_PER_MINUTE", "300")
    s = load_settings()
    assert s.calls_per_minute == 300  # env
    assert s.retry_attempts == 6  # .env
    assert s.max_in_flight == 7  # yaml
    assert s.request_timeout == 30.0  # default


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TWILIGHT_CALLS_PER_MINUTE", "0"),
        ("TWILIGHT_CALLS_PER_MINUTE", "lots"),
        ("TWILIGHT_TUSHARE_API_URL", "api.tushare.pro"),
        ("TWILIGHT_MARKET_EXCHANGE", "NYSE"),
        ("TWILIGHT_DUCKDB_READ_MEMORY_LIMIT", "a lot"),
        ("TWILIGHT_INDEX_CODES", "000300.SH"),  # a list, not JSON
        ("TWILIGHT_API_CALLS_PER_MINUTE", "daily=200"),
    ],
)
def test_invalid_value_names_the_variable(
    twilight_home: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=name):
        load_settings()


def test_invalid_yaml_value_names_the_variable(twilight_home: Path) -> None:
    write_yaml(twilight_home, "retry_attempts: -1\n")
    with pytest.raises(SettingsError, match="TWILIGHT_RETRY_ATTEMPTS"):
        load_settings()


def test_token_never_shown(twilight_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWILIGHT_TUSHARE_TOKEN", TOKEN)
    s = load_settings()
    assert s.tushare_token is not None and s.tushare_token.get_secret_value() == TOKEN
    assert not s.uses_simulator
    for text in (repr(s), str(s), s.model_dump_json()):
        assert TOKEN not in text


def test_invalid_settings_error_does_not_echo_token(
    twilight_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWILIGHT_TUSHARE_TOKEN", TOKEN)
    monkeypatch.setenv("TWILIGHT_CALLS_PER_MINUTE", TOKEN)
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert TOKEN not in str(info.value)
