"""Our own Tushare Pro client: the wire protocol, paging, retries and the shared call budget.

We do not ingest through the ``tushare`` package: its ``DataApi.query`` turns an HTTP 500 into an
empty DataFrame, ignores ``has_more`` and never retries. This client speaks the same protocol
(POST ``{url}/{api_name}`` with ``{"api_name", "token", "params", "fields"}``) and fails loudly.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import httpx
import pandas as pd

from twilight_resources.logs import redact, register_secret
from twilight_resources.tushare.budget import CallBudget
from twilight_resources.tushare.errors import (
    TushareError,
    TushareRequestError,
    TushareRetriesExhausted,
    TushareUnavailable,
    classify,
)
from twilight_resources.tushare.journal import CallJournal, CallRecord

log = logging.getLogger(__name__)

# Per-call row caps Tushare documents; a page this full means "ask for the next one" even when
# the answer carries no has_more flag.
ROW_CAPS: Mapping[str, int] = {
    "daily": 6000,
    "weekly": 4500,
    "monthly": 4500,
    "index_daily": 8000,
    "fina_indicator": 60,
    "disclosure_date": 3000,
}


@dataclass(frozen=True)
class TushareRequest:
    """One logical call; ``tag`` rides along so callers can match answers to requests."""

    api_name: str
    params: Mapping[str, Any] = field(default_factory=dict)
    fields: tuple[str, ...] = ()
    tag: Any = None


@dataclass
class _Page:
    fields: list[str]
    items: list[list[Any]]
    has_more: bool


class TushareClient:
    """Thread-safe, budgeted client; one instance per process is enough."""

    def __init__(
        self,
        api_url: str,
        token: str,
        *,
        budget: CallBudget | None = None,
        journal: CallJournal | None = None,
        timeout: float = 30.0,
        retry_attempts: int = 3,
        backoff_base: float = 10.0,
        max_in_flight: int = 4,
    ) -> None:
        if not token:
            raise TushareRequestError("*", "no Tushare token configured")
        register_secret(token)
        self.api_url = api_url.rstrip("/")
        self._token = token
        self.budget, self.journal = budget, journal
        self.retry_attempts, self.backoff_base = retry_attempts, backoff_base
        self.max_in_flight = max_in_flight
        self._http = httpx.Client(
            timeout=timeout,
            limits=httpx.Limits(max_connections=max_in_flight * 2),
        )

    def __repr__(self) -> str:
        return f"TushareClient(api_url={self.api_url!r}, token=***)"

    def close(self) -> None:
        self._http.close()

    def query(
        self,
        api_name: str,
        params: Mapping[str, Any] | None = None,
        fields: Iterable[str] = (),
    ) -> pd.DataFrame:
        """All rows of one call, paged through the row cap, as Tushare's own columns."""
        params = {k: v for k, v in (params or {}).items() if v is not None}
        started, attempts, pages = time.monotonic(), 0, 0
        columns: list[str] = []
        items: list[list[Any]] = []
        try:
            while True:
                page_params = dict(params)
                if pages:
                    page_params["offset"] = len(items)
                    if api_name in ROW_CAPS:
                        page_params["limit"] = ROW_CAPS[api_name]
                page, tries = self._call_with_retry(api_name, page_params, ",".join(fields))
                attempts += tries
                pages += 1
                columns = columns or page.fields
                items.extend(page.items)
                full = len(page.items) == ROW_CAPS.get(api_name)
                if not page.items or not (page.has_more or full):
                    break
        except TushareError as exc:
            self._record(api_name, params, len(items), pages, attempts, started, exc)
            raise
        frame = pd.DataFrame(items, columns=columns)
        self._record(api_name, params, len(frame), pages, attempts, started, None)
        return frame

    def query_many(
        self, requests: Iterable[TushareRequest]
    ) -> Iterator[tuple[TushareRequest, pd.DataFrame]]:
        """Run calls with several in flight, yielding each answer as it completes.

        Keeping ``max_in_flight`` calls open lets a slow upstream still use the whole budget;
        the budget itself spaces the calls. The first error cancels what has not started.
        """
        pending: dict[Future[pd.DataFrame], TushareRequest] = {}
        queue = iter(requests)
        with ThreadPoolExecutor(self.max_in_flight, thread_name_prefix="tushare") as pool:

            def submit_next() -> None:
                for req in queue:
                    pending[pool.submit(self.query, req.api_name, req.params, req.fields)] = req
                    return

            for _ in range(self.max_in_flight):
                submit_next()
            try:
                while pending:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in done:
                        req = pending.pop(fut)
                        yield req, fut.result()
                        submit_next()
            finally:
                for fut in pending:
                    fut.cancel()

    def _call_with_retry(
        self, api_name: str, params: Mapping[str, Any], fields: str
    ) -> tuple[_Page, int]:
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._post(api_name, params, fields), attempt
            except TushareError as exc:
                if not exc.transient:
                    raise
                if attempt > self.retry_attempts:
                    raise TushareRetriesExhausted(exc, attempt) from None
                delay = self.backoff_base * 2 ** (attempt - 1) * (1 + random.uniform(0, 0.1))
                log.warning("%s; retry %d/%d in %.1fs", exc, attempt, self.retry_attempts, delay)
                time.sleep(delay)

    def _post(self, api_name: str, params: Mapping[str, Any], fields: str) -> _Page:
        if self.budget is not None:
            self.budget.acquire()
        body = {
            "api_name": api_name,
            "token": self._token,
            "params": dict(params),
            "fields": fields,
        }
        try:
            response = self._http.post(f"{self.api_url}/{api_name}", json=body)
        except httpx.TimeoutException as exc:
            raise TushareUnavailable(api_name, f"timed out: {type(exc).__name__}") from None
        except httpx.TransportError as exc:
            raise TushareUnavailable(api_name, f"connection failed: {redact(str(exc))}") from None
        if response.status_code >= 500:
            raise TushareUnavailable(api_name, f"HTTP {response.status_code}")
        if response.status_code >= 400:
            raise TushareRequestError(api_name, f"HTTP {response.status_code}")
        try:
            payload = response.json()
        except ValueError:
            raise TushareUnavailable(api_name, "answer is not JSON") from None
        code = payload.get("code")
        if code != 0:
            raise classify(api_name, int(code or -1), redact(str(payload.get("msg") or "")))
        data = payload.get("data") or {}
        if "fields" not in data or "items" not in data:
            raise TushareUnavailable(api_name, "answer has no data.fields/data.items")
        return _Page(list(data["fields"]), list(data["items"]), bool(data.get("has_more")))

    def _record(
        self,
        api_name: str,
        params: Mapping[str, Any],
        rows: int,
        pages: int,
        attempts: int,
        started: float,
        error: TushareError | None,
    ) -> None:
        if self.journal is None:
            return
        outcome = "ok" if error is None else type(error).__name__
        self.journal.record(
            CallRecord(
                api_name=api_name,
                params=dict(params),
                rows=rows,
                pages=pages,
                attempts=attempts,
                latency_ms=(time.monotonic() - started) * 1000,
                outcome=outcome,
                error=None if error is None else str(error),
            )
        )
