"""``python -m twilight_serve.mcp``: the MCP server alone, with the options of ``twilight mcp``.

It needs no Dagster instance; a simulator it starts for a live call stops when it exits.
"""

import sys
from collections.abc import Sequence

from twilight_resources.embedded import simulator_scope
from twilight_resources.logs import configure_logging
from twilight_resources.settings import SettingsError, get_settings
from twilight_serve.mcp.server import mcp_parser, run_mcp

PROG = "python -m twilight_serve.mcp"


def main(argv: Sequence[str] | None = None) -> int:
    configure_logging()
    opts = mcp_parser(PROG).parse_args(argv)
    try:
        settings = get_settings()
    except SettingsError as exc:
        sys.stderr.write(f"{PROG}: {exc}\n")
        return 2
    with simulator_scope(settings):
        return run_mcp(settings, opts.transport, opts.host, opts.port)


if __name__ == "__main__":
    sys.exit(main())
