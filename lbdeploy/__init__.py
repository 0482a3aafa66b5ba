"""lbdeploy: HAProxy + Keepalived HA pairs on bare Debian/Ubuntu nodes, over SSH."""

__version__ = "0.1.0"
