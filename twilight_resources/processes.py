"""Servers in their own sessions: started with default signal handlers, always reaped.

Processes here may inherit SIGINT/SIGTERM as ignored; a server started from such a process
would then never stop on Ctrl-C. Every server the platform, its benches and its tests start
goes through :func:`spawn_session` and is stopped by :func:`stop_sessions`, which signals the
whole session (the server and anything it started) and escalates to SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from twilight_resources.priority import lower_priority, lower_session_priority

STOP_TIMEOUT_S = 15.0
# A session started for batch work yields to every other session as a whole (see
# twilight_resources.priority); inside it, its processes keep their own order by niceness.
BATCH_SESSION_NICENESS = 19


def restore_default_signals() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def spawn_session(
    cmd: Sequence[str | Path],
    *,
    stdout: int | IO[Any] | None = subprocess.DEVNULL,
    env: Mapping[str, str] | None = None,
    cwd: Path | str | None = None,
    text: bool = False,
    niceness: int = 0,
) -> subprocess.Popen[Any]:
    """``cmd`` in a new session with default SIGINT/SIGTERM; stderr joins stdout.

    ``niceness`` (batch work) applies from the first instruction, imports included; with a
    ``niceness`` above 0 the whole session also counts as batch work for the scheduler.
    """

    def prepare() -> None:
        restore_default_signals()
        lower_priority(niceness)
        if niceness > 0:
            lower_session_priority(BATCH_SESSION_NICENESS)

    return subprocess.Popen(
        [str(part) for part in cmd],
        stdout=stdout,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=dict(env) if env is not None else None,
        cwd=cwd,
        text=text,
        start_new_session=True,
        preexec_fn=prepare,
    )


def _signal_session(proc: subprocess.Popen[Any], sig: signal.Signals) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def stop_sessions(
    procs: Sequence[subprocess.Popen[Any]], timeout: float = STOP_TIMEOUT_S
) -> list[int]:
    """SIGTERM every session, SIGKILL what is left after ``timeout``; reap all. Exit codes."""
    for proc in procs:
        if proc.poll() is None:
            _signal_session(proc, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in procs:
        try:
            proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            _signal_session(proc, signal.SIGKILL)
            proc.wait()
    return [proc.returncode for proc in procs]


def stop_session(proc: subprocess.Popen[Any], timeout: float = STOP_TIMEOUT_S) -> int:
    """:func:`stop_sessions` for one process; its exit code."""
    return stop_sessions([proc], timeout)[0]
