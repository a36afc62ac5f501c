"""Secrets: run everything with a recognizable Tushare token and find it nowhere it could leak.

The token is the only one the simulator accepts, so the runs prove it was used: runs that
succeed (in process, on the home's persistent instance), a CLI run failing after retrying 5xx
answers, one failing on a rejected token, ``twilight settings``, the read API (good, bad and
missing bearer tokens, bad parameters, the upstream-backed /price) and the MCP server over
HTTP (warehouse and live upstream tools, with the token refused, then accepted upstream).
Every byte the platform wrote under TWILIGHT_HOME (logs, the Dagster instance's run and event
storage and compute logs, the call journal, spool, warehouse and snapshots), every process
output and every HTTP answer is searched for it.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from dagster import DagsterInstance

from tests.reliability.harness import BIN, REPO, platform, platform_env, report
from twilight_assets.runner import materialize_tables
from twilight_resources.processes import spawn_session, stop_session
from twilight_resources.settings import get_settings
from twilight_serve.auth import TokenStore
from twilight_sim.server import SimServer

TOKEN = "tok-SECRET-4f9a0c1e7b2d8e63"
REFERENCE = ("trade_cal", "stock_basic")
RETRIES = 2
MATERIALIZE = [str(BIN / "dagster"), "asset", "materialize", "-m", "twilight_assets.definitions"]


def run(env: dict[str, str], argv: list[str], log: Path) -> tuple[int, str]:
    proc = subprocess.run(argv, env=env, cwd=REPO, capture_output=True, text=True, timeout=240)
    output = proc.stdout + proc.stderr
    log.write_text(output)
    return proc.returncode, output


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bearer_token(env: dict[str, str]) -> str:
    with platform(env):
        store = TokenStore(get_settings().bearer_db_file)
        try:
            return store.create("secrets-test")
        finally:
            store.close()


@contextmanager
def server(env: dict[str, str], home: Path, name: str, *argv: str) -> Iterator[str]:
    """``twilight <argv> --port P`` in its own session until it accepts connections; its URL."""
    port = free_port()
    with (home / "logs" / f"{name}.log").open("wb") as log:
        proc = spawn_session(
            [BIN / "twilight", *argv, "--port", str(port)], env=env, cwd=REPO, stdout=log
        )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, f"{name} did not start"
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_session(proc, timeout=30)


def text(response: httpx.Response) -> str:
    return f"{response.status_code} {dict(response.headers)} {response.text}"


def api_answers(env: dict[str, str], home: Path, bearer: str) -> list[str]:
    """Ask the read API good and bad things; every answer as text."""
    good = {"Authorization": f"Bearer {bearer}"}
    asks = [
        ("/healthz", {}), ("/whoami", good), ("/whoami", {"Authorization": f"Bearer {TOKEN}"}),
        ("/whoami", {}), ("/warehouse/daily?ts_code=000001.SZ&start_date=20240601", good),
        ("/warehouse/daily?ts_code=bad&start_date=2024", good),
        ("/price?ts_code=000001.SZ", good), ("/quality/audit", good),
        ("/quality/freshness", good), ("/nowhere", good),
    ]  # fmt: skip
    with server(env, home, "serve", "serve") as base:
        return [text(httpx.get(base + path, headers=h, timeout=30)) for path, h in asks]


def mcp_answers(env: dict[str, str], home: Path, bearer: str) -> list[str]:
    """Ask the MCP server (HTTP) for warehouse data and a live upstream call; every answer."""
    headers = {"Authorization": f"Bearer {bearer}",
               "Accept": "application/json, text/event-stream"}  # fmt: skip
    calls = [
        ("tools/call", {"name": "query", "arguments": {"api_name": "namechange",
                                                       "params": {"ts_code": "000001.SZ"}}}),
        ("tools/call", {"name": "daily", "arguments": {"ts_code": "000001.SZ"}}),
        ("tools/call", {"name": "query", "arguments": {"api_name": "no such api!"}}),
    ]  # fmt: skip
    answers = []
    with (
        server(env, home, "mcp", "mcp", "--transport", "http") as base,
        httpx.Client(base_url=base, timeout=60) as client,
    ):
        url = "/mcp"
        answers.append(text(client.post(url, headers={**headers, "Authorization":
                                                      f"Bearer {TOKEN}"}, json={})))  # fmt: skip
        init = client.post(url, headers=headers, json={
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                       "clientInfo": {"name": "secrets-test", "version": "1"}},
        })  # fmt: skip
        answers.append(text(init))
        assert init.status_code == 200, init.text
        session = {**headers, "mcp-session-id": init.headers.get("mcp-session-id", "")}
        client.post(url, headers=session,
                    json={"jsonrpc": "2.0", "method": "notifications/initialized"})  # fmt: skip
        for i, (method, params) in enumerate(calls, start=1):
            body = {"jsonrpc": "2.0", "id": i, "method": method, "params": params}
            answer = client.post(url, headers=session, json=body)
            assert answer.status_code == 200 and f'"id":{i}' in answer.text, answer.text
            answers.append(text(answer))
    assert answers[0].startswith("401"), "the MCP server took the Tushare token as a bearer"
    return answers


def test_token_appears_nowhere(
    clean_sim: SimServer, home: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    settings = {"TWILIGHT_TUSHARE_TOKEN": TOKEN, "TWILIGHT_RETRY_ATTEMPTS": str(RETRIES)}
    env = platform_env(home, clean_sim.url, settings)
    logs = home / "logs"
    logs.mkdir(parents=True)
    clean_sim.set_policy(tokens=[TOKEN])
    # Runs that succeed, in this process, on the home's own (SQLite) instance.
    with platform(env), DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        assert all(r.success for r in materialize_tables(list(REFERENCE), instance))
    outputs = ["".join(capfd.readouterr())]
    # From the CLI (one step each, to keep the process start-ups few): index_basic gets only
    # 5xx answers (a warning per retry, then the step fails with the retries exhausted) ...
    clean_sim.set_faults({"error_rate": 1.0, "apis": ["index_basic"]})
    code, out = run(env, [*MATERIALIZE, "--select", "raw/index_basic"], logs / "retries.log")
    assert code != 0 and "TushareRetriesExhausted" in out, out[-3000:]
    outputs.append(out)
    retried = clean_sim.stats_detail()["errors"]
    assert isinstance(retried, dict) and sum(retried.values()) == RETRIES + 1
    # ... and a token the upstream no longer accepts fails the run with an auth error.
    clean_sim.set_faults({})
    clean_sim.set_policy(tokens=["someone-else"])
    code, out = run(
        env, [*MATERIALIZE, "--select", "raw/daily", "--partition", "20240603"],
        logs / "rejected.log",
    )  # fmt: skip
    assert code != 0 and "TushareAuthError" in out, out[-3000:]
    outputs.append(out)
    code, out = run(env, [str(BIN / "twilight"), "settings"], logs / "settings.log")
    assert code == 0 and "tushare_token" in out
    outputs.append(out)
    bearer = bearer_token(env)
    answers = mcp_answers(env, home, bearer)  # the upstream still refuses: errors go live
    clean_sim.set_policy(tokens=[TOKEN])
    answers += api_answers(env, home, bearer) + mcp_answers(env, home, bearer)

    leaks = [f"process output {i}" for i, text in enumerate(outputs) if TOKEN in text]
    leaks += [f"HTTP answer {i}: {a[:200]}" for i, a in enumerate(answers) if TOKEN in a]
    files = [p for p in home.rglob("*") if p.is_file()]
    needle = TOKEN.encode()
    scanned = 0
    for path in files:
        data = path.read_bytes()
        scanned += len(data)
        if needle in data or needle in data.replace(b"\x00", b""):
            leaks.append(str(path.relative_to(home)))
    dagster_files = [p for p in files if "dagster" in p.parts]
    report(
        "secrets", files_scanned=len(files), dagster_instance_files=len(dagster_files),
        bytes_scanned=scanned, process_outputs=len(outputs), http_answers=len(answers),
        upstream_5xx=sum(retried.values()), leaks=len(leaks),
    )  # fmt: skip
    assert dagster_files and any(p.suffix == ".db" for p in dagster_files)
    assert not leaks, f"the token leaked into: {leaks}"


def test_harness_finds_a_planted_token(tmp_path: Path) -> None:
    """The scan is not vacuous: a token written the way SQLite stores text is found."""
    import sqlite3

    db = tmp_path / "x.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (v TEXT)")
        conn.execute("INSERT INTO t VALUES (?)", (f"error: {TOKEN}",))
    assert TOKEN.encode() in db.read_bytes()
    assert sys.executable  # the scan reads raw bytes; no decoding can hide the token
