"""A non-editable install runs on its own: the package carries everything it reads at run time.

Clones this repository into a temporary directory, installs the clone with `pip install .` into
a new venv (pip's cache makes that a reinstall of wheels), deletes the clone, and runs
`twilight demo --no-serve --days 5` from another directory with every TWILIGHT_* and DAGSTER_*
variable removed but TWILIGHT_HOME. The demo reads the DDL and the embedded Dagster instance
config; with the sources gone they can only come from the installed package. The venv has no
`deploy` extra, so the run also shows the embedded default needs no dagster-postgres. Exits
non-zero, naming the step, on the first failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def fail(step: str, detail: str) -> None:
    print(f"installed-package check FAILED at {step}:\n{detail[-4000:]}", file=sys.stderr)
    sys.exit(1)


def run(step: str, cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 900) -> str:
    started = time.monotonic()
    try:
        done = subprocess.run(
            cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as exc:
        fail(step, f"no exit within {timeout:.0f}s\n{exc.stdout or ''}{exc.stderr or ''}")
    out = done.stdout + done.stderr
    if done.returncode != 0:
        fail(step, f"exit {done.returncode}\n{out}")
    print(f"ok   {step} ({time.monotonic() - started:.0f}s)", flush=True)
    return out


def main() -> int:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="twilight-installed-") as tmp:
        root = Path(tmp)
        source, venv, elsewhere = root / "source", root / "venv", root / "elsewhere"
        elsewhere.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIGHT_", "DAGSTER_"))}
        env["HOME"] = tmp
        run("git clone", ["git", "clone", "-q", str(REPO), str(source)], root, env)
        run("python -m venv", [sys.executable, "-m", "venv", str(venv)], root, env)
        python = str(venv / "bin" / "python")
        run("pip install .", [python, "-m", "pip", "install", "-q", str(source)], root, env)
        shutil.rmtree(source)

        probe = "import importlib.util as u; print(u.find_spec('dagster_postgres') is None)"
        if run("no deploy extra", [python, "-c", probe], elsewhere, env).strip() != "True":
            fail("no deploy extra", "dagster_postgres is installed without the deploy extra")

        env["TWILIGHT_HOME"] = str(root / "home")
        cmd = [str(venv / "bin" / "twilight"), "demo", "--no-serve", "--days", "5"]
        out = run("twilight demo --no-serve --days 5", cmd, elsewhere, env)
        if "sample warehouse ready" not in out:
            fail("twilight demo --no-serve --days 5", f"no 'sample warehouse ready':\n{out}")
        if not (root / "home" / "dagster" / "dagster.yaml").is_file():
            fail("embedded instance config", "the demo created no $TWILIGHT_HOME/dagster")
        print(f"installed-package check passed in {time.monotonic() - started:.0f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
