"""The HTTP layer: Haven's REST API (``/api/v1``) and the original routes (``/api``)."""

from __future__ import annotations

from haven.api.app import create_app

__all__ = ["create_app"]
