"""``python -m gen``: the SWIRL command line (see :mod:`gen.cli`)."""
import sys

from .cli import main

sys.exit(main())
