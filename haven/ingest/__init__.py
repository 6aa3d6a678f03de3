"""Getting data in and out: legacy ``data.json`` / ``haven.db`` import, JSON export."""

from haven.ingest.export import FORMATS, export_galaxy
from haven.ingest.legacy import ImportReport, ParsedFile, import_file, parse_legacy
from haven.ingest.sources import LegacyFile, LegacyRecord, read_legacy

__all__ = [
    "FORMATS",
    "ImportReport",
    "LegacyFile",
    "LegacyRecord",
    "ParsedFile",
    "export_galaxy",
    "import_file",
    "parse_legacy",
    "read_legacy",
]
