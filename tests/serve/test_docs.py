"""/docs and /redoc work offline: every script, style and icon they load is served by the app."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from twilight_resources.settings import load_settings
from twilight_serve.app import create_app

# src="...", href="...", and the url: '...' of Swagger UI's config (the OpenAPI document).
REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|\burl:\s*["']([^"']+)["']""")


@pytest.fixture
def anonymous(tmp_path: Path) -> Iterator[TestClient]:
    """No warehouse and no token: the docs need neither."""
    settings = load_settings(home=tmp_path / "home", tushare_api_url="http://127.0.0.1:9")
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_reference_only_local_assets_that_answer(anonymous: TestClient, page: str) -> None:
    html = anonymous.get(page)
    assert html.status_code == 200, html.text
    urls = [a or b for a, b in REFERENCE.findall(html.text)]
    assert any(u.endswith(".js") for u in urls), urls  # the UI's bundle is among them
    remote = [u for u in urls if re.match(r"^(https?:)?//", u)]
    assert remote == [], f"{page} loads from outside the app: {remote}"
    for url in urls:
        answer = anonymous.get(url)
        assert answer.status_code == 200, url
        assert len(answer.content) > 0, url
