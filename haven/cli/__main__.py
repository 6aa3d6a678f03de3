"""``python -m haven.cli`` runs the same command line as ``haven``."""

from haven.cli import main

main()
