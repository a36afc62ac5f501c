"""What the simulator served: calls and rows per API, error codes, injected faults.

Tests and benchmarks read these to count upstream calls (e.g. "the second run made no calls").
"""

from __future__ import annotations

import threading
from collections import Counter


class ServedStats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.rows: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.refused: dict[str, Counter[str]] = {}  # limit -> api -> calls refused by it

    def reset(self) -> None:
        with self._lock:
            for counter in (self.calls, self.rows, self.errors, self.faults):
                counter.clear()
            self.refused.clear()

    def refusal(self, limit: str, api: str) -> None:
        with self._lock:
            self.refused.setdefault(limit, Counter())[api] += 1

    def call(self, api: str) -> None:
        with self._lock:
            self.calls[api] += 1

    def served(self, api: str, rows: int) -> None:
        with self._lock:
            self.rows[api] += rows

    def error(self, code: int) -> None:
        with self._lock:
            self.errors[str(code)] += 1

    def fault(self, kinds: list[str]) -> None:
        with self._lock:
            self.faults.update(kinds)

    def calls_per_api(self) -> dict[str, int]:
        with self._lock:
            return dict(self.calls)

    def snapshot(self) -> dict[str, object]:
        with self._lock:
            return {
                "calls": dict(self.calls),
                "rows": dict(self.rows),
                "total_calls": sum(self.calls.values()),
                "total_rows": sum(self.rows.values()),
                "errors": dict(self.errors),
                "faults": dict(self.faults),
                "refused": {limit: dict(apis) for limit, apis in self.refused.items()},
            }
