"""``python -m pneumo_desktop.selftest``: the same as ``PneumoDesktop --self-test``."""

import sys

from . import main

sys.exit(main())
