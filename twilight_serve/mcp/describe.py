"""What the warehouse holds, for an agent planning its calls (a tool and a resource)."""

from typing import TYPE_CHECKING, Any

import pandas as pd

from twilight_resources.warehouse import SnapshotUnavailableError
from twilight_serve.mcp.catalog import TABLE_TOOLS

if TYPE_CHECKING:
    from twilight_serve.mcp.answers import Answerer

LEDGER_SUMMARY_SQL = (
    "SELECT table_name, count(*) FILTER (WHERE rows > 0) AS partitions, "
    "min(partition_key) FILTER (WHERE rows > 0) AS first_key, "
    "max(partition_key) FILTER (WHERE rows > 0) AS last_key, max(written_at) AS last_fetch "
    "FROM meta_partition_latest WHERE table_name LIKE 'normalized_%' GROUP BY table_name"
)


def describe(answerer: "Answerer") -> dict[str, Any]:
    """Per table: grain, fetched partitions, key span, rows, last fetch; plus the snapshot."""
    settings = answerer.settings
    base: dict[str, Any] = {
        "upstream": answerer.live_source,
        "tracked_indices": list(settings.index_codes),
        "market_calendar": settings.market_exchange,
        "hit_rule": "a request is answered from the warehouse only when every partition it "
        "needs (trading day, week/month end or report period) was fetched; otherwise it is "
        "asked live in full (costs upstream calls from the shared budget)",
    }
    try:
        info = answerer.reader.snapshot_info()
    except SnapshotUnavailableError:
        return {**base, "snapshot": None, "tables": {}}
    ledger = answerer.reader.query(LEDGER_SUMMARY_SQL).set_index("table_name")
    counts = answerer.reader.query(
        " UNION ALL ".join(
            f"SELECT '{t.api}' AS api, count(*) AS n FROM {t.table}" for t in TABLE_TOOLS
        )
    ).set_index("api")["n"]
    tables = {}
    for tool in TABLE_TOOLS:
        row = ledger.loc[tool.table] if tool.table in ledger.index else None
        last = None if row is None or pd.isna(row["last_fetch"]) else row["last_fetch"]
        tables[tool.api] = {
            "grain": tool.grain.value,
            "rows": int(counts.get(tool.api, 0)),
            "partitions_fetched": 0 if row is None else int(row["partitions"]),
            "first_key": None if row is None else row["first_key"] or None,
            "last_key": None if row is None else row["last_key"] or None,
            "last_fetch_utc": None if last is None else pd.Timestamp(last).isoformat(),
        }
    snapshot = {
        "generation": info.generation,
        "published_at": info.published_at.isoformat(timespec="seconds"),
        "age_seconds": round(info.age_seconds, 1),
    }
    return {**base, "snapshot": snapshot, "tables": tables}
