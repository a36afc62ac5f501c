"""What the benches share: a simulator to measure against, and the whole cost of a command.

Dagster's run process exits without waiting for the forkserver that forked its step processes,
so their CPU and writes would reach no ``RUSAGE_CHILDREN``. A bench adopts such orphans
(``PR_SET_CHILD_SUBREAPER``) and reaps them after each command it measures.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from twilight_resources.processes import spawn_session

PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h


def become_subreaper() -> None:
    """Adopt every descendant whose parent exits before it."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")


def children() -> set[int]:
    """Process ids whose parent is this process (from /proc/*/stat: not every kernel has
    /proc/self/task/*/children)."""
    me, found = os.getpid(), set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == me:
            found.add(int(stat.parent.name))
    return found


def reap_adopted(spared: set[int], timeout: float = 120.0) -> None:
    """Wait for and reap every child not in ``spared`` (the descendants a command left)."""
    deadline = time.monotonic() + timeout
    while left := children() - spared:
        for pid in left:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
        if time.monotonic() > deadline:
            print(f"processes {sorted(left)} still running {timeout:.0f} s after their command")
            return
        time.sleep(0.05)


def start_simulator(port: int, *options: str) -> subprocess.Popen[bytes]:
    """``python -m twilight_sim`` on ``port`` in its own session, once it answers.

    The upstream is remote in production: here it shares the machine, so it must not take the
    CPU from what is measured (the niceness every batch step would yield to).
    """
    cmd = [sys.executable, "-m", "twilight_sim", "--port", str(port), *options]
    proc = spawn_session(cmd, niceness=19)
    for _ in range(300):
        if proc.poll() is not None:
            raise SystemExit(f"simulator exited (is port {port} taken?)")
        try:
            httpx.get(f"http://127.0.0.1:{port}/_sim/health", timeout=1)
            return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit("simulator did not start")
