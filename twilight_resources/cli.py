"""The ``twilight`` command; subcommands import their modules lazily so ``--help`` is fast."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence

from twilight_resources.logs import configure_logging
from twilight_resources.settings import SettingsError, get_settings


def _cmd_settings(args: argparse.Namespace, rest: list[str]) -> int:
    """Print the effective settings (secrets masked) as JSON."""
    settings = get_settings()
    shown = json.loads(settings.model_dump_json())
    shown["warehouse_file"] = str(settings.warehouse_file)
    shown["uses_simulator"] = settings.uses_simulator
    print(json.dumps(shown, indent=2, ensure_ascii=False))
    return 0


def _cmd_sim(args: argparse.Namespace, rest: list[str]) -> int:
    from twilight_sim.cli import main as sim_main

    return sim_main(rest)


COMMANDS: dict[str, tuple[str, Callable[[argparse.Namespace, list[str]], int]]] = {
    "settings": ("show the effective settings (secrets masked)", _cmd_settings),
    "sim": ("run the simulated Tushare upstream in the foreground (`twilight sim -h`)", _cmd_sim),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="twilight", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, _) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=name != "sim")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    configure_logging()
    args, rest = build_parser().parse_known_args(argv)
    try:
        return COMMANDS[args.command][1](args, rest)
    except SettingsError as exc:
        print(f"twilight: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
