"""Error answers: always JSON with a ``detail`` that says what to fix, never SQL or a trace."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from twilight_resources.logs import redact
from twilight_resources.providers import UnknownSecurityError
from twilight_resources.warehouse import SnapshotUnavailableError

log = logging.getLogger(__name__)


def _describe(error: Mapping[str, Any]) -> str:
    location = [str(part) for part in error.get("loc", ()) if part not in ("query", "path")]
    name = ".".join(location) or "request"
    return f"{name}: {error.get('msg', 'invalid')}"


async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    messages = [_describe(err) for err in exc.errors()]
    return JSONResponse(
        {"detail": redact("; ".join(messages))}, status.HTTP_422_UNPROCESSABLE_CONTENT
    )


async def _unknown_security(request: Request, exc: UnknownSecurityError) -> JSONResponse:
    return JSONResponse(
        {"detail": f"unknown security {exc.ts_code}: not in the warehouse's stock list"},
        status.HTTP_404_NOT_FOUND,
    )


async def _no_snapshot(request: Request, exc: SnapshotUnavailableError) -> JSONResponse:
    return JSONResponse(
        {"detail": "the warehouse has published no snapshot yet; materialize some assets first"},
        status.HTTP_503_SERVICE_UNAVAILABLE,
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s: %s", request.url.path, redact(repr(exc)))
    return JSONResponse(
        {"detail": "internal error; the server log has the details"},
        status.HTTP_500_INTERNAL_SERVER_ERROR,
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)  # type: ignore[arg-type]
    app.add_exception_handler(UnknownSecurityError, _unknown_security)  # type: ignore[arg-type]
    app.add_exception_handler(SnapshotUnavailableError, _no_snapshot)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)
