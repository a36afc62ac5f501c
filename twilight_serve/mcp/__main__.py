"""``python -m twilight_serve.mcp``: the same as ``twilight mcp``."""

import sys

from twilight_resources.cli import main

if __name__ == "__main__":
    sys.exit(main(["mcp", *sys.argv[1:]]))
