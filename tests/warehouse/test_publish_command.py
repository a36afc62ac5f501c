"""``twilight publish``: publishes what writers left unpublished and heals a bad pointer."""

from __future__ import annotations

import errno
import re
from pathlib import Path

import pytest

from tests.warehouse.conftest import REPO, daily_rows
from twilight_app.cli import main
from twilight_resources.settings import get_settings
from twilight_resources.warehouse import (
    PublishError,
    WarehouseReader,
    WarehouseWriter,
    read_pointer,
)
from twilight_resources.warehouse import snapshots as snapshots_module
from twilight_resources.warehouse.snapshots import (
    TMP_PREFIX,
    deferred_path,
    pointer_path,
    pointer_problem,
    snapshot_dir,
)


def _disk_full(conn: object, staging: Path, table: str, bucket: int | None) -> None:
    target = staging / f"{table}.duckdb"
    target.write_bytes(b"\0" * 4096)
    raise OSError(errno.ENOSPC, "No space left on device", str(target))


def test_publish_heals_the_pointer_and_publishes_unpublished_writes(
    twilight_home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse = get_settings().warehouse_file
    WarehouseWriter(warehouse).write("normalized_daily", daily_rows(["000001.SZ"], ["20240603"]))
    pointer_path(warehouse).write_text("{garbage", encoding="utf-8")
    with monkeypatch.context() as patch:  # the next write commits, its snapshot does not
        patch.setattr(snapshots_module, "_export_part", _disk_full)
        with pytest.raises(PublishError):
            WarehouseWriter(warehouse).write(
                "normalized_daily", daily_rows(["600519.SH"], ["20240603"])
            )
        assert main(["publish"]) == 1
        assert "nothing published" in capsys.readouterr().err
    assert not list(snapshot_dir(warehouse).glob(f"{TMP_PREFIX}*"))
    assert deferred_path(warehouse).exists()

    assert main(["publish"]) == 0
    out = capsys.readouterr().out
    info = read_pointer(warehouse)
    assert info is not None and pointer_problem(warehouse) is None
    assert f"published {info.path} (generation {info.generation}" in out
    assert "holds the writes waiting for a snapshot since" in out
    assert re.search(r"pointer was corrupt .*; it now names " + re.escape(info.path.name), out)
    assert not deferred_path(warehouse).exists()
    with WarehouseReader(warehouse) as reader:
        assert reader.records("SELECT count(*) AS n FROM normalized_daily") == [{"n": 2}]


def test_the_docs_name_only_commands_that_exist() -> None:
    from twilight_app.cli import COMMANDS

    pages = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    text = "\n".join(page.read_text("utf-8") for page in pages)
    named = set(re.findall(r"(?:`|^)twilight ([a-z]+)", text, re.M))
    assert named and named <= set(COMMANDS), sorted(named - set(COMMANDS))
