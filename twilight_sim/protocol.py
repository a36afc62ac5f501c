"""Tushare Pro's JSON envelope, error codes and a fast row encoder.

Rows are encoded column by column with pandas' C JSON writer at each field's precision, then
stitched into row arrays: several times faster than ``json.dumps`` on row lists, and floats
print as the real service prints them (``12.34``, never ``12.339999999999``).
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd

from twilight_sim.fields import FIELDS

OK = 0
ERR_TOKEN = 40101
ERR_PERMISSION = 40203  # Tushare uses the same code for rate limits and missing permissions
ERR_RATE = 40203
ERR_REQUEST = -2001  # what api.tushare.pro answers for an unknown api or field

# Refusals in the wordings users have met (sources in tests/resources/refusals.json). Tushare
# moved from the first wording of each pair to the second around 2025; both are served.
DOC_LINK = "https://tushare.pro/document/1?doc_id=108"
MSG_TOKEN = "您的token不对，请确认。"
MSG_RATE = "抱歉，您每分钟最多访问该接口{n}次，权限的具体详情访问：" + DOC_LINK + "。"
MSG_RATES = (
    MSG_RATE,
    "抱歉，您访问接口({api})频率超限({n}次/分钟)，具体频次详情：" + DOC_LINK + "。",
)
MSG_QUOTAS = (
    "抱歉，您每天最多访问该接口{n}次，权限的具体详情访问：" + DOC_LINK + "。",
    "抱歉，您访问接口({api})频率超限({n}次/天)，具体频次详情：" + DOC_LINK + "。",
)
MSG_IP = "您的IP数量超限，最大数量为{n}个！"
MSG_PERMISSION = "抱歉，您没有接口({api})访问权限"
MSG_UNKNOWN_API = "抱歉，没有{api}接口"


def request_id(seed: int, fingerprint: str, attempt: int) -> str:
    """48 characters like Tushare's, but derived from (seed, request, repetition) so that
    equal runs give equal bytes."""
    digest = hashlib.sha1(f"{seed}|{fingerprint}|{attempt}".encode()).hexdigest()
    return digest[:32] + str(int(digest[32:], 16)).zfill(16)[:16]


def fingerprint(api: str, params: object, fields: object) -> str:
    text = json.dumps([api, params, fields], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha1(text.encode()).hexdigest()


def _column_tokens(values: pd.Series, decimals: int | None) -> list[str]:
    if values.dtype == object:
        # pandas-stubs list no orient="values" for a Series; pandas writes it (a plain array).
        text: str = values.to_json(orient="values", force_ascii=False)  # type: ignore[call-overload]
        if text.count(",") == len(values) - 1:
            return text[1:-1].split(",")
        items = [None if isinstance(v, float) and v != v else v for v in values.tolist()]
        return [json.dumps(v, ensure_ascii=False) for v in items]
    precision = 0 if decimals is None else min(max(decimals, 1), 15)
    text = values.to_json(orient="values", double_precision=precision)  # type: ignore[call-overload]
    return text[1:-1].split(",")


def encode_items(frame: pd.DataFrame, api: str) -> str:
    """The ``items`` array of a frame: a JSON list of row lists, missing values as null."""
    if len(frame) == 0:
        return "[]"
    decimals = {f.name: f.decimals for f in FIELDS.get(api, ())}
    floats = [c for c in frame.columns if frame[c].dtype.kind == "f"]
    top = min(max([decimals.get(c, 6) for c in floats] + [1]), 15)
    biggest = max(
        (float(np.nanmax(np.abs(frame[c].to_numpy()), initial=0.0)) for c in floats), default=0.0
    )
    if biggest < 10.0 ** (15 - top):
        # Printing every float with ``top`` decimals is exact below this magnitude: one C pass.
        return frame.to_json(orient="values", double_precision=top, force_ascii=False)
    columns = []
    for name in frame.columns:
        col = frame[name]
        is_float = col.dtype.kind == "f"
        columns.append(_column_tokens(col, decimals.get(name, 6) if is_float else None))
    return "[[" + "],[".join(map(",".join, zip(*columns, strict=True))) + "]]"


def success_body(rid: str, fields: list[str], items_json: str, has_more: bool) -> bytes:
    head = json.dumps({"request_id": rid, "code": OK, "msg": ""}, ensure_ascii=False)[:-1]
    data = (
        f'{{"fields":{json.dumps(fields, ensure_ascii=False)},"items":{items_json},'
        f'"has_more":{"true" if has_more else "false"}}}'
    )
    return f'{head},"data":{data}}}'.encode()


def error_body(rid: str, code: int, msg: str) -> bytes:
    return json.dumps(
        {"request_id": rid, "code": code, "msg": msg, "data": None}, ensure_ascii=False
    ).encode()
