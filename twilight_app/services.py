"""Long-running servers started as children and supervised until a stop is asked for.

Each runs in its own session with default signal handlers (background processes here may
inherit SIGINT ignored; see :mod:`twilight_resources.processes`), so this process decides when
to stop them. A server that fails to start is reported and the others keep running; whatever
was started is always reaped.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from twilight_resources.processes import spawn_session, stop_sessions

START_TIMEOUT_S = 180.0  # dagster dev loads the code location before it answers


@dataclass
class Service:
    """One server: how to start it and how to tell it is up."""

    name: str
    argv: list[str]
    port: int
    url: str
    ready: Callable[[], bool]
    proc: subprocess.Popen[bytes] | None = None
    log: Path | None = None


def http_ok(url: str) -> Callable[[], bool]:
    """Up once ``url`` answers without a server error."""

    def check() -> bool:
        try:
            return httpx.get(url, timeout=2).status_code < 500
        except httpx.HTTPError:
            return False

    return check


def listening(port: int) -> Callable[[], bool]:
    """Up once something accepts connections on the loopback ``port``."""

    def check() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False

    return check


def _spawn(cmd: Sequence[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return spawn_session(cmd, stdout=out)


def start_services(
    todo: list[Service], logs: Path, stop: Callable[[], bool], say: Callable[[str], None]
) -> list[Service]:
    """Start every service, wait until each answers; report those that fail, keep the rest."""
    pending: list[Service] = []
    for service in todo:
        if listening(service.port)():
            say(f"FAILED to start {service.name}: port {service.port} is in use (carrying on)")
            continue
        service.log = logs / f"{service.name.split()[0].lower()}.log"
        service.proc = _spawn(service.argv, service.log)
        pending.append(service)
        say(f"starting {service.name} (log: {service.log})")
    up: list[Service] = []
    deadline = time.monotonic() + START_TIMEOUT_S
    while pending and not stop():
        for service in list(pending):
            assert service.proc is not None
            # Exited first: a port taken by another server must not pass for ours.
            if service.proc.poll() is not None or time.monotonic() > deadline:
                say(f"FAILED to start {service.name}; see {service.log} (carrying on)")
                stop_sessions([service.proc])
                pending.remove(service)
            elif service.ready():
                up.append(service)
                pending.remove(service)
        time.sleep(0.3)
    return [service for service in todo if service in up]


def watch(up: list[Service], stop: Callable[[], bool], say: Callable[[str], None]) -> None:
    """Return when a stop is asked for or every service in ``up`` has exited."""
    running = list(up)
    while running and not stop():
        for service in list(running):
            assert service.proc is not None
            if service.proc.poll() is not None:
                say(f"{service.name} exited ({service.proc.returncode}); see {service.log}")
                running.remove(service)
        time.sleep(0.5)


def stop_services(todo: Sequence[Service]) -> None:
    """Stop and reap every service that was started."""
    stop_sessions([service.proc for service in todo if service.proc is not None])
