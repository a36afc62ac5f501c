"""An embedded, deterministic simulated A-share market speaking Tushare Pro's wire protocol."""

from twilight_sim.faults import FaultConfig
from twilight_sim.fields import FIELDS, ROW_CAPS
from twilight_sim.market import Market
from twilight_sim.server import SimConfig, SimServer, start_simulator

__all__ = [
    "FIELDS",
    "ROW_CAPS",
    "FaultConfig",
    "Market",
    "SimConfig",
    "SimServer",
    "start_simulator",
]
