#!/usr/bin/env bash
# The benchmark in one command, from a fresh clone: Docker engine, .venv with lbdeploy and
# the peers (ansible-core, pyinfra), then `python -m bench` (arguments pass through, e.g.
# --tools lbdeploy --scenarios noop --runs 3). See bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
bash lab/ensure-docker.sh
[ -x .venv/bin/python ] || python3 -m venv .venv
stamp=.venv/.lbdeploy-bench-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test,bench]'
    touch "$stamp"
fi
# Bytecode as an installed package has it: a first run must not pay for compiling.
PYTHONDONTWRITEBYTECODE= .venv/bin/python -m compileall -q lbdeploy bench lab >/dev/null
exec env -u PYTHONDONTWRITEBYTECODE .venv/bin/python -m bench "$@"
