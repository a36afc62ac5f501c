"""The phases of a trading day and its session times (Asia/Shanghai).

Quote providers declare the phases they are worth asking in; the read API's market state
(``twilight_serve.market_state``) finds the phase of an instant from the stored calendar.
"""

from __future__ import annotations

from datetime import time
from enum import StrEnum

OPEN = time(9, 30)
LUNCH_START = time(11, 30)
LUNCH_END = time(13, 0)
CLOSE = time(15, 0)


class Phase(StrEnum):
    PRE_OPEN = "pre_open"  # a trading day before 09:30
    MORNING = "morning"  # continuous trading 09:30-11:30
    LUNCH_BREAK = "lunch_break"  # 11:30-13:00
    AFTERNOON = "afternoon"  # continuous trading 13:00-15:00
    AFTER_CLOSE = "after_close"  # a trading day after 15:00
    CLOSED_DAY = "closed_day"  # weekend or holiday, per the calendar
    UNKNOWN = "unknown"  # the calendar does not cover the day: treated as closed
