"""Liveness (no auth) and the caller's identity."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter

from twilight_resources.warehouse import SnapshotUnavailableError
from twilight_resources.warehouse.snapshots import deferred_since
from twilight_serve.deps import MarketDep, NowDep, PrincipalDep, ReaderDep, SettingsDep
from twilight_serve.models import PROBLEMS, Health, WhoAmI

router = APIRouter(tags=["meta"])


@router.get("/healthz", response_model=Health)
def healthz(reader: ReaderDep, market: MarketDep, settings: SettingsDep, now: NowDep) -> Health:
    """Up, and how old the snapshot it answers from is (no auth, for probes)."""
    try:
        info = reader.snapshot_info()
    except SnapshotUnavailableError:
        info = None
    return Health(
        status="ok" if info is not None else "no_snapshot",
        mode="simulator" if settings.uses_simulator else "tushare",
        snapshot_generation=info.generation if info else None,
        snapshot_published_at=info.published_at if info else None,
        snapshot_age_seconds=round(info.age_seconds, 3) if info else None,
        unpublished_since=deferred_since(settings.warehouse_file),
        market_phase=market.state(now).phase.value,
    )


@router.get("/whoami", response_model=WhoAmI, responses={401: PROBLEMS[401]})
def whoami(principal: PrincipalDep) -> WhoAmI:
    """The user the bearer token belongs to."""
    return WhoAmI(
        user=principal.user,
        token_id=principal.token_id,
        token_created_at=datetime.fromtimestamp(principal.created_at, UTC),
    )
