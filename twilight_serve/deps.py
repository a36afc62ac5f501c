"""FastAPI dependencies: the lifespan's components, the clock, and the bearer check.

Routes take components through these instead of reaching into ``app.state``, so a test can
override any one of them and the OpenAPI schema documents the bearer scheme. They are
coroutines because none of them waits on more than one indexed SQLite lookup (the bearer
check): FastAPI runs a plain function dependency on the thread pool, a hand-off per dependency
per request that costs more than the work.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from twilight_resources.settings import TwilightSettings
from twilight_resources.warehouse import WarehouseReader
from twilight_serve.audit import AuditLog
from twilight_serve.auth import Principal, TokenStore
from twilight_serve.market_state import MarketStateResolver
from twilight_serve.quotes import QuoteComposer

_bearer = HTTPBearer(auto_error=False, description="a token from `twilight token create`")


async def get_settings_dep(request: Request) -> TwilightSettings:
    settings: TwilightSettings = request.app.state.settings  # set by the app factory
    return settings


async def get_tokens(request: Request) -> TokenStore:
    tokens: TokenStore = request.app.state.tokens  # set by the app factory
    return tokens


async def get_reader(request: Request) -> WarehouseReader:
    reader: WarehouseReader = request.app.state.reader  # set by the app factory
    return reader


async def get_market(request: Request) -> MarketStateResolver:
    market: MarketStateResolver = request.app.state.market  # set by the app factory
    return market


async def get_audit(request: Request) -> AuditLog:
    audit: AuditLog = request.app.state.audit  # set by the app factory
    return audit


async def get_composer(request: Request) -> QuoteComposer:
    composer: QuoteComposer = request.app.state.composer  # set by the app factory
    return composer


async def get_now(request: Request) -> datetime:
    """The current time from the app's clock (tests inject one instead of sleeping)."""
    clock: Callable[[], datetime] = request.app.state.clock
    return clock()


SettingsDep = Annotated[TwilightSettings, Depends(get_settings_dep)]
TokensDep = Annotated[TokenStore, Depends(get_tokens)]
ReaderDep = Annotated[WarehouseReader, Depends(get_reader)]
MarketDep = Annotated[MarketStateResolver, Depends(get_market)]
AuditDep = Annotated[AuditLog, Depends(get_audit)]
ComposerDep = Annotated[QuoteComposer, Depends(get_composer)]
NowDep = Annotated[datetime, Depends(get_now)]


async def require_bearer(
    tokens: TokensDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller's principal; 401 without a valid, unrevoked bearer token."""
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing bearer token: send 'Authorization: Bearer <token>' "
            "(create one with `twilight token create --user NAME`)",
            headers=challenge,
        )
    principal = tokens.verify(credentials.credentials)
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "invalid or revoked bearer token", headers=challenge
        )
    return principal


PrincipalDep = Annotated[Principal, Depends(require_bearer)]
