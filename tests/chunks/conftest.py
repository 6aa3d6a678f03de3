"""Make the checkout importable (``import haven``) when pytest runs tests/chunks."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:  # for the chnk_fixtures helper module
    sys.path.insert(0, HERE)
