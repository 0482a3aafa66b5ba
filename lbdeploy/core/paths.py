"""Where lbdeploy's things live on a node, named once."""

KEEPALIVED_CONF = "/etc/keepalived/keepalived.conf"
HAPROXY_CFG = "/etc/haproxy/haproxy.cfg"
# The sysctl that lets HAProxy bind a VIP the node does not hold, per family (4, 6).
NONLOCAL_BIND = ("net.ipv4.ip_nonlocal_bind", "net.ipv6.ip_nonlocal_bind")
SYSCTL_CONF = "/etc/sysctl.d/60-lbdeploy.conf"
KEEPALIVED_DROPIN = "/etc/systemd/system/keepalived.service.d/lbdeploy.conf"
HAPROXY_DROPIN = "/etc/systemd/system/haproxy.service.d/lbdeploy.conf"
SERVER_STATE = "/var/lib/haproxy/server-state"  # admin states (drain, maint) across reloads
DEFAULT_HAPROXY = "/etc/default/haproxy"
INTERFACES = "/etc/network/interfaces"
FAILSAFE = "/etc/init/failsafe.conf"
LOCK_DIR = "/run/lbdeploy.lock"
STATE_DIR = "/var/lib/lbdeploy"  # root-only: what lbdeploy wrote and still owes
APPLIED = f"{STATE_DIR}/applied"  # sha256 of what lbdeploy last wrote, per path
PENDING = f"{STATE_DIR}/pending"  # one file per service whose reload is owed
APT_LOG = "/var/log/lbdeploy-apt.log"
STANDBY_FILE = "/etc/keepalived/lbdeploy-standby"  # 1: put on standby by `switchover`
HAPROXY_SOCKET = "/run/haproxy/admin.sock"
KEEPALIVED_PID = "/run/keepalived.pid"
KEEPALIVED_DATA = "/tmp/keepalived.data"  # keepalived's SIGUSR1 state dump
SCRIPT_USER = "keepalived_script"
NOTIFY_SCRIPT = "/usr/local/lib/lbdeploy/vrrp-notify"
ALERTS_FILE = "/etc/lbdeploy/alerts"  # the webhook URL (it may hold a token)
# procps: pgrep for the track script; socat: HAProxy's stats socket for `status`.
PACKAGES = ("keepalived", "haproxy", "procps", "socat")
ALERT_PACKAGES = ("curl",)  # the notify handler POSTs alerts with it
SERVICES = ("haproxy", "keepalived")


def interface_stanza(interface: str) -> str:
    return f"/etc/network/interfaces.d/lbdeploy-{interface}"


CERTS_DIR = "/etc/haproxy/certs"  # root only: HAProxy reads keys before dropping privileges


def certificate_path(service: str, index: int) -> str:
    return f"{CERTS_DIR}/{service}-{index}.pem"


def netplan_file(interface: str) -> str:
    return f"/etc/netplan/60-lbdeploy-{interface}.yaml"


def staged(path: str) -> str:
    """Where a new version waits beside its target until it is validated."""
    directory, _, name = path.rpartition("/")
    return f"{directory}/.{name}.lbdeploy-new"
