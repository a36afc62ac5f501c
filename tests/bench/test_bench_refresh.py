"""The refresh bench's disk and publish accounting: hard links count once, both snapshot
layouts count their generations."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from bench_refresh import disk_usage, generations  # noqa: E402


def test_disk_usage_counts_a_hard_linked_file_once(tmp_path: Path) -> None:
    older, newer = tmp_path / "g00000001", tmp_path / "g00000002"
    older.mkdir()
    newer.mkdir()
    (older / "part.duckdb").write_bytes(os.urandom(1 << 20))
    before = disk_usage(tmp_path)
    assert before >= 1 << 20
    os.link(older / "part.duckdb", newer / "part.duckdb")
    assert disk_usage(tmp_path) == before  # the link adds a name, not an inode
    assert disk_usage(older, newer) == disk_usage(older) + disk_usage(newer) - (1 << 20)
    (newer / "copy.duckdb").write_bytes((older / "part.duckdb").read_bytes())
    assert disk_usage(tmp_path) == before + (1 << 20)  # a copy is an inode of its own


def test_generations_of_snapshot_files_and_of_generation_directories(tmp_path: Path) -> None:
    files, dirs = tmp_path / "files", tmp_path / "dirs"
    files.mkdir()
    dirs.mkdir()
    for name in ("warehouse-g00000007.duckdb", "warehouse-g00000008.duckdb"):
        (files / name).touch()
    (files / ".tmp-warehouse-g00000009.duckdb").touch()  # a publish under way
    (files / "warehouse.current.json").write_text(json.dumps({"generation": 8}))
    (files / "warehouse.deferred").touch()
    assert generations(files) == {7, 8}
    for name in ("g00000041", "warehouse-g00000042", ".tmp-warehouse-g00000043"):
        (dirs / name).mkdir()
    (dirs / "warehouse-g00000042" / "normalized_daily.y2024.duckdb").touch()
    (dirs / "warehouse.current.json").write_text(json.dumps({"generation": 42}))
    assert generations(dirs) == {41, 42}
    assert generations(tmp_path / "none") == set()
