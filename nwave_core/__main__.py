"""``python -m nwave_core``: the ``nwave`` command line."""

import sys

from .cli import main

sys.exit(main())
