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
# A local ACME CA for tests/acme_local (on 127.0.0.1 only).
command -v pebble >/dev/null || need+=(pebble)
# promtool (Debian ships it in prometheus) checks and unit-tests lbdeploy's alert rules.
command -v promtool >/dev/null || need+=(prometheus)
if ((${#need[@]})); then
    echo "lab: installing ${need[*]} from Debian" >&2
    export DEBIAN_FRONTEND=noninteractive
    # The daemons are here for their checkers only: none may start serving on this machine
    # (a Prometheus server, haproxy, keepalived, FRR). invoke-rc.d and deb-systemd-invoke
    # start nothing while policy-rc.d exits 101; one already there (Docker's) is left alone.
    policy=/usr/sbin/policy-rc.d made_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\n# lab/ensure-docker.sh: no daemon starts during its install\nexit 101\n' >"$policy"
        chmod 0755 "$policy"
        made_policy=1
        trap 'rm -f "$policy"' EXIT
    fi
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    if ((made_policy)); then rm -f "$policy"; trap - EXIT; fi
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
