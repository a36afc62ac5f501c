"""Request parameters as Tushare clients send them: strings, '' for unset, comma lists.

Unknown parameters are ignored (the ``tushare`` SDK itself adds ``ts_type_name``); malformed
values of known ones raise :class:`ParamError`, which the server turns into an error answer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date

_DATE = re.compile(r"\d{8}")


class ParamError(ValueError):
    """A parameter value the simulated API cannot accept; the message names it."""


class Params:
    def __init__(self, raw: Mapping[str, object] | None) -> None:
        if raw is not None and not isinstance(raw, Mapping):
            raise ParamError("params must be a JSON object")
        self.raw = {k: v for k, v in (raw or {}).items() if v not in (None, "")}

    def has(self, name: str) -> bool:
        return name in self.raw

    def text(self, name: str, choices: tuple[str, ...] | None = None) -> str | None:
        value = self.raw.get(name)
        if value is None:
            return None
        text = str(value).strip()
        if choices is not None and text not in choices:
            raise ParamError(f"参数错误: {name}={text!r}, expected one of {', '.join(choices)}")
        return text

    def require(self, name: str) -> str:
        value = self.text(name)
        if value is None:
            raise ParamError(f"参数错误: 必填参数 {name} 缺失 (missing required parameter {name})")
        return value

    def codes(self, name: str = "ts_code") -> list[str] | None:
        value = self.text(name)
        if value is None:
            return None
        codes = [c.strip().upper() for c in value.split(",") if c.strip()]
        for code in codes:
            if not re.fullmatch(r"[0-9A-Z]{6}\.[A-Z]{2,4}", code):
                raise ParamError(f"参数错误: {name}={code!r} is not a code like 000001.SZ")
        return codes

    def date(self, name: str) -> int | None:
        value = self.text(name)
        if value is None:
            return None
        if not _DATE.fullmatch(value):
            raise ParamError(f"参数错误: {name}={value!r} must be a date YYYYMMDD")
        try:
            date(int(value[:4]), int(value[4:6]), int(value[6:]))
        except ValueError:
            raise ParamError(f"参数错误: {name}={value!r} is not a valid date") from None
        return int(value)

    def count(self, name: str) -> int | None:
        value = self.raw.get(name)
        if value is None:
            return None
        try:
            number = int(str(value))
        except ValueError:
            raise ParamError(f"参数错误: {name}={value!r} must be an integer") from None
        if number < 0:
            raise ParamError(f"参数错误: {name} must not be negative")
        return number


def parse_fields(raw: object, api: str, known: list[str], default: list[str]) -> list[str]:
    """The columns to return: ``fields`` as 'a,b' or a list, else the default columns.

    An unknown name is an error, worded as api.tushare.pro words it.
    """
    if raw in (None, "", []):
        return default
    if isinstance(raw, str):
        names = [f.strip() for f in raw.split(",") if f.strip()]
    elif isinstance(raw, list) and all(isinstance(f, str) for f in raw):
        names = [f.strip() for f in raw if f.strip()]
    else:
        raise ParamError("参数错误: fields must be a comma-separated string or a list of names")
    for name in names:
        if name not in known:
            raise ParamError(f"接口{api}不包含字段{name}")
    return list(dict.fromkeys(names)) or default
