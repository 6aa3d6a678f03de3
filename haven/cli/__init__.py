"""The ``haven`` command line: set up, serve, import, export, back up and restore."""

from haven.cli.app import app, main

__all__ = ["app", "main"]
