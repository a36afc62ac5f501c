"""One home per checkout, and no simulator outliving the `twilight` command that started it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from twilight_resources.settings import checkout_root, default_home

REPO = Path(__file__).resolve().parents[2]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIGHT_", "DAGSTER_"))}
    return {**env, **extra}


def twilight(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "twilight_app", *args], cwd=cwd, env=env,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def processes_with(home: Path) -> list[str]:
    """Live processes whose environment names ``home`` as their TWILIGHT_HOME."""
    needle = f"TWILIGHT_HOME={home}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and needle in (proc / "environ").read_bytes().split(b"\0"):
                found.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            continue
    return found


def test_the_checkout_is_the_home_without_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TWILIGHT_HOME", raising=False)
    monkeypatch.chdir(REPO / "twilight_resources")
    assert checkout_root() == REPO and default_home() == REPO / ".twilight"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert checkout_root() is None and default_home() == tmp_path / ".twilight"
    monkeypatch.setenv("TWILIGHT_HOME", str(tmp_path / "elsewhere"))
    assert default_home() == tmp_path / "elsewhere"


def test_commands_export_the_home_and_its_dagster_instance(tmp_path: Path) -> None:
    home = tmp_path / "home"
    probe = twilight(
        "dagster", "instance", "info", cwd=tmp_path, env=clean_env(TWILIGHT_HOME=str(home))
    )
    assert probe.returncode == 0, probe.stderr
    assert (home / "dagster" / "dagster.yaml").is_file()
    assert str(home / "dagster") in probe.stdout  # the instance dagster itself reports


def test_plan_stops_the_simulator_it_started(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = clean_env(TWILIGHT_HOME=str(home))
    done = twilight(
        "plan", "--tables", "daily", "--start", "20240902", "--end", "20240906", cwd=tmp_path,
        env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "asking the upstream" in done.stdout and "total: 5 upstream calls" in done.stdout
    assert (home / "state" / "sim.log").stat().st_size > 0  # one was started
    assert not (home / "state" / "sim.json").exists()
    assert processes_with(home) == []


def test_a_running_simulator_is_left_to_its_owner(tmp_path: Path) -> None:
    from twilight_resources.embedded import ensure_simulator, simulator_running, stop_simulator
    from twilight_resources.settings import load_settings

    home = tmp_path / "home"
    settings = load_settings(home=home)
    ensure_simulator(settings)
    try:
        done = twilight(
            "plan", "--tables", "daily", "--start", "20240902", "--end", "20240906",
            cwd=tmp_path, env=clean_env(TWILIGHT_HOME=str(home)),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert simulator_running(settings)
        pid = json.loads((home / "state" / "sim.json").read_text())["pid"]
    finally:
        assert stop_simulator(settings)
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)


def test_sigterm_stops_a_backfill_with_its_chunk_runs_and_simulator(tmp_path: Path) -> None:
    """A service manager's SIGTERM to the command alone stops all it started, as Ctrl-C does."""
    home = tmp_path / "home"
    env = clean_env(TWILIGHT_HOME=str(home), TWILIGHT_SIM_STOCKS="50")
    backfill = "backfill --tables daily --start 20240102 --end 20240628 --chunk 10 --parallel 2"
    cmd = [sys.executable, "-m", "twilight_app", *backfill.split()]
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not any("materialize" in c for c in processes_with(home)):
            assert proc.poll() is None, proc.communicate()[0]
            assert time.monotonic() < deadline, "no chunk run started"
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGTERM)  # the command only, not its process group
        out = proc.communicate(timeout=60)[0]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    try:
        assert proc.returncode == 143, out
        assert "twilight: stopped" in out
        deadline = time.monotonic() + 30
        while (left := processes_with(home)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert left == [], left
        assert not (home / "state" / "sim.json").exists()
    finally:  # a failure here must not leave strays behind for the next test
        _kill_all_with(home)


def _kill_all_with(home: Path) -> None:
    needle = f"TWILIGHT_HOME={home}".encode()
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and needle in (entry / "environ").read_bytes().split(b"\0"):
                os.kill(int(entry.name), signal.SIGKILL)
        except OSError:
            continue
