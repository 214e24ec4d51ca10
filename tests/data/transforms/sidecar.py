"""A user's own helper module, imported by uses_sidecar.py: which process imported it?"""

from __future__ import annotations

import os

IMPORTED_BY = os.getpid()
