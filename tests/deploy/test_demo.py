"""`make demo` end to end: sample warehouse, every service up, the printed query works, Ctrl-C
stops everything and revokes the session's token, and a second demo reuses what exists.

The demo runs as ``twilight demo`` does (``run_demo``), on free ports so it cannot collide with
another demo on the machine, against a small simulator ending on a month end, with 3 trading
days (so the monthly tables and their checks run too).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from twilight_serve.auth import TokenStore
from twilight_sim.server import SimConfig, SimServer, start_simulator

REPO = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 240
# Through the first quarter's reporting season (its deadline is 4/30), so the report period
# 20240331 is loaded too; the last 3 trading days hold a week end and a month end.
SIM = {"seed": 11, "n_stocks": 8, "start_date": "20240101", "end_date": "20240430"}
SCRIPT = (
    "import sys\n"
    "from twilight_resources.logs import configure_logging\n"
    "from twilight_app.demo import run_demo\n"
    "configure_logging()\n"
    "sys.exit(run_demo(days=3, port={0}, api_port={1}, mcp_port={2}, serve={3}))\n"
)


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with start_simulator(SimConfig(**SIM, rate_limit_per_minute=100_000)) as server:
        yield server


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def found(pattern: str, text: str) -> str:
    match = re.search(pattern, text)
    assert match, f"the demo did not print {pattern}"
    return match.group(1)


def test_demo_serves_everything_and_stops_cleanly(tmp_path: Path, sim: SimServer) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIGHT_", "DAGSTER_"))}
    env.update(
        TWILIGHT_HOME=str(tmp_path / "home"), TWILIGHT_TUSHARE_API_URL=sim.url,
        TWILIGHT_CALLS_PER_MINUTE="100000", TWILIGHT_HISTORY_START=SIM["start_date"],
    )  # fmt: skip
    ports = free_ports(3)
    out = tmp_path / "demo.out"
    with out.open("wb") as sink:
        demo = subprocess.Popen(
            [sys.executable, "-c", SCRIPT.format(*ports, True)], env=env, cwd=tmp_path,
            stdout=sink, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while "Ctrl-C stops everything" not in out.read_text(errors="replace"):
            assert demo.poll() is None, out.read_text()[-4000:]
            assert time.monotonic() < deadline, out.read_text()[-4000:]
            time.sleep(0.5)
        text = out.read_text()
        assert "3/3 disclosure calendar and financial statements" in text
        for table in ("daily", "index_daily", "income", "disclosure_date", "stock_basic"):
            assert re.search(rf"\[demo\]\s+{table}\s+[\d,]+ rows", text), table
        assert "FAILED" not in text, text
        token = found(r"revoked on exit\): (tw_\S+)", text)
        query = found(r"'(http://127\.0\.0\.1:\d+/warehouse/daily\?\S+)'", text)
        answer = httpx.get(query, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert answer.status_code == 200 and answer.json()["count"] > 0, answer.text
        assert httpx.get(f"http://127.0.0.1:{ports[0]}/server_info", timeout=10).status_code == 200
        assert all(listening(port) for port in ports)
        # Ctrl-C in the terminal: SIGINT to the demo (its children run in sessions of their own).
        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=60) == 0
    finally:
        if demo.poll() is None:  # a failed assertion: let the demo stop (and reap) its servers
            demo.send_signal(signal.SIGTERM)
            try:
                demo.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(demo.pid, signal.SIGKILL)
                demo.wait()
    assert "[demo] stopped" in out.read_text()
    deadline = time.monotonic() + 20
    while any(listening(port) for port in ports) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not any(listening(port) for port in ports), "a server outlived the demo"
    store = TokenStore(tmp_path / "home" / "state" / "tokens.sqlite")
    try:
        assert store.verify(token) is None, "the session's token was not revoked"
    finally:
        store.close()

    # A second demo reuses the warehouse: no call for a partition already fetched; only the
    # reference tables and the report period (refresh tables) are asked again.
    sim.reset_stats()
    again = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(*ports, False)], env=env, cwd=tmp_path,
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    resumable = ("daily", "adj_factor", "daily_basic", "weekly", "monthly", "index_daily",
                 "index_dailybasic", "index_weight")  # fmt: skip
    calls = sim.stats()
    assert not any(calls.get(api) for api in resumable), calls

    # Every asset check ran with the demo's materializations, and passed (what the UI and
    # /quality/checks show).
    from twilight_serve.checks import CheckResults

    results = CheckResults(str(tmp_path / "home" / "dagster"))
    try:
        verdicts = {f"{r['asset']}:{r['check']}": r["passed"] for r in results.latest()}
    finally:
        results.close()
    assert verdicts and all(verdicts.values()), sorted(k for k, v in verdicts.items() if not v)
