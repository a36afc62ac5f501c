"""The fetch spool: every upstream answer is on disk before the warehouse write that uses it.

A backfill writes its partitions to DuckDB in one transaction at the end of a step; if the step
is killed before that, what it fetched would be lost and fetched again. The spool keeps each
answer (the upstream's fields, and their values column by column) under a key derived from the
call, written atomically, so a rerun reads it back instead of spending the call twice. The
entries of a raw write are deleted right after it commits; a kill in between leaves them to the
next attempt, which finds their partitions in the ledger and drops them without asking the
upstream again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pandas as pd


class FetchSpool:
    """A directory of JSON answers, one file per (api, params) call."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, api_name: str, params: Mapping[str, Any]) -> Path:
        """The file that holds (or would hold) the answer of one call."""
        digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:24]
        return self.root / api_name / f"{digest}.json"

    def get(self, api_name: str, params: Mapping[str, Any]) -> tuple[pd.DataFrame, str] | None:
        """The spooled answer and when it was fetched (ISO time, UTC), or None."""
        path = self.path(api_name, params)
        if not path.exists():
            return None
        answer = orjson.loads(path.read_bytes())
        fields = answer["fields"]
        if "columns" in answer:
            frame = pd.DataFrame(dict(zip(fields, answer["columns"], strict=True)), columns=fields)
        else:  # spooled row by row, before answers were stored by column
            frame = pd.DataFrame(answer["items"], columns=fields)
        return frame, answer["fetched_at"]

    def put(self, api_name: str, params: Mapping[str, Any], frame: pd.DataFrame) -> str:
        """Store an answer; returns its fetch time (ISO, UTC)."""
        path = self.path(api_name, params)
        path.parent.mkdir(parents=True, exist_ok=True)
        fetched_at = datetime.now(UTC).replace(tzinfo=None).isoformat()
        answer = {
            "params": dict(params),
            "fetched_at": fetched_at,
            "fields": list(frame.columns),
            "columns": [_column(frame.iloc[:, i]) for i in range(frame.shape[1])],
        }
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(orjson.dumps(answer, option=orjson.OPT_SERIALIZE_NUMPY))
        os.replace(tmp, path)
        return fetched_at

    def drop(self, api_name: str, params: Mapping[str, Any]) -> None:
        self.path(api_name, params).unlink(missing_ok=True)


def _column(values: pd.Series) -> Any:
    """One column for orjson: float and integer columns as numpy arrays (NaN is written as
    null, floats in their shortest exact form, so an answer read back is the answer fetched,
    bit for bit); other columns as Python objects with missing values as None."""
    if values.dtype.kind in "fiu":
        return values.to_numpy()
    if values.isna().any():
        values = values.astype(object).where(values.notna(), None)  # type: ignore[call-overload]
    return values.tolist()


def discard(entries: Iterable[Path]) -> None:
    """Delete spooled answers (``FetchSpool.path``) whose rows are written."""
    for entry in entries:
        entry.unlink(missing_ok=True)


def prune_run_spools(root: Path, keep: str, max_age_s: float) -> None:
    """Delete per-run spools (``root/<run>``) idle for ``max_age_s``, except ``keep``'s.

    Refresh tables spool per run; a run's answers matter only to a retry of that run, which
    comes within hours, so older directories are only disk.
    """
    if not root.is_dir():
        return
    cutoff = datetime.now(UTC).timestamp() - max_age_s
    for run in root.iterdir():
        if run.name != keep and run.is_dir() and run.stat().st_mtime < cutoff:
            shutil.rmtree(run, ignore_errors=True)
