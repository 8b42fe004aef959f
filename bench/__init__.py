"""Benchmark suite for the Scheduler API: run with `python -m bench` (see `--help`)."""
