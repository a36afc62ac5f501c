"""The MCP proxy: Tushare-shaped tools answered from the warehouse, or live when it lacks them.

``run_mcp(settings, transport, host, port)`` is what ``twilight mcp`` runs; ``build_server``
gives the server itself (tests, embedding).
"""

from twilight_serve.mcp.server import build_server, mcp_parser, run_mcp

__all__ = ["build_server", "mcp_parser", "run_mcp"]
