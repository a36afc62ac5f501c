"""``python -m twilight_sim``: the same as ``twilight sim``."""

from twilight_sim.cli import main

raise SystemExit(main())
