#!/usr/bin/env bash
# Make a Docker engine and docker-compose available: install them from Debian
# when missing and start dockerd when nothing answers. Idempotent.
set -euo pipefail

need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v docker-compose >/dev/null || need+=(docker-compose)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v ssh-keyscan >/dev/null || need+=(openssh-client)
# The test suite validates rendered configs with the real daemons' checkers.
command -v haproxy >/dev/null || need+=(haproxy)
command -v keepalived >/dev/null || need+=(keepalived)
command -v vtysh >/dev/null || need+=(frr)
[ -x /usr/lib/frr/frr-reload.py ] || need+=(frr-pythontools)
# promtool (Debian ships it in prometheus) checks and unit-tests lbdeploy's alert rules.
command -v promtool >/dev/null || need+=(prometheus)
if ((${#need[@]})); then
    echo "lab: installing ${need[*]} from Debian" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
    echo "lab: starting dockerd (log: /var/log/lbdeploy-dockerd.log)" >&2
    setsid dockerd >/var/log/lbdeploy-dockerd.log 2>&1 < /dev/null &
    for _ in $(seq 1 60); do
        docker info >/dev/null 2>&1 && break
        sleep 0.5
    done
    docker info >/dev/null 2>&1 || { echo "lab: dockerd did not answer within 30 s; see /var/log/lbdeploy-dockerd.log" >&2; exit 1; }
fi
