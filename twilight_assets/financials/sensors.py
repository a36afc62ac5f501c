"""Turn new disclosures into statement fetches.

After each disclosure-calendar refresh, the sensor compares the actual disclosures of the open
periods with those it has already acted on (its cursor: per period, code -> actual date) and
requests the statements of each period with new ones. In stock mode the run asks only the
newly disclosed stocks (run config on the raw assets), so a refresh costs calls in proportion to
what changed, not to the market. An actual date that moves counts as new again.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date

from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from twilight_assets.financials.assets import STATEMENT_TABLES
from twilight_assets.financials.periods import open_periods
from twilight_assets.financials.schedules import statements_job
from twilight_assets.planners import Seen, actual_disclosures
from twilight_resources.calendar import to_key
from twilight_resources.settings import TwilightSettings, get_settings
from twilight_resources.tushare.resource import upstream_today


def new_disclosures(current: Seen, acted: Seen) -> Seen:
    """Per period, the disclosures not in ``acted`` (or whose actual date has moved)."""
    out = {}
    for period, codes in sorted(current.items()):
        done = acted.get(period, {})
        fresh = {c: actual for c, actual in sorted(codes.items()) if done.get(c) != actual}
        if fresh:
            out[period] = fresh
    return out


def statement_request(period: str, fresh: dict[str, str], settings: TwilightSettings
                      ) -> RunRequest:
    """The statements of ``period``; in stock mode only for the newly disclosed codes."""
    codes = sorted(fresh)
    digest = hashlib.sha256(json.dumps(fresh, sort_keys=True).encode()).hexdigest()[:12]
    ops = {}
    if settings.financials_mode == "stock":
        ops = {f"raw__{api}": {"config": {"ts_codes": codes}} for api in STATEMENT_TABLES}
    return RunRequest(
        run_key=f"statements:{period}:{digest}",
        partition_key=period,
        run_config={"ops": ops},
        tags={"twilight/new_disclosures": str(len(codes))},
    )


def evaluate(day: date, cursor: str | None, settings: TwilightSettings) -> SensorResult:
    """The sensor's decision for the upstream's ``day``; pure apart from the snapshot read."""
    periods = [to_key(p) for p in open_periods(day)]
    if not periods:
        return SensorResult(skip_reason=SkipReason(f"{day}: no report period is open"))
    acted: Seen = json.loads(cursor) if cursor else {}
    current = actual_disclosures(settings, periods)
    fresh = new_disclosures(current, acted)
    cursor_out = json.dumps({p: {**acted.get(p, {}), **current.get(p, {})} for p in periods},
                            sort_keys=True)
    if not fresh:
        reason = f"{day}: no new disclosure in open periods {', '.join(periods)}"
        return SensorResult(skip_reason=SkipReason(reason), cursor=cursor_out)
    requests = [statement_request(p, codes, settings) for p, codes in fresh.items()]
    return SensorResult(run_requests=requests, cursor=cursor_out)


@sensor(
    name="new_disclosures",
    job=statements_job,
    minimum_interval_seconds=300,
    default_status=DefaultSensorStatus.RUNNING,
    description="Statements of the stocks whose actual disclosure appeared since the last tick.",
)
def new_disclosures_sensor(context: SensorEvaluationContext) -> SensorResult:
    settings = get_settings()
    if not settings.sensors_enabled:
        return SensorResult(skip_reason=SkipReason(
            "sensors are switched off (TWILIGHT_SENSORS_ENABLED=false)"))
    return evaluate(upstream_today(settings), context.cursor, settings)


sensors = [new_disclosures_sensor]
