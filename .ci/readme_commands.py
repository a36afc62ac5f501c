"""The README's commands on a fresh clone, as a new user runs them: done-when check of issue 18.

Clones this repository into a temporary directory (no ../shared beside it), removes every
TWILIGHT_* and DAGSTER_* variable, creates the clone's .venv with `make .venv/.installed`
(pip's cache makes that a reinstall of wheels), puts .venv/bin on PATH like an activated venv,
and runs from the clone: plan, a backfill of a few days, a materialize through
`twilight dagster`, token, serve, mcp and `twilight demo --no-serve`. Each must succeed and
show its progress, and afterwards no process may be left whose working directory or command
line is in the clone. Exits non-zero, naming the step, on the first failure.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
RANGE = ["--start", "20240902", "--end", "20240906"]
TABLES = ["--tables", "daily,adj_factor,daily_basic"]


def fail(step: str, detail: str) -> None:
    print(f"README check FAILED at {step}:\n{detail[-4000:]}", file=sys.stderr)
    sys.exit(1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(step: str, cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 600) -> str:
    started = time.monotonic()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    out = done.stdout + done.stderr
    if done.returncode != 0:
        fail(step, f"exit {done.returncode}\n{out}")
    print(f"ok   {step} ({time.monotonic() - started:.0f}s)", flush=True)
    return out


def expect(step: str, pattern: str, out: str) -> None:
    if not re.search(pattern, out, re.M):
        fail(step, f"no output matching {pattern!r}:\n{out}")


def leftovers(clone: Path) -> list[str]:
    """Processes whose working directory or command line is inside the clone."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cwd = os.readlink(proc / "cwd")
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if cwd.startswith(str(clone)) or str(clone) in cmdline:
            found.append(f"{proc.name}: {cmdline.strip()} (cwd {cwd})")
    return found


def server(step: str, cmd: list[str], url: str, cwd: Path, env: dict[str, str],
           probe: dict[str, str] | None = None) -> str:  # fmt: skip
    """Start a server, wait until ``url`` answers, stop it with Ctrl-C (SIGINT); its output."""
    log = cwd / f".{step}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip
    try:
        deadline, answer = time.monotonic() + 120, None
        while answer is None:
            if proc.poll() is not None or time.monotonic() > deadline:
                fail(step, log.read_text())
            try:
                answer = httpx.get(url, headers=probe or {}, timeout=5)
            except httpx.HTTPError:
                time.sleep(0.5)
        if answer.status_code >= 500:
            fail(step, f"{url}: {answer.status_code} {answer.text}")
        os.killpg(proc.pid, signal.SIGINT)
        if proc.wait(timeout=30) not in (0, -signal.SIGINT):
            fail(step, f"exit {proc.returncode} on Ctrl-C\n{log.read_text()}")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    print(f"ok   {step}", flush=True)
    return answer.text


def main() -> int:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="twilight-readme-") as tmp:
        clone = Path(tmp) / "twilight"
        subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIGHT_", "DAGSTER_"))}
        env["HOME"] = tmp  # outside the checkout the default is ~/.twilight: never the real one
        run("make .venv/.installed", ["make", ".venv/.installed"], clone, env, timeout=900)
        env["PATH"] = f"{clone / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"

        out = run("twilight plan", ["twilight", "plan", *TABLES, *RANGE], clone, env)
        expect("twilight plan", r"^total: \d+ upstream calls", out)
        expect("twilight plan", r"plan: \d+/\d+ lookups", out)
        out = run("twilight backfill", ["twilight", "backfill", *TABLES, *RANGE], clone, env)
        expect("twilight backfill", r"backfill: \d+/\d+ calls", out)
        expect("twilight backfill", r"^backfill complete: .*rows: .*daily [\d,]+", out)
        out = run(
            "twilight dagster asset materialize",
            ["twilight", "dagster", "asset", "materialize", "-m", "twilight_assets.definitions",
             "--select", "raw/weekly,normalized/weekly", "--partition-range",
             "20240906...20240906"],
            clone, env,
        )  # fmt: skip
        expect("twilight dagster asset materialize", r"run \S+: SUCCESS", out)
        home = clone / ".twilight"
        if not (home / "dagster" / "dagster.yaml").is_file():
            fail("one home", f"no Dagster instance in {home}: {sorted(os.listdir(clone))}")

        out = run("twilight token create", ["twilight", "token", "create", "--user", "alice"],
                  clone, env)  # fmt: skip
        token = out.strip().splitlines()[-1]
        port = free_port()
        body = server(
            "twilight serve", ["twilight", "serve", "--port", str(port)],
            f"http://127.0.0.1:{port}/warehouse/daily?ts_code=000001.SZ&start_date=20240902"
            "&end_date=20240906", clone, env, {"Authorization": f"Bearer {token}"},
        )  # fmt: skip
        if '"count":0' in body or '"trade_date":"20240902"' not in body:
            fail("twilight serve", f"the backfilled days are not served: {body[:500]}")
        port = free_port()
        server("twilight mcp", ["twilight", "mcp", "--transport", "http", "--port", str(port)],
               f"http://127.0.0.1:{port}/mcp", clone, env)  # fmt: skip

        out = run("twilight demo --no-serve", ["twilight", "demo", "--no-serve", "--days", "5"],
                  clone, env)  # fmt: skip
        expect("twilight demo --no-serve", r"\[demo\] stages: \d/3", out)
        expect("twilight demo --no-serve", r"sample warehouse ready", out)

        deadline = time.monotonic() + 15
        while (left := leftovers(clone)) and time.monotonic() < deadline:
            time.sleep(0.5)
        if left:
            fail("leftovers", "processes of the clone still running:\n" + "\n".join(left))
        print(f"README check passed in {time.monotonic() - started:.0f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
