"""Start-up order and failure modes of the lifespan, and the real server on loopback."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.serve.conftest import Served
from twilight_resources.settings import TwilightSettings, load_settings
from twilight_resources.warehouse import publish_snapshot
from twilight_serve.app import create_app
from twilight_serve.auth import TokenStoreError

COMPONENTS = ["settings", "tokens", "reader", "market", "audit", "quote_cache", "providers",
              "composer"]  # fmt: skip


def test_components_built_once_and_torn_down(settings: TwilightSettings) -> None:
    app = create_app(settings)
    with TestClient(app) as client:
        health = client.get("/healthz").json()
        assert health["status"] == "ok" and health["unpublished_since"] is None
        built = {name: getattr(app.state, name) for name in COMPONENTS}
        assert app.state.providers.names() == ["warehouse", "akshare"]  # akshare not imported
        assert client.get("/healthz").status_code == 200
        assert {name: getattr(app.state, name) for name in COMPONENTS} == built
    assert app.state.providers.names() == []  # torn down
    with pytest.raises(RuntimeError, match="closed"):
        app.state.reader.query("SELECT 1")


def test_unwritable_token_store_refuses_to_start(served: Served, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    settings = served.settings(bearer_db_path=blocker / "tokens.sqlite")
    with pytest.raises(TokenStoreError, match="TWILIGHT_BEARER_DB_PATH"):
        with TestClient(create_app(settings)):
            pass


def test_missing_calendar_starts_closed_and_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    home = tmp_path / "empty"
    settings = load_settings(home=home, bearer_db_path=tmp_path / "t.sqlite")
    publish_snapshot(settings.warehouse_file)  # schema only: no trade_cal rows
    caplog.set_level(logging.INFO)
    with TestClient(create_app(settings)) as client:
        health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["market_phase"] == "unknown"
    assert "no trade calendar" in caplog.text
    assert "simulator mode" in caplog.text  # no Tushare token: says so, and starts


def test_no_snapshot_starts_and_answers_503(tmp_path: Path, token_for) -> None:
    settings = load_settings(home=tmp_path / "bare", bearer_db_path=tmp_path / "t.sqlite")
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").json()["status"] == "no_snapshot"
        got = client.get(
            "/warehouse/daily",
            params={"ts_code": "000001.SZ"},
            headers={"Authorization": f"Bearer {token_for(settings)}"},
        )
    assert got.status_code == 503 and "snapshot" in got.json()["detail"]


def test_unreachable_webhook_still_starts(served: Served, tmp_path: Path) -> None:
    settings = served.settings(
        bearer_db_path=tmp_path / "t.sqlite", alert_webhook_url="http://127.0.0.1:9/none"
    )
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").status_code == 200


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _defaults() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def test_twilight_serve_on_loopback(served: Served, tmp_path: Path) -> None:
    """`twilight serve` in its own session, a token from `twilight token create`, reaped."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWILIGHT_")}
    env.update(TWILIGHT_HOME=str(served.home), TWILIGHT_BEARER_DB_PATH=str(tmp_path / "t.db"))
    cli = [sys.executable, "-m", "twilight_app"]
    created = subprocess.run(
        [*cli, "token", "create", "--user", "carol"], env=env, capture_output=True, text=True,
        check=True, timeout=60,
    )  # fmt: skip
    token = created.stdout.strip().splitlines()[-1]
    port = _free_port()
    proc = subprocess.Popen(
        [*cli, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=_defaults,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        auth = {"Authorization": f"Bearer {token}"}
        assert httpx.get(f"{base}/whoami", headers=auth).json()["user"] == "carol"
        assert httpx.get(f"{base}/whoami").status_code == 401
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
    assert token.encode() not in out  # the server never logs a token


def test_market_phase_comes_from_the_stored_calendar_on_the_wall_clock(
    settings: TwilightSettings, token: str
) -> None:
    """The simulated market's calendar ends before today: the phase is read at its end (where
    the simulator's clock stands), not "unknown" for every instant after it."""
    with TestClient(create_app(settings)) as client:
        health = client.get("/healthz").json()
        quote = client.get(
            "/price", params={"ts_code": "000001.SZ"}, headers={"Authorization": f"Bearer {token}"}
        ).json()
    assert health["market_phase"] in ("after_close", "closed_day"), health
    assert quote["market_phase"] == health["market_phase"], quote
