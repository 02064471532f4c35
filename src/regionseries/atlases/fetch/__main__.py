"""``python -m regionseries.atlases.fetch``: the same as ``regionseries-fetch-atlases``."""

import sys

from .cli import main

sys.exit(main())
