"""Bearer auth guards every route but /healthz; tokens are hashed and never logged."""

from __future__ import annotations

import logging
import sqlite3

import pytest
from fastapi.testclient import TestClient

from twilight_app.cli import main as cli_main
from twilight_resources.settings import TwilightSettings
from twilight_serve.app import create_app
from twilight_serve.auth import TokenStore

PROTECTED = [
    "/whoami",
    "/warehouse/daily?ts_code=000001.SZ",
    "/warehouse/weekly?ts_code=000001.SZ",
    "/warehouse/monthly?ts_code=000001.SZ",
    "/warehouse/index_daily?ts_code=000300.SH",
    "/warehouse/daily_basic?ts_code=000001.SZ",
    "/price?ts_code=000001.SZ",
]


def test_every_route_but_healthz_requires_a_token(settings: TwilightSettings) -> None:
    with TestClient(create_app(settings)) as anonymous:
        assert anonymous.get("/healthz").status_code == 200
        for path in PROTECTED:
            got = anonymous.get(path)
            assert got.status_code == 401, path
            assert got.headers["www-authenticate"] == "Bearer"
            bad = anonymous.get(path, headers={"Authorization": "Bearer tw_not-a-token"})
            assert bad.status_code == 401, path
        documented = set(anonymous.get("/openapi.json").json()["paths"])
        assert {p.split("?")[0] for p in PROTECTED} <= documented
        for path in documented - {"/healthz"}:  # routes added later too; 401 before any param
            assert anonymous.get(path).status_code == 401, path


def test_whoami_and_revocation(client: TestClient, settings: TwilightSettings) -> None:
    me = client.get("/whoami")
    assert me.status_code == 200 and me.json()["user"] == "alice"
    store = TokenStore(settings.bearer_db_file)
    assert store.revoke(token_id=me.json()["token_id"]) == 1
    store.close()
    assert client.get("/whoami").status_code == 401


def test_tokens_are_stored_hashed(settings: TwilightSettings, token: str) -> None:
    dump = "\n".join(sqlite3.connect(settings.bearer_db_file).iterdump())
    assert token not in dump and token[3:] not in dump


def test_token_cli_create_list_revoke(
    settings: TwilightSettings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("TWILIGHT_BEARER_DB_PATH", str(settings.bearer_db_file))
    monkeypatch.setenv("TWILIGHT_HOME", str(settings.home))
    from twilight_resources.settings import reset_settings

    reset_settings()
    assert cli_main(["token", "create", "--user", "bob"]) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    assert TokenStore(settings.bearer_db_file).verify(token).user == "bob"
    assert cli_main(["token", "list"]) == 0
    listing = capsys.readouterr().out
    assert "bob" in listing and token not in listing
    assert cli_main(["token", "revoke", "--user", "bob"]) == 0
    assert TokenStore(settings.bearer_db_file).verify(token) is None
    reset_settings()


def test_tokens_never_reach_logs(
    client: TestClient, token: str, caplog: pytest.LogCaptureFixture
) -> None:
    from twilight_resources.logs import RedactSecrets

    caplog.set_level(logging.DEBUG)
    client.get("/whoami")
    logging.getLogger("twilight.test").warning("header was Bearer %s", token)
    record = caplog.records[-1]
    RedactSecrets().filter(record)
    assert token not in record.getMessage()
