"""Shared fixtures: an isolated TWILIGHT_HOME per test, and upstream servers on loopback."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.scripted_upstream import ScriptedUpstream, scripted_upstream
from twilight_resources.settings import reset_settings

SHARED_FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "tushare"


@pytest.fixture
def twilight_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh TWILIGHT_HOME with no inherited TWILIGHT_* variables and fast retries."""
    for name in list(os.environ):
        if name.startswith("TWILIGHT_"):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    monkeypatch.setenv("TWILIGHT_HOME", str(home))
    monkeypatch.setenv("TWILIGHT_RETRY_BACKOFF_BASE", "0.01")
    monkeypatch.chdir(tmp_path)
    reset_settings()
    yield home
    reset_settings()


@pytest.fixture
def upstream() -> Iterator[ScriptedUpstream]:
    with scripted_upstream() as server:
        yield server
