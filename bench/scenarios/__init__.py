"""One module per scenario; each has `run(bench) -> dict` of raw figures."""
