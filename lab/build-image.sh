#!/usr/bin/env bash
# Build a lab node image from the Debian mirror (no registry is reachable):
# debootstrap a minimal Debian, add lab/node/, docker import. The tag is the variant
# and a hash of the recipe, so an image is rebuilt only when its recipe changes.
# Variants:
#   bookworm        Debian 12 with ifupdown (the default)
#   trixie          Debian 13 with ifupdown
#   trixie-netplan  Debian 13 with netplan + systemd-networkd and no ifupdown: Ubuntu's
#                   network stack (the Ubuntu archive is not reachable from here)
#   router          Debian 12 with FRR configured as the lab's upstream router (lab/router/);
#                   the anycast tests' BGP peer, which lbdeploy never configures
#   infra           Debian 12 with the lab's services beside the LB tier (lab/infra/): an ACME
#                   CA (pebble, with pebble-challtestsrv as its DNS) and a Prometheus server
# Prints the image reference on stdout.
set -euo pipefail
variant=${1:-bookworm}
here=$(cd "$(dirname "$0")" && pwd)
case "$variant" in
    bookworm) suite=bookworm; network=ifupdown ;;
    trixie) suite=trixie; network=ifupdown ;;
    trixie-netplan) suite=trixie; network=netplan.io,systemd-resolved ;;
    router) suite=bookworm; network=ifupdown,frr; overlay=router ;;
    infra) suite=bookworm; network=ifupdown,pebble,prometheus,openssl; overlay=infra ;;
    *) echo "lab: unknown image variant $variant" >&2; exit 2 ;;
esac
overlay=${overlay:-}
tree() { (cd "$1" && find . -type f | LC_ALL=C sort | while read -r f; do echo "$f"; stat -c %a "$f"; cat "$f"; done); }
recipe_hash=$( (echo "$variant"; cat "$here/build-image.sh"; tree "$here/node"; if [ -n "$overlay" ]; then tree "$here/$overlay"; fi) | sha256sum | cut -c1-12)
image="lbdeploy-lab-node:$variant-$recipe_hash"
if docker image inspect "$image" >/dev/null 2>&1; then
    echo "$image"
    exit 0
fi

mirror=${LBDEPLOY_DEBIAN_MIRROR:-http://deb.debian.org/debian}
packages=openssh-server,systemd,systemd-sysv,dbus,iproute2,$network,procps,python3,sudo,iputils-ping,curl,ca-certificates,nftables
root=$(mktemp -d /var/tmp/lbdeploy-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
echo "lab: building $image with debootstrap (about a minute, once)" >&2
start=$(date +%s)
debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror" >"$root.log" 2>&1 \
    || { tail -20 "$root.log" >&2; exit 1; }
rm -f "$root.log"
cp -a "$here/node/." "$root/"
if [ -n "$overlay" ]; then
    cp -a "$here/$overlay/." "$root/"
    chroot "$root" /lab-overlay-setup
    rm "$root/lab-overlay-setup"
fi
chroot "$root" /bin/sh -euc '
    useradd --create-home --shell /bin/bash deploy
    useradd --create-home --shell /bin/bash ops
    echo "ops:lab-ops-pass" | chpasswd
    rm -f /etc/ssh/ssh_host_*
    systemctl enable lab-procsys.service ssh.service >/dev/null 2>&1
    if [ -x /usr/sbin/netplan ]; then systemctl enable systemd-networkd.service >/dev/null 2>&1; fi
    systemctl mask getty@tty1.service console-getty.service systemd-firstboot.service >/dev/null 2>&1
    : > /etc/machine-id
    apt-get clean
    rm -rf /var/lib/apt/lists/*
'
tar -C "$root" -c . | docker import \
    --change 'CMD ["/sbin/init"]' \
    - "$image" >/dev/null
echo "lab: built $image in $(( $(date +%s) - start )) s" >&2
echo "$image"
