#!/bin/bash
# Records FRR's JSON for the parsers' tests from real daemons, with no network: two
# private network namespaces (hera, an lbdeploy node running the golden `anycast` case's
# frr.conf; router, one upstream router) joined by a veth. Nothing leaves the machine.
# Needs root, iproute2 and Debian's frr (zebra, bgpd, bfdd, staticd; no running frr.service).
# Usage: sudo bash record.sh   (writes *.json beside this file; takes about a minute)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
golden="$here/../../render/anycast/expected/hera/etc/frr/frr.conf"
work=$(mktemp -d /tmp/frr-record.XXXXXX)
chmod 755 "$work"

cleanup() {
    for f in "$work"/run-*/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
    sleep 1
    ip netns del lbd-hera 2>/dev/null || true
    ip netns del lbd-router 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

sed "s|^log syslog informational|log file $work/hera.log informational|" "$golden" >"$work/hera.conf"
cat >"$work/router.conf" <<CONF
frr defaults datacenter
hostname router
log file $work/router.log informational
bfd
 profile fast
  receive-interval 100
  transmit-interval 100
  detect-multiplier 3
 exit
exit
router bgp 65000
 bgp router-id 192.0.2.1
 no bgp default ipv4-unicast
 neighbor 192.0.2.11 remote-as 65101
 neighbor 192.0.2.11 password bgp-md5-pw
 neighbor 192.0.2.11 bfd profile fast
 neighbor 2001:db8:2::11 remote-as 65101
 neighbor 2001:db8:2::11 bfd profile fast
 address-family ipv4 unicast
  neighbor 192.0.2.11 activate
 exit-address-family
 address-family ipv6 unicast
  neighbor 2001:db8:2::11 activate
 exit-address-family
exit
CONF

for ns in hera router; do ip netns add "lbd-$ns"; ip -n "lbd-$ns" link set lo up; done
ip link add veth-h netns lbd-hera type veth peer name veth-r netns lbd-router
ip -n lbd-hera addr add 192.0.2.11/24 dev veth-h
ip -n lbd-hera addr add 2001:db8:2::11/64 dev veth-h nodad
ip -n lbd-router addr add 192.0.2.1/24 dev veth-r
ip -n lbd-router addr add 2001:db8:2::1/64 dev veth-r nodad
ip -n lbd-hera link set veth-h up
ip -n lbd-router link set veth-r up
chown -R frr:frr "$work"
for ns in hera router; do
    run="$work/run-$ns"
    mkdir -p "$run"
    chown frr:frr "$run"
    for daemon in zebra bfdd bgpd staticd; do
        # No -f: a daemon reading the whole integrated file refuses the other daemons'
        # lines; vtysh sends each daemon its own lines below, as frr.service does.
        ip netns exec "lbd-$ns" "/usr/lib/frr/$daemon" -d -f /dev/null --vty_socket "$run" \
            -z "$run/zserv.api" -i "$run/$daemon.pid" -A 127.0.0.1 -u frr -g frr 2>/dev/null
    done
done
sleep 2
for ns in hera router; do
    ip netns exec "lbd-$ns" vtysh --vty_socket "$work/run-$ns" -f "$work/$ns.conf"
done

# lbdeploy's own status and withdraw scripts, pointed at this hera's FRR.
repo="$here/../../../../.."
lbd() {
    "$repo/.venv/bin/python" -c "import sys; sys.path.insert(0, '$repo'); $1" |
        sed "s|systemctl is-active -q frr|true|; s|vtysh -c|vtysh --vty_socket $work/run-hera -c|;
             s|/etc/frr/frr.conf|$work/hera.conf|; s|/run/lbdeploy-anycast-withdrawn|$work/withdrawn|" \
            >"$work/lbd.sh"
    ip netns exec lbd-hera bash "$work/lbd.sh"
}
status='from lbdeploy.components.frr_runtime import status_lines
from tests.unit.test_anycast import case
print(status_lines(case("anycast").pair.anycast).text())'
announcements() {
    lbd "from lbdeploy.components.frr_runtime import announcement_lines
print(announcement_lines($1).text())"
}

hera() { ip netns exec lbd-hera vtysh --vty_socket "$work/run-hera" -c "$@"; }
router() { ip netns exec lbd-router vtysh --vty_socket "$work/run-router" -c "$@"; }
established() { hera "show bgp summary json" | grep -c '"state":"Established"' || true; }
until [ "$(established)" = 2 ]; do sleep 1; done

# The gate's part: the VIPs on lo; FRR announces them (import-check).
ip -n lbd-hera addr add 198.51.100.10/32 dev lo
ip -n lbd-hera addr add 2001:db8:100::10/128 dev lo
sleep 3
hera "show bgp summary json" >"$here/summary-announcing.json"
hera "show bfd peers json" >"$here/bfd-up.json"
hera "show bgp ipv4 unicast neighbors 192.0.2.1 advertised-routes json" >"$here/advertised-v4.json"
hera "show bgp ipv6 unicast neighbors 2001:db8:2::1 advertised-routes json" >"$here/advertised-v6.json"
hera "show bgp ipv4 unicast neighbors 192.0.2.99 advertised-routes json" >"$here/advertised-no-such-neighbor.json"
hera "show bgp ipv6 unicast neighbors 192.0.2.1 advertised-routes json" >"$here/advertised-not-activated.json"

lbd "$status" >"$here/status-announcing.txt"

# lbdeploy withdraw: `no network` at runtime, the VIP stays on lo.
announcements True
sleep 1
hera "show bgp ipv4 unicast neighbors 192.0.2.1 advertised-routes json" >"$here/advertised-v4-withdrawn.json"
router "show ip bgp 198.51.100.10/32 json" >"$here/router-after-withdraw.json"
lbd "$status" >"$here/status-withdrawn.txt"
announcements False
sleep 1

# One peer shut down here (Idle (Admin)), then the link gone (BFD down, sessions Active).
hera "conf t" -c "router bgp 65101" -c "neighbor 2001:db8:2::1 shutdown"
sleep 1
hera "show bgp summary json" >"$here/summary-admin-down.json"
hera "conf t" -c "router bgp 65101" -c "no neighbor 2001:db8:2::1 shutdown"
ip -n lbd-router link set veth-r down
sleep 4
hera "show bgp summary json" >"$here/summary-link-down.json"
hera "show bfd peers json" >"$here/bfd-down.json"
cp "$work/hera.log" "$here/bgpd-hera.log"
lbd "$status" >"$here/status-link-down.txt"
chmod 644 "$here"/*.json "$here"/*.log "$here"/*.txt
echo "recorded: $(ls "$here"/*.json | wc -l) files"
