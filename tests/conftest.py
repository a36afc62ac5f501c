"""Shared fixtures: an isolated TWILIGHT_HOME per test, and upstream servers on loopback."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.scripted_upstream import ScriptedUpstream, scripted_upstream
from twilight_resources.settings import reset_settings

SHARED_FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "tushare"
HAS_SHARED_FIXTURES = (SHARED_FIXTURES / "FIELDS.md").is_file()
NO_SHARED_FIXTURES = (
    f"needs the real Tushare fixtures in {SHARED_FIXTURES} (not part of the repository; "
    "CI has them)"
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "shared_fixtures: reads ../shared/fixtures/tushare; skipped when it is absent"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip, with one reason, every test marked ``shared_fixtures`` or using ``fixtures_dir``
    when the real fixtures are not beside the repository (a plain clone)."""
    if HAS_SHARED_FIXTURES:
        return
    skip = pytest.mark.skip(reason=NO_SHARED_FIXTURES)
    for item in items:
        if item.get_closest_marker("shared_fixtures") or "fixtures_dir" in getattr(
            item, "fixturenames", ()
        ):
            # First, so it is the reason shown (before e.g. an empty parameter set's).
            item.add_marker(skip, append=False)


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """The real Tushare data beside the repository (tests using it skip when it is absent)."""
    return SHARED_FIXTURES


@pytest.fixture
def twilight_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh TWILIGHT_HOME with no inherited TWILIGHT_* variables and fast retries."""
    for name in list(os.environ):
        if name.startswith("TWILIGHT_"):
            monkeypatch.delenv(name)
    # The CLI exports DAGSTER_HOME for its children; undone after the test.
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
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
