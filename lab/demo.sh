#!/usr/bin/env bash
# The main job on the embedded lab: install what is needed, start the lab (two bare
# Debian nodes and two web backends in Docker) and converge it with lbdeploy.
set -euo pipefail
cd "$(dirname "$0")/.."
bash lab/ensure-docker.sh
bash lab/venv.sh
.venv/bin/python -m lab up
.venv/bin/lbdeploy validate inventories/lab.yaml
.venv/bin/lbdeploy up inventories/lab.yaml
.venv/bin/lbdeploy verify inventories/lab.yaml
cat <<'MSG'

The lab is up. Try:
  curl http://172.29.150.150/                        # the VIP: answers web1, web2 in turn
  curl -u admin:lab-stats http://172.29.150.11:8404/stats   # hera's HAProxy stats page
Stop it with: .venv/bin/python -m lab down
MSG
