"""`python -m flow_exporter`: see `cli.py` for the flags."""

import sys

from .cli import main

sys.exit(main())
