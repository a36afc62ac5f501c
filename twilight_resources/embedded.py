"""The embedded default: with no token, the platform talks to the simulated market on loopback.

One simulator serves every process of a TWILIGHT_HOME (Dagster steps, the read API, the MCP
server), so its rate limit and call counter are shared the way a real token's are. The first
process that needs it starts it in its own session (so Ctrl-C of one caller does not take it down
for the others) and records its URL in ``state/sim.json``; later processes reuse it. A
command that found no simulator running stops the one started during it when it ends
(:func:`simulator_scope`), so no simulator outlives the command that needed it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from twilight_resources.processes import spawn_session
from twilight_resources.settings import TwilightSettings

EMBEDDED_TOKEN = "twilight-embedded-simulator"
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 10.0


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/_sim/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]  # (host, port) for AF_INET
        return port


def start_simulator_process(settings: TwilightSettings, log_path: Path) -> tuple[str, int]:
    """Start ``python -m twilight_sim`` detached on a free port; returns its base URL and pid."""
    port = _free_port()
    cmd = [
        sys.executable, "-m", "twilight_sim", "--host", "127.0.0.1", "--port", str(port),
        "--seed", str(settings.sim_seed), "--stocks", str(settings.sim_stocks),
        "--start", settings.sim_start_date,
    ]  # fmt: skip
    with log_path.open("ab") as log_file:
        proc = spawn_session(cmd, stdout=log_file)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while not _healthy(url):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"the embedded simulator did not start; see {log_path}")
        time.sleep(0.1)
    return url, proc.pid


def ensure_simulator(settings: TwilightSettings) -> str:
    """Return the URL of this home's running simulator, starting one if there is none."""
    state = settings.state_dir
    state.mkdir(parents=True, exist_ok=True)
    record = state / "sim.json"
    with (state / "sim.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if record.exists():
            url = str(json.loads(record.read_text())["url"])
            if _healthy(url):
                return url
        url, pid = start_simulator_process(settings, state / "sim.log")
        record.write_text(json.dumps({"url": url, "pid": pid, "seed": settings.sim_seed}))
        return url


def simulator_running(settings: TwilightSettings) -> bool:
    """Whether this home has a recorded simulator that answers."""
    record = settings.state_dir / "sim.json"
    try:
        url = json.loads(record.read_text())["url"]
    except (OSError, ValueError, KeyError):
        return False
    return _healthy(url)


def _session_alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):  # started by this process: reap it
        os.waitpid(pid, os.WNOHANG)
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, under another user
        pass
    return True


def stop_simulator(settings: TwilightSettings, timeout: float = STOP_TIMEOUT_S) -> bool:
    """Stop this home's simulator if one is recorded; returns whether one was stopped.

    Waits until its session is gone (SIGKILL after ``timeout``), so a command that ends after
    this leaves no process behind.
    """
    record = settings.state_dir / "sim.json"
    if not record.exists():
        return False
    pid = json.loads(record.read_text())["pid"]
    record.unlink()
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while _session_alive(pid):
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            break
        time.sleep(0.05)
    return True


@contextlib.contextmanager
def simulator_scope(settings: TwilightSettings) -> Iterator[None]:
    """Stop at the end a simulator started inside the block (by this process or its children);
    one that was already running belongs to whoever started it."""
    owns = settings.uses_simulator and not simulator_running(settings)
    try:
        yield
    finally:
        if owns:
            stop_simulator(settings)
