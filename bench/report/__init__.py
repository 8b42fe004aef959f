"""Writing docs/benchmarks.md from the raw figures in docs/benchmarks.json.

The page holds tables, and sentences computed from the figures they state (a ratio
from the two numbers it compares, a verdict from a target). Reading the figures is a
person's work and lives in docs/benchmarks-analysis.md, which this page links to.
"""

from bench.report.page import render

__all__ = ["render"]
