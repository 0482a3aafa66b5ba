#!/usr/bin/env bash
# The whole test suite: lint, unit tests, and integration tests against the Docker lab.
# Installs what it needs (Docker engine, compose, the package and its test extras).
# Extra arguments go to pytest, e.g. `bash lab/test.sh -m "not lab"` for the unit part.
set -euo pipefail
cd "$(dirname "$0")/.."
bash lab/ensure-docker.sh
bash lab/venv.sh
.venv/bin/ruff check lbdeploy lab tests bench
.venv/bin/ruff format --check lbdeploy lab tests bench
.venv/bin/mypy lbdeploy
exec .venv/bin/python -m pytest "$@"
