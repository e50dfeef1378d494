"""``python -m eventhub``."""

import sys

from eventhub.cli import main

sys.exit(main())
