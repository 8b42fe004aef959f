"""Run the benchmark suite: `python -m bench [--quick] [--only burst,create]`."""

from bench.runner import main

main()
