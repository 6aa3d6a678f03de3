"""``haven bench``: build a generated galaxy and time Haven's operations on it.

- :mod:`haven.bench.runner`: timing helpers (percentiles, peak RSS).
- :mod:`haven.bench.operations`: the dataset, the parameters and the operations
  timed in-process and over HTTP.
- :mod:`haven.bench.report`: the Markdown and JSON reports.

Entry point: :func:`haven.bench.operations.run_bench`.
"""

from __future__ import annotations

from haven.bench.operations import BenchConfig, run_bench
from haven.bench.report import to_json, to_markdown

__all__ = ["BenchConfig", "run_bench", "to_json", "to_markdown"]
