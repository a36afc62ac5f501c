"""Property-based fuzz of the OpenAPI schema: never a 5xx, never an undocumented answer.

Positive cases follow the documented formats (and so reach the queries); negative ones break
them (and must be refused with a 4xx, not crash).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.serve.conftest import Clock, Served, create_token, market_time
from twilight_serve.app import create_app


@pytest.fixture(scope="module")
def fuzz_target(served: Served, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    """The app with its lifespan running (components on app.state) and a valid token."""
    config = served.settings(bearer_db_path=tmp_path_factory.mktemp("fuzz") / "tokens.sqlite")
    app = create_app(config, clock=Clock(market_time("20240801 10:00")))
    with TestClient(app):
        yield app, create_token(config, "fuzzer")


# No 5xx, and every answer is one the schema documents (status, content type, body).
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# The schema alone needs no lifespan. Negative cases need a parameter to break.
CASES = [
    (path, mode)
    for path, operations in sorted(create_app().openapi()["paths"].items())
    for mode in GenerationMode
    if mode is GenerationMode.POSITIVE or operations["get"].get("parameters")
]


@pytest.fixture(scope="module")
def api_schema(fuzz_target: tuple) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_target[0])


@pytest.mark.parametrize(("path", "mode"), CASES)
def test_no_server_errors(
    path: str, mode: GenerationMode, api_schema: schemathesis.BaseSchema, fuzz_target: tuple
) -> None:
    headers = {"Authorization": f"Bearer {fuzz_target[1]}"}

    @given(case=api_schema[path]["GET"].as_strategy(mode))
    @settings(
        max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    def fuzz(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    fuzz()
