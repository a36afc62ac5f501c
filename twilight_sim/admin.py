"""Admin endpoints under ``/_sim/``: health, stats, reset, faults, clock, config, apis, akshare.

GET reads a setting, POST changes it (JSON body); errors answer 400 with a message.
"""

from __future__ import annotations

import json
from dataclasses import asdict

from pydantic import ValidationError

from twilight_sim.akshare import AkshareFaults
from twilight_sim.apis import HANDLERS
from twilight_sim.fields import ROW_CAPS, default_fields, field_names
from twilight_sim.service import SimRequest, SimResponse
from twilight_sim.simulation import Simulation


def _json(payload: object, status: int = 200) -> SimResponse:
    return SimResponse(status, json.dumps(payload, ensure_ascii=False, default=str).encode())


def _body(request: SimRequest) -> dict[str, object]:
    data = json.loads(request.body or b"{}")
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    return data


def _health(server: Simulation, request: SimRequest) -> object:
    m = server.market
    return {
        "status": "ok",
        "seed": m.seed,
        "n_stocks": m.universe.size,
        "start_date": str(m.start),
        "end_date": str(m.end),
        "now": m.clock.now.isoformat(),
        "url": server.url,
    }


def _stats(server: Simulation, request: SimRequest) -> object:
    return server.stats_detail()


def _reset(server: Simulation, request: SimRequest) -> object:
    server.reset_stats()
    return {"status": "ok"}


def _faults(server: Simulation, request: SimRequest) -> object:
    if request.method == "POST":
        return server.set_faults(_body(request)).model_dump()
    return server.faults.config.model_dump()


def _number(body: dict[str, object], key: str) -> float:
    value = body.get(key, 0)
    if not isinstance(value, int | float | str):
        raise TypeError(f"{key} must be a number")
    return float(value)


def _clock(server: Simulation, request: SimRequest) -> object:
    if request.method == "POST":
        body = _body(request)
        if "now" in body:
            server.set_clock(str(body["now"]))
        days, hours = _number(body, "advance_days"), _number(body, "advance_hours")
        if days or hours:
            server.market.clock.advance(days, hours)
    return {"now": server.market.clock.now.isoformat()}


def _config(server: Simulation, request: SimRequest) -> object:
    if request.method == "POST":
        server.set_policy(**_body(request))
    return asdict(server.tushare.policy)


def _apis(server: Simulation, request: SimRequest) -> object:
    return {
        api: {
            "fields": field_names(api),
            "default_fields": default_fields(api),
            "row_cap": ROW_CAPS[api],
        }
        for api in sorted(HANDLERS)
    }


def _akshare(server: Simulation, request: SimRequest) -> object:
    """The Eastmoney side's faults: down, latency_ms, disagreements (injected cross-source)."""
    if request.method == "POST":
        return server.eastmoney.configure(AkshareFaults(**_body(request))).model_dump()
    return server.eastmoney.faults.model_dump()


ENDPOINTS = {
    "health": _health,
    "stats": _stats,
    "reset": _reset,
    "faults": _faults,
    "clock": _clock,
    "config": _config,
    "apis": _apis,
    "akshare": _akshare,
}
POST_ONLY = {"reset"}


def handle(server: Simulation, request: SimRequest, name: str) -> SimResponse:
    endpoint = ENDPOINTS.get(name)
    if endpoint is None:
        return _json(
            {"error": f"unknown admin endpoint {name!r}", "endpoints": sorted(ENDPOINTS)}, 404
        )
    if name in POST_ONLY and request.method != "POST":
        return _json({"error": f"use POST /_sim/{name}"}, 405)
    try:
        return _json(endpoint(server, request))
    except (ValueError, TypeError, ValidationError) as exc:
        return _json({"error": str(exc)}, 400)
