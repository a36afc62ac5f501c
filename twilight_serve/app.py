"""The read API: a thin FastAPI app over published warehouse snapshots.

It never opens the warehouse file (see :class:`WarehouseReader`), so it keeps answering while
Dagster writes. The lifespan builds each component once, in dependency order, puts it on
``app.state`` and tears them down in reverse. What blocks start: an unwritable token store
(auth guards every route but /healthz). What does not: a missing trade calendar (the market
counts as closed), a missing Tushare token (warehouse/simulator mode), an unreachable alert
webhook (the read API never contacts it), no snapshot yet (routes answer 503 until one is
published).
"""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from twilight_resources.akshare.settings import client_from_settings as akshare_client
from twilight_resources.calendar import MARKET_TZ
from twilight_resources.catalog import CATALOG, Catalog
from twilight_resources.providers import ProviderRegistry
from twilight_resources.providers.akshare import AkshareSpotProvider
from twilight_resources.settings import TwilightSettings, get_settings
from twilight_resources.warehouse import SnapshotUnavailableError, WarehouseReader
from twilight_serve.audit import AuditLog
from twilight_serve.auth import TokenStore
from twilight_serve.checks import CheckResults
from twilight_serve.errors import install_error_handlers
from twilight_serve.last_close import WarehouseLastCloseProvider
from twilight_serve.limits import READ_API_MAX_BODY
from twilight_serve.market_state import MarketStateResolver
from twilight_serve.quotes import QuoteCache, QuoteComposer
from twilight_serve.routes import fundamentals, meta, price, quality, warehouse

log = logging.getLogger(__name__)


def market_now() -> datetime:
    return datetime.now(MARKET_TZ)


WATCH_SECONDS = 0.25  # how soon a newly published snapshot is noticed


def _generation(reader: WarehouseReader) -> Callable[[], int | None]:
    def current() -> int | None:
        try:
            return reader.snapshot_info().generation
        except SnapshotUnavailableError:
            return None

    return current


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    state = app.state
    settings: TwilightSettings = getattr(state, "settings", None) or get_settings()
    state.settings = settings
    # 1. Bearer tokens: raises TokenStoreError (refusing to start) if the file takes no writes.
    state.tokens = TokenStore(settings.bearer_db_file)
    try:
        # 2. The snapshot reader; a warehouse with no snapshot yet is served as 503s. It opens
        #    new snapshots in the background, so requests never wait on a switch.
        state.reader = WarehouseReader.from_settings(
            settings,
            watch_interval=WATCH_SECONDS,
            switch_interval=settings.snapshot_switch_seconds,
            # What the read API's routes read (catalog entries with read_api): a new
            # snapshot is warmed with them before it is served.
            warm_tables=state.catalog.served(),
        )
        try:
            # 3. Market state from the stored calendar (warns and counts as closed if absent).
            state.market = MarketStateResolver(
                state.reader, settings.market_exchange, simulated=settings.uses_simulator
            )
            # 4. Upstream call journal (/quality/audit), asset check results (/quality/checks).
            state.audit = AuditLog(settings.state_dir / "upstream.sqlite")
            state.checks = CheckResults(os.environ.get("DAGSTER_HOME"))
            # 5-7. Quote cache, providers (warehouse last close; AKShare's live quote while
            # trading, unless TWILIGHT_AKSHARE_ENABLED=false), and the composer choosing.
            state.quote_cache = QuoteCache()
            state.providers = ProviderRegistry([WarehouseLastCloseProvider(state.reader)])
            if settings.akshare_enabled:
                # No upstream call here, and akshare is imported on the first quote: a missing
                # akshare surfaces as "provider unavailable" then, and /price falls back.
                client = akshare_client(settings, lazy=True)
                state.providers.register(AkshareSpotProvider(client, state.clock))
            state.composer = QuoteComposer(
                state.providers, state.market, state.quote_cache, _generation(state.reader)
            )
            if settings.uses_simulator:
                log.info("no TWILIGHT_TUSHARE_TOKEN: serving the warehouse (simulator mode)")
            log.info(
                "read API ready: warehouse %s, providers %s",
                settings.warehouse_file,
                ", ".join(state.providers.names()),
            )
            # What startup allocated is long-lived: out of the collector's way, a full collection
            # during a request scans only what requests allocate.
            gc.freeze()
            yield
        finally:
            if hasattr(state, "providers"):
                state.providers.clear()
            if hasattr(state, "checks"):
                state.checks.close()
            state.reader.close()
    finally:
        state.tokens.close()


def create_app(
    settings: TwilightSettings | None = None,
    clock: Callable[[], datetime] = market_now,
    catalog: Catalog = CATALOG,
) -> FastAPI:
    """The app; ``settings`` and ``clock`` default to the environment and the wall clock, and
    ``catalog`` (the tables served, their freshness cadence) to the house's."""
    # /docs and /redoc load Swagger UI and ReDoc from files shipped in fastapi-offline, not a
    # CDN: the machines this serves are often offline.
    app = FastAPIOffline(
        title="twilight read API",
        version="0.1.0",
        description="China A-share warehouse data, read from immutable published snapshots.",
        lifespan=lifespan,
        max_body_size=READ_API_MAX_BODY,
    )
    if settings is not None:
        app.state.settings = settings
    app.state.clock = clock
    app.state.catalog = catalog
    install_error_handlers(app)
    for module in (meta, warehouse, fundamentals, price, quality):
        app.include_router(module.router)
    return app
