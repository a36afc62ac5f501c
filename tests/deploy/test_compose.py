"""deploy/ checked without Docker: every service, command, path, volume and setting it names exists.

Docker is not available where the tests run, so the compose file is parsed and each reference is
resolved against the repository and the installed environment: build contexts and COPY sources,
console scripts and their subcommands and flags (from their own ``--help``), healthcheck ports,
named volumes, ${VARIABLES} documented in .env.example and known to the settings, and the
production dagster.yaml validated by Dagster's own instance schema.
"""

from __future__ import annotations

import functools
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from twilight_app.cli import COMMANDS
from twilight_app.instance import DAGSTER_YAML
from twilight_resources.settings import TwilightSettings

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
BIN = Path(sys.executable).parent
APP_DIR = "/opt/twilight"  # the Dockerfile's WORKDIR: deploy/ inside the image
SERVICES = {"postgres", "sim", "webserver", "daemon", "api", "mcp"}
TWILIGHT_SERVICES = SERVICES - {"postgres"}
# TWILIGHT_* variables read by deploy/ itself rather than by TwilightSettings.
DEPLOY_VARIABLES = {
    "TWILIGHT_PG_HOST", "TWILIGHT_PG_PORT", "TWILIGHT_PG_USER", "TWILIGHT_PG_PASSWORD",
    "TWILIGHT_PG_DB", "TWILIGHT_TUSHARE_POOL_LIMIT", "TWILIGHT_DAGSTER_PORT", "TWILIGHT_API_PORT",
    "TWILIGHT_MCP_PORT", "TWILIGHT_APP_DIR",
}  # fmt: skip
PG_ENV = {
    "TWILIGHT_PG_HOST": "localhost", "TWILIGHT_PG_PORT": "5432", "TWILIGHT_PG_USER": "dagster",
    "TWILIGHT_PG_PASSWORD": "x", "TWILIGHT_PG_DB": "dagster",
}  # fmt: skip


@functools.cache
def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def service(name: str) -> dict[str, Any]:
    return compose()["services"][name]


def in_repo(path: str) -> Path:
    """A path inside the image (/opt/twilight/...) as the repository file it was copied from."""
    assert path.startswith(APP_DIR + "/"), path
    return REPO / path.removeprefix(APP_DIR + "/")


@functools.cache
def help_text(*argv: str) -> str:
    proc = subprocess.run(
        [str(BIN / argv[0]), *argv[1:], "--help"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, f"{' '.join(argv)} --help failed: {proc.stderr[-2000:]}"
    return proc.stdout


def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) of deploy/Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in lines
        if line and not line.startswith("#")
    ]


def test_services_present() -> None:
    assert set(compose()["services"]) == SERVICES


def test_build_context_and_copy_sources_exist() -> None:
    for name in TWILIGHT_SERVICES:
        build = service(name)["build"]
        context = (DEPLOY / build["context"]).resolve()
        assert context == REPO, name
        assert (context / build["dockerfile"]).is_file(), name
    instructions = dockerfile()
    workdirs = [args for op, args in instructions if op == "WORKDIR"]
    assert workdirs == [APP_DIR]
    copies = [args.split() for op, args in instructions if op == "COPY"]
    assert copies, "the Dockerfile copies nothing"
    for *sources, _target in copies:
        for source in sources:
            assert (REPO / source).exists(), f"COPY {source}: no such file in the repository"
    copied = {source for *sources, _ in copies for source in sources}
    # The wheel is built from the packages; the DDL travels inside them, never copied by hand.
    assert {"pyproject.toml", "deploy", "twilight_sim", "twilight_resources", "twilight_assets",
            "twilight_serve", "twilight_app"} <= copied  # fmt: skip
    assert not {"sql", "dagster.yaml"} & copied
    installs = [args for op, args in instructions if op == "RUN" and "pip install" in args]
    assert len(installs) == 1 and "[deploy]" in installs[0] and " -e " not in installs[0]
    entrypoint = [args for op, args in instructions if op == "ENTRYPOINT"]
    assert len(entrypoint) == 1
    script = in_repo(yaml.safe_load(entrypoint[0])[0])
    assert script.is_file() and os.access(script, os.X_OK), script
    assert subprocess.run(["sh", "-n", str(script)]).returncode == 0
    env = dict(
        item.split("=", 1) for op, args in instructions if op == "ENV" for item in shlex.split(args)
    )
    assert env["TWILIGHT_HOME"] == "/data" and env["DAGSTER_HOME"].startswith("/data/")


def check_argv(argv: list[str]) -> None:
    """The executable is installed, its subcommand exists and it accepts every flag given."""
    exe = argv[0]
    assert (BIN / exe).is_file(), f"{exe} is not installed by `pip install .`"
    if exe == "twilight":
        sub = argv[1]
        assert sub in COMMANDS, f"`twilight {sub}` is not a command of twilight_app/cli.py"
        text = help_text("twilight", sub)
    elif len(argv) > 1 and not argv[1].startswith("-"):
        text = help_text(exe, argv[1])  # a subcommand: dagster-daemon run
    else:
        text = help_text(exe)
    for word in argv[1:]:
        if word.startswith("-"):
            assert re.search(rf"(^|[\s,\[]){re.escape(word)}\b", text), f"{exe}: no option {word}"
        if word.startswith(APP_DIR + "/"):
            assert in_repo(word).is_file(), word


@pytest.mark.parametrize("name", sorted(TWILIGHT_SERVICES))
def test_command_exists(name: str) -> None:
    argv = service(name)["command"]
    check_argv(argv)


def _port(argv: list[str]) -> int:
    for flag in ("--port", "-p"):
        if flag in argv:
            return int(argv[argv.index(flag) + 1])
    raise AssertionError(f"no port in {argv}")


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_healthcheck(name: str) -> None:
    check = service(name)["healthcheck"]
    test = check["test"]
    assert test[0] in ("CMD", "CMD-SHELL") and check["interval"] and check["retries"]
    if name == "postgres":
        assert "pg_isready" in test[1]
        return
    assert test[0] == "CMD"
    if test[1] == "python":
        code = test[3]
        compile(code, f"{name} healthcheck", "exec")
        port = int(re.search(r"127\.0\.0\.1'?,? ?:?(\d+)", code).group(1))  # type: ignore[union-attr]
        assert port == _port(service(name)["command"]), f"{name} checks another port"
    else:
        check_argv(test[1:])


def test_ports_and_volumes() -> None:
    declared = set(compose()["volumes"])
    used = set()
    for name, spec in compose()["services"].items():
        for mount in spec.get("volumes", []):
            source, target = mount.split(":")[:2]
            assert not source.startswith((".", "/")), f"{name}: bind mount {source}"
            used.add(source)
            if name in TWILIGHT_SERVICES:
                assert target == spec["environment"]["TWILIGHT_HOME"] == "/data"
        for published in spec.get("ports", []):
            host_ip, _, _ = str(published).partition(":")
            assert host_ip == "127.0.0.1", f"{name} publishes {published} beyond the loopback"
            inner = int(str(published).rsplit(":", 1)[1])
            assert inner == _port(spec["command"]), f"{name} publishes {inner}"
        for dependency in spec.get("depends_on", {}):
            assert dependency in compose()["services"], f"{name} depends on {dependency}"
    assert used == declared
    # Every Twilight service shares the data volume; only Postgres has its own.
    assert all("twilight-data:/data" in service(name)["volumes"] for name in TWILIGHT_SERVICES)


def test_environment_is_documented_and_known() -> None:
    text = (DEPLOY / "compose.yaml").read_text()
    referenced = set(re.findall(r"(?<!\$)\$\{(\w+)", text))  # $${X}: the container's
    example = (DEPLOY / ".env.example").read_text()
    documented = set(re.findall(r"^#?\s*(\w+)=", example, flags=re.M))
    assert referenced <= documented, f"undocumented in .env.example: {referenced - documented}"
    settings = {f"TWILIGHT_{field.upper()}" for field in TwilightSettings.model_fields}
    for name in TWILIGHT_SERVICES:
        for variable in service(name)["environment"]:
            if variable.startswith("TWILIGHT_"):
                assert variable in settings | DEPLOY_VARIABLES, f"{name}: unknown {variable}"
    # The default upstream URL is the sim service on the port it listens on.
    url = service("daemon")["environment"]["TWILIGHT_TUSHARE_API_URL"]
    assert url.endswith(f"http://sim:{_port(service('sim')['command'])}}}")
    # Postgres is configured with the same user, password and database the instance uses.
    pg = service("postgres")["environment"]
    env = service("daemon")["environment"]
    assert pg["POSTGRES_USER"] == env["TWILIGHT_PG_USER"]
    assert pg["POSTGRES_PASSWORD"] == env["TWILIGHT_PG_PASSWORD"]
    assert pg["POSTGRES_DB"] == env["TWILIGHT_PG_DB"]
    assert env["TWILIGHT_PG_HOST"] == "postgres"


def test_dagster_yaml_loads_with_dagster_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dagster._core.instance.config import dagster_instance_config

    text = (DEPLOY / "dagster.yaml").read_text()
    (tmp_path / "dagster.yaml").write_text(text)
    for variable in set(re.findall(r"env: (\w+)", text)):
        assert variable in service("daemon")["environment"], f"compose does not set {variable}"
    for key, value in PG_ENV.items():
        monkeypatch.setenv(key, value)
    config, _ = dagster_instance_config(str(tmp_path))
    assert "postgres" in config["storage"]
    assert config["concurrency"]["pools"]["default_limit"] == 1  # one warehouse writer
    assert config["concurrency"]["runs"]["max_concurrent_runs"] >= 1  # the run queue
    assert config["run_monitoring"]["enabled"]
    # The embedded default (the package's dagster.yaml) loads too.
    (tmp_path / "dagster.yaml").write_bytes(DAGSTER_YAML.read_bytes())
    dagster_instance_config(str(tmp_path))


def test_workspace_points_at_the_code_location() -> None:
    workspace = yaml.safe_load((DEPLOY / "workspace.yaml").read_text())
    (location,) = workspace["load_from"]
    module = location["python_module"]
    assert "working_directory" not in module  # the installed package, not a source tree
    root = yaml.safe_load((REPO / "workspace.yaml").read_text())["load_from"][0]["python_module"]
    assert module["module_name"] == root["module_name"] == "twilight_assets.definitions"
    assert module["location_name"] == root["location_name"]


@pytest.mark.parametrize("postgres", [False, True])
def test_entrypoint_installs_the_instance_config(tmp_path: Path, postgres: bool) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIGHT_", "DAGSTER_"))}
    env.update(TWILIGHT_APP_DIR=str(REPO), TWILIGHT_HOME=str(tmp_path))
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"  # the image's python has the package
    if postgres:
        env["TWILIGHT_PG_HOST"] = "postgres"
    proc = subprocess.run(
        [str(DEPLOY / "entrypoint.sh"), "sh", "-c", 'echo "$DAGSTER_HOME $TWILIGHT_PG_PORT"'],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    home, _, port = proc.stdout.strip().partition(" ")
    assert home == str(tmp_path / "dagster")
    installed = (tmp_path / "dagster" / "dagster.yaml").read_bytes()
    expected = DEPLOY / "dagster.yaml" if postgres else DAGSTER_YAML
    assert installed == expected.read_bytes()
    assert port == ("5432" if postgres else "")


def test_runs_yield_the_cpu_to_the_read_side() -> None:
    """The daemon's container (where runs execute) weighs less than the serving containers."""
    default = 1024
    serving = [service(name).get("cpu_shares", default) for name in ("api", "mcp")]
    assert service("daemon")["cpu_shares"] < min(serving)
