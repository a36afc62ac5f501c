"""The one place the Dagster code location is assembled; nothing is defined here."""

from dagster import Definitions

from twilight_resources.tushare import TushareResource

defs = Definitions(
    resources={"tushare": TushareResource()},
)
