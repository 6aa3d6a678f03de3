"""The flat file formats the bulk loader reads and ``haven export`` writes, by name and suffix.

A module of its own with no imports, so the CLI and the exporter can name the formats
without loading the loader (pyarrow and the store's bulk path) on every command.
"""

from __future__ import annotations

FLAT_FORMATS = ("parquet", "csv", "jsonl")
FLAT_SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
