#!/usr/bin/env bash
# Run the whole test suite on a fresh machine: set up (Debian packages, venv), lint, then pytest.
# Extra arguments go to pytest (e.g. scripts/test.sh -m "not lab").
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
exec .venv/bin/python -m pytest -q "$@"
