"""Where AKShare's requests go, and the settings that steer AKShare."""

from __future__ import annotations

import pytest

from twilight_resources.akshare.settings import akshare_base_url
from twilight_resources.settings import SettingsError, load_settings


def test_base_url_explicit_then_simulator_then_eastmoney(twilight_home) -> None:
    assert akshare_base_url(load_settings(akshare_base_url="http://mirror:8080/")) == (
        "http://mirror:8080"
    )
    sim = load_settings(tushare_api_url="http://127.0.0.1:5555")
    assert akshare_base_url(sim) == "http://127.0.0.1:5555"  # the simulator speaks Eastmoney
    real = load_settings(tushare_token="t0ken-for-test")
    assert akshare_base_url(real) is None  # a real token: the real Eastmoney hosts


def test_invalid_values_name_the_variable(twilight_home) -> None:
    with pytest.raises(SettingsError, match="TWILIGHT_AKSHARE_BASE_URL"):
        load_settings(akshare_base_url="ftp://x")
    with pytest.raises(SettingsError, match="TWILIGHT_AKSHARE_MODE"):
        load_settings(akshare_mode="sometimes")
