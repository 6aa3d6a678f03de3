"""Fixtures for driving the ``haven`` command line against real temporary SQLite files."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:  # for the cli_helpers module, whatever pytest's import mode
    sys.path.insert(0, HERE)
