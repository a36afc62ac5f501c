"""``python -m twilight_app``: the ``twilight`` command."""

import sys

from twilight_app.cli import main

sys.exit(main())
