"""Partition claims: all or none, released by their owner, taken over from a dead owner."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from twilight_resources.warehouse.claims import Owner, PartitionClaims, claims_path

TABLE = "raw_daily"


def test_all_or_none_then_released(warehouse: Path) -> None:
    claims = PartitionClaims(warehouse)
    first, second = Owner.current("run-a"), Owner.current("run-b")
    assert claims.claim(TABLE, ["20240603", "20240604"], first) == {}
    assert claims.claim(TABLE, ["20240604"], first) == {}  # its own claim again: fine
    assert claims.claim(TABLE, ["20240604", "20240605"], second) == {"20240604": first}
    # run-b holds nothing while it waits: a third run gets 20240605.
    assert claims.claim(TABLE, ["20240605"], Owner.current("run-c")) == {}
    assert claims.claim("raw_adj_factor", ["20240604"], second) == {}  # per table
    assert claims.release(TABLE, first) == 2
    assert claims.claim(TABLE, ["20240603", "20240604"], second) == {}


def test_a_dead_owner_does_not_block(warehouse: Path) -> None:
    claims = PartitionClaims(warehouse)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    dead = Owner("run-killed", child.pid, socket.gethostname(), 1)
    assert claims.claim(TABLE, ["20240603"], dead) == {}
    # A pid now used by a younger process than the one that claimed (pids are reused).
    reused = Owner("run-old", os.getpid(), socket.gethostname(), 1)
    assert claims.claim(TABLE, ["20240604"], reused) == {}
    assert claims.claim(TABLE, ["20240603", "20240604"], Owner.current("run-new")) == {}


def test_another_hosts_claim_expires(warehouse: Path) -> None:
    claims = PartitionClaims(warehouse)
    remote = Owner("run-remote", 1, "another-container", 1)
    assert claims.claim(TABLE, ["20240603"], remote) == {}
    assert claims.claim(TABLE, ["20240603"], Owner.current("run-local")) == {"20240603": remote}
    with sqlite3.connect(claims_path(warehouse)) as db:  # claimed seven hours ago
        db.execute("UPDATE claims SET claimed_at = ?", [time.time() - 7 * 3600])
    assert claims.claim(TABLE, ["20240603"], Owner.current("run-local")) == {}
