"""The call budget belongs to the token: two processes together stay under calls-per-minute."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tests.scripted_upstream import ScriptedUpstream, error, ok
from twilight_resources.tushare import ApiPressure, TushareClient, TushareRequest
from twilight_resources.tushare.budget import CallBudget, budget_key

CALLS_PER_MINUTE = 120  # one call every 0.5 s
CALLS_PER_PROCESS = 6

WORKER = """
import sys
from pathlib import Path
from twilight_resources.tushare import TushareClient, TushareRequest
from twilight_resources.tushare.budget import CallBudget, budget_key
url, state, cpm, n = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
budget = CallBudget(state, budget_key("shared-token"), cpm)
client = TushareClient(url, "shared-token", budget=budget, max_in_flight=4)
reqs = (TushareRequest("daily", {"trade_date": str(i)}) for i in range(n))
assert sum(len(df) for _, df in client.query_many(reqs)) == n
"""


def test_budget_respected_across_two_processes(upstream: ScriptedUpstream, tmp_path: Path) -> None:
    upstream.scripts["daily"] = [ok(["ts_code"], [["000001.SZ"]])]
    state = tmp_path / "upstream.sqlite"
    args = [upstream.url, str(state), str(CALLS_PER_MINUTE), str(CALLS_PER_PROCESS)]
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, *args]) for _ in range(2)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]

    arrivals = sorted(upstream.arrivals)
    assert len(arrivals) == 2 * CALLS_PER_PROCESS
    interval = 60 / CALLS_PER_MINUTE
    # Unbudgeted, 2 x 4 calls in flight would land within milliseconds. Budgeted, any second
    # holds at most two slots (three with scheduling noise), and the whole run takes at least
    # (n - 1) intervals, whichever process made each call.
    busiest = max(sum(1 for t in arrivals if a <= t < a + 1.0) for a in arrivals)
    assert busiest <= 3
    assert arrivals[-1] - arrivals[0] >= interval * (len(arrivals) - 1) * 0.97


def test_budget_does_not_bank_idle_time(tmp_path: Path) -> None:
    budget = CallBudget(tmp_path / "b.sqlite", budget_key("t"), 60)
    first = budget.reserve().at
    second = budget.reserve().at
    assert 0.99 <= second - first <= 1.01
    assert budget_key("t") != "t" and len(budget_key("t")) == 16


def test_a_call_counted_late_keeps_the_next_window_under_the_limit(
    upstream: ScriptedUpstream, tmp_path: Path
) -> None:
    # An upstream that counts each call when it answers it, over a 2 s window of 4 calls, and
    # answers the first call a second late (a loaded server). The budget spaces calls 0.5 s
    # apart: by spacing alone, the fifth call would land in a window still holding four.
    window, per_window = 2.0, 4
    counted: list[float] = []

    def reply(body: dict[str, object]) -> tuple[int, dict[str, object]]:
        if len(upstream.requests) == 1:
            time.sleep(1.0)
        with upstream.lock:
            now = time.time()
            if sum(1 for t in counted if t > now - window) >= per_window:
                return error(40203, "抱歉，您每分钟最多访问该接口4次")
            counted.append(now)
        return ok(["ts_code"], [["000001.SZ"]])

    upstream.scripts["daily"] = [reply]
    rate = per_window * 60 / window
    budget = CallBudget(
        tmp_path / "b.sqlite", budget_key("t"), int(rate), pause_seconds=0.1, window_s=window
    )
    client = TushareClient(upstream.url, "t", budget=budget, max_in_flight=4)
    requests = [TushareRequest("daily", {"trade_date": str(i)}) for i in range(8)]
    assert len(list(client.query_many(requests))) == 8
    assert client.pressure().get("daily", ApiPressure()).refusals == 0
    assert len(counted) == 8
