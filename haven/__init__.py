"""Haven: a world-state server for star maps and space games."""

__version__ = "0.1.0"
