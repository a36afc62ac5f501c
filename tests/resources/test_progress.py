"""Progress off a terminal: plain lines, a status line at most every interval, events always."""

from __future__ import annotations

import io
import re

from twilight_resources.progress import Reporter


def test_lines_when_not_on_a_terminal() -> None:
    out = io.StringIO()
    with Reporter("backfill", 10, "calls", stream=out, interval=3600) as reporter:
        assert not reporter._live  # a StringIO is no terminal
        reporter.update(4, info="running 20240902...20240906")
        reporter.say("started 20240902...20240906 (5 partitions, 10 calls)")
        reporter.update(7)  # within the interval: no status line
    lines = out.getvalue().splitlines()
    assert lines[0] == "backfill: 0/10 calls"
    assert lines[1] == "started 20240902...20240906 (5 partitions, 10 calls)"
    assert len(lines) == 3  # the start, the event, and the closing status
    assert re.fullmatch(
        r"backfill: 7/10 calls, \d+ calls/min, elapsed 0:00:\d\d, ETA \d:\d\d:\d\d; "
        r"running 20240902\.\.\.20240906",
        lines[2],
    ), lines[2]


def test_status_lines_follow_the_interval_and_stages_show_no_rate() -> None:
    out = io.StringIO()
    with Reporter("[demo] stages", 3, "done", stream=out, interval=0, rate=False) as reporter:
        reporter.update(1, info="trade_dates: 8 partition(s)")
        reporter.update(2)
    lines = out.getvalue().splitlines()
    assert lines[1].startswith("[demo] stages: 1/3 done, elapsed 0:00:0")
    assert lines[1].endswith("; trade_dates: 8 partition(s)")
    assert "/min" not in out.getvalue() and "ETA" not in out.getvalue()
    assert lines[-1].startswith("[demo] stages: 2/3 done")
