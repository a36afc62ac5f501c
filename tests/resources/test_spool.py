"""The fetch spool gives back the answer it was given, whatever format wrote it."""

from __future__ import annotations

from pathlib import Path

import orjson
import pandas as pd

from twilight_resources.spool import FetchSpool

FIELDS = ["ts_code", "trade_date", "close", "vol", "count", "name"]
ITEMS = [
    ["000001.SZ", "20240102", 9.21, 1234567.891, 12, "平安银行"],
    ["000002.SZ", "20240102", None, 0.1 + 0.2, 7, None],
    ["600000.SH", "20240102", 1e-7, None, 3, "浦发银行"],
]
PARAMS = {"trade_date": "20240102"}


def test_an_answer_reads_back_as_the_client_built_it(tmp_path: Path) -> None:
    answer = pd.DataFrame(ITEMS, columns=FIELDS)  # what TushareClient.query returns
    spool = FetchSpool(tmp_path)
    fetched_at = spool.put("daily", PARAMS, answer)
    spooled = spool.get("daily", PARAMS)
    assert spooled is not None
    pd.testing.assert_frame_equal(spooled[0], answer)
    assert spooled[1] == fetched_at
    assert spooled[0]["vol"].iloc[1] == 0.1 + 0.2  # floats bit for bit


def test_an_answer_spooled_row_by_row_still_reads_back(tmp_path: Path) -> None:
    spool = FetchSpool(tmp_path)
    path = spool.path("daily", PARAMS)
    path.parent.mkdir(parents=True)
    old = {"params": PARAMS, "fetched_at": "2024-01-02T08:00:00", "fields": FIELDS, "items": ITEMS}
    path.write_bytes(orjson.dumps(old))
    spooled = spool.get("daily", PARAMS)
    assert spooled is not None
    pd.testing.assert_frame_equal(spooled[0], pd.DataFrame(ITEMS, columns=FIELDS))
    assert spooled[1] == "2024-01-02T08:00:00"
