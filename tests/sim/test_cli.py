"""``python -m twilight_sim``: the URL comes first on stdout; SIGINT/SIGTERM stop it cleanly."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _start(ignore_sigint: bool = False) -> tuple[subprocess.Popen[str], str]:
    def preexec() -> None:
        if ignore_sigint:  # as a shell's background job inherits it
            signal.signal(signal.SIGINT, signal.SIG_IGN)

    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "twilight_sim",
            "--stocks",
            "15",
            "--start",
            "20240101",
            "--rate-limit",
            "0",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=preexec,
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_cli_prints_url_then_stops_on_signal(sig: signal.Signals) -> None:
    proc, url = _start(ignore_sigint=sig == signal.SIGINT)
    try:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
        assert httpx.get(url + "/_sim/health", timeout=10).json()["status"] == "ok"
        answer = httpx.post(
            url + "/dataapi/trade_cal", json={"token": "t", "params": {}}, timeout=10
        ).json()
        assert answer["code"] == 0
        proc.send_signal(sig)
        assert proc.wait(timeout=15) == 0
    finally:
        proc.kill()
