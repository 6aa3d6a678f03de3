"""The check every test of a refused ``haven import`` makes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


def import_refused(haven: Any, args: Sequence[Any], fragments: Sequence[str],
                   state: Callable[[Path], Any]) -> str:
    """``haven import ARGS…`` fails with exit 1 and one error line holding every fragment,
    no traceback, and ``state(db)`` as it was. Returns the error line."""
    before = state(haven.db)
    result = haven("import", *args)
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, result.output
    for fragment in fragments:
        assert fragment in errors[0], f"{fragment!r} not in {errors[0]!r}"
    assert state(haven.db) == before
    return errors[0]
