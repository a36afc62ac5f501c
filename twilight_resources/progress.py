"""Progress of the long jobs a person waits on (backfills, the demo's stages, plan's lookups).

On a terminal: a live bar (rich) with done/total, rate, ETA and what is being worked on. Not on
a terminal (logs, CI, a pipe): plain lines, one per event and at most one status line every
``interval`` seconds, so a log stays readable and still shows the job moving.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import IO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

STATUS_INTERVAL_S = 10.0


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Reporter:
    """One job's progress: ``total`` units of ``unit``; ``update`` as they are done."""

    def __init__(
        self,
        title: str,
        total: int,
        unit: str,
        *,
        stream: IO[str] | None = None,
        live: bool | None = None,
        interval: float = STATUS_INTERVAL_S,
        rate: bool = True,
    ) -> None:
        """``rate``: show units per minute and an ETA (off for a few unequal stages)."""
        self.title, self.total, self.unit, self.interval = title, max(total, 0), unit, interval
        self.show_rate = rate
        self.done, self.info = 0, ""
        self._stream = stream or sys.stdout
        self._console = Console(file=self._stream, highlight=False)
        self._live = self._console.is_terminal if live is None else live
        self._started = time.monotonic()
        self._last_line = 0.0
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> Reporter:
        if self._live:
            timing = (
                [TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"),
                 TimeRemainingColumn()]
                if self.show_rate else [TimeElapsedColumn()]
            )  # fmt: skip
            self._progress = Progress(
                TextColumn("{task.description}", style="bold", markup=False),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[unit]}"),
                *timing,
                TextColumn("{task.fields[info]}", markup=False),
                console=self._console,
                transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task(
                self.title, total=self.total or None, unit=self.unit, rate="", info=""
            )
        else:
            self._line(f"{self.title}: 0/{self.total} {self.unit}")
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()
        else:
            self._line(self.status())

    def rate(self) -> float:
        """Units per second since the start."""
        return self.done / max(time.monotonic() - self._started, 1e-9)

    def eta(self) -> float | None:
        rate = self.rate()
        return (self.total - self.done) / rate if rate > 0 and self.total else None

    def status(self) -> str:
        elapsed = time.monotonic() - self._started
        eta = self.eta()
        parts = [f"{self.title}: {self.done}/{self.total} {self.unit}"]
        if self.show_rate:
            parts.append(f"{self.rate() * 60:.0f} {self.unit}/min")
        parts.append(f"elapsed {_clock(elapsed)}")
        if self.show_rate:
            parts.append(f"ETA {_clock(eta) if eta is not None else '?'}")
        return ", ".join(parts) + (f"; {self.info}" if self.info else "")

    def update(self, done: int | None = None, info: str | None = None) -> None:
        """Set the units done and what is being worked on; a status line when one is due."""
        if done is not None:
            self.done = min(max(done, 0), self.total) if self.total else max(done, 0)
        if info is not None:
            self.info = info
        if self._progress is not None and self._task is not None:
            self._progress.update(
                self._task, completed=self.done, info=self.info,
                rate=f"{self.rate() * 60:.0f}/min",
            )  # fmt: skip
        elif time.monotonic() - self._last_line >= self.interval:
            self._line(self.status())

    def say(self, message: str) -> None:
        """An event worth its own line (above the bar on a terminal)."""
        if self._progress is not None:
            self._progress.console.print(message, markup=False, highlight=False)
        else:
            self._line(message)

    def _line(self, text: str) -> None:
        self._last_line = time.monotonic()
        print(text, file=self._stream, flush=True)
