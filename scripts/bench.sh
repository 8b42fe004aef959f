#!/usr/bin/env bash
# `make bench`: install what the benchmark suite needs, then run it.
# Arguments pass through, e.g. `scripts/bench.sh --quick` or `--only burst,create`.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null 2>&1 || ! command -v redis-server >/dev/null 2>&1; then
    apt-get install -y --no-install-recommends wrk redis-server \
        || { apt-get update && apt-get install -y --no-install-recommends wrk redis-server; }
fi
if [ ! -x .venv-bench/bin/python ]; then
    python3 -m venv .venv-bench
fi
# -e on every run: a reinstall is quick and picks up new modules of the service.
.venv-bench/bin/pip install --quiet --disable-pip-version-check -e '.[test]' -r bench/requirements.txt
# From the repo root: the suite imports `tests.support` (shared with the tests) from there.
exec .venv-bench/bin/python -m bench "$@"
