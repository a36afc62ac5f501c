"""Turn new disclosures into statement fetches, and keep asking until the fetch succeeds.

After each disclosure-calendar refresh, the sensor compares the actual disclosures of the open
periods with those whose statements a successful run has fetched, and requests the statements
of each period with new ones. In stock mode the run asks only the newly disclosed stocks (run
config on the raw assets), so a refresh costs calls in proportion to what changed, not to the
market. An actual date that moves counts as new again.

The cursor advances on success, not on request: a requested run is ``pending`` until the
instance shows how it ended. A successful run moves its disclosures to ``done``; a failed or
canceled one puts them back in play, and the next tick asks again (a new run key), up to
``MAX_ATTEMPTS`` times; after that the quarterly full scan is the safety net.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date

from dagster import (
    DagsterInstance,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from twilight_assets.financials.schedules import statements_job
from twilight_assets.planners import Seen, actual_disclosures
from twilight_resources.calendar import to_key
from twilight_resources.catalog import statement_apis
from twilight_resources.periods import open_periods
from twilight_resources.settings import TwilightSettings, get_settings
from twilight_resources.tushare.resource import upstream_today

REQUEST_TAG = "twilight/disclosure_request"
MAX_ATTEMPTS = 3
FAILED = {DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}


@dataclass
class Pending:
    """One requested statements run whose outcome the sensor has not seen yet."""

    period: str
    codes: dict[str, str]  # ts_code -> actual disclosure date


@dataclass
class SensorState:
    """The cursor: disclosures fetched by a successful run, runs still out, failures so far."""

    done: Seen = field(default_factory=dict)
    pending: dict[str, Pending] = field(default_factory=dict)
    failures: dict[str, dict[str, int]] = field(default_factory=dict)  # period -> code -> n

    @classmethod
    def load(cls, cursor: str | None) -> SensorState:
        doc = json.loads(cursor) if cursor else {}
        if doc and "done" not in doc:  # a cursor that is the done mapping itself: nothing pending
            return cls(done=doc)
        return cls(
            done=doc.get("done", {}),
            pending={key: Pending(**p) for key, p in doc.get("pending", {}).items()},
            failures=doc.get("failures", {}),
        )

    def dump(self) -> str:
        pending = {k: vars(p) for k, p in sorted(self.pending.items())}
        doc = {"done": self.done, "pending": pending, "failures": self.failures}
        return json.dumps(doc, sort_keys=True)

    def outstanding(self) -> Seen:
        """Disclosures already asked for by a run that has not ended."""
        return _merge(*({p.period: p.codes} for p in self.pending.values()))

    def attempt(self, period: str, codes: dict[str, str]) -> int:
        """1 for a first request; one more than the most failures among ``codes`` otherwise."""
        failed = self.failures.get(period, {})
        return 1 + max((failed.get(code, 0) for code in codes), default=0)

    def settle(self, key: str, status: DagsterRunStatus) -> str | None:
        """Record how the run of request ``key`` ended; a note when it failed."""
        pending = self.pending.pop(key)
        if status == DagsterRunStatus.SUCCESS:
            self.done = _merge(self.done, {pending.period: pending.codes})
            return None
        failed = self.failures.setdefault(pending.period, {})
        for code in pending.codes:
            failed[code] = failed.get(code, 0) + 1
        given_up = {c: a for c, a in pending.codes.items() if failed[c] >= MAX_ATTEMPTS}
        if given_up:  # the quarterly full scan catches these
            self.done = _merge(self.done, {pending.period: given_up})
            return f"{key} {status.value.lower()}; {len(given_up)} stock(s) left to the full scan"
        return f"{key} {status.value.lower()}; asking again"


def _merge(*maps: Seen) -> Seen:
    out: Seen = {}
    for seen in maps:
        for period, codes in seen.items():
            out.setdefault(period, {}).update(codes)
    return out


def new_disclosures(current: Seen, acted: Seen) -> Seen:
    """Per period, the disclosures not in ``acted`` (or whose actual date has moved)."""
    out = {}
    for period, codes in sorted(current.items()):
        done = acted.get(period, {})
        fresh = {c: actual for c, actual in sorted(codes.items()) if done.get(c) != actual}
        if fresh:
            out[period] = fresh
    return out


def statement_request(
    period: str, fresh: dict[str, str], attempt: int, settings: TwilightSettings
) -> RunRequest:
    """The statements of ``period``; in stock mode only for the newly disclosed codes."""
    codes = sorted(fresh)
    digest = hashlib.sha256(json.dumps(fresh, sort_keys=True).encode()).hexdigest()[:12]
    key = f"statements:{period}:{digest}:{attempt}"
    ops = {}
    if settings.financials_mode == "stock":
        ops = {f"raw__{api}": {"config": {"ts_codes": codes}} for api in statement_apis()}
    return RunRequest(
        run_key=key,
        partition_key=period,
        run_config={"ops": ops},
        tags={"twilight/new_disclosures": str(len(codes)), REQUEST_TAG: key},
    )


def settle(state: SensorState, instance: DagsterInstance | None) -> list[str]:
    """Settle every pending request whose run has ended; notes on the failed ones."""
    if instance is None:
        return []
    notes = []
    for key in list(state.pending):
        runs = instance.get_runs(filters=RunsFilter(tags={REQUEST_TAG: key}), limit=1)
        if runs and (runs[0].status == DagsterRunStatus.SUCCESS or runs[0].status in FAILED):
            note = state.settle(key, runs[0].status)
            if note:
                notes.append(note)
    return notes


def evaluate(
    day: date,
    cursor: str | None,
    settings: TwilightSettings,
    instance: DagsterInstance | None = None,
) -> SensorResult:
    """The sensor's decision for the upstream's ``day``; pure apart from snapshot and runs."""
    periods = [to_key(p) for p in open_periods(day)]
    if not periods:
        return SensorResult(skip_reason=SkipReason(f"{day}: no report period is open"))
    state = SensorState.load(cursor)
    notes = settle(state, instance)
    current = actual_disclosures(settings, periods)
    fresh = new_disclosures(current, _merge(state.done, state.outstanding()))
    if not fresh:
        waiting = f"; waiting for {len(state.pending)} run(s)" if state.pending else ""
        reason = f"{day}: no new disclosure in open periods {', '.join(periods)}{waiting}"
        return SensorResult(
            skip_reason=SkipReason("; ".join([reason, *notes])), cursor=state.dump()
        )
    requests = []
    for period, codes in fresh.items():
        request = statement_request(period, codes, state.attempt(period, codes), settings)
        state.pending[str(request.run_key)] = Pending(period, codes)
        requests.append(request)
    return SensorResult(run_requests=requests, cursor=state.dump())


@sensor(
    name="new_disclosures",
    job=statements_job,
    minimum_interval_seconds=300,
    default_status=DefaultSensorStatus.RUNNING,
    description="Statements of the stocks whose actual disclosure appeared since the last tick; "
    "failed runs are asked again.",
)
def new_disclosures_sensor(context: SensorEvaluationContext) -> SensorResult:
    settings = get_settings()
    if not settings.sensors_enabled:
        return SensorResult(
            skip_reason=SkipReason("sensors are switched off (TWILIGHT_SENSORS_ENABLED=false)")
        )
    return evaluate(upstream_today(settings), context.cursor, settings, context.instance)


sensors = [new_disclosures_sensor]
