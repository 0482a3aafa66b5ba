"""Defaults that the CLI shows in its help and the effect modules apply, named once in a
module that imports nothing (so `--help` needs no SSH stack)."""

DRAIN_TIMEOUT = 300.0  # seconds `drain --wait` may take
# Seconds `withdraw` waits, once the routers have no route to the node, for the
# connections on its anycast VIPs to end. Under plain ECMP the routers already send
# those flows elsewhere, so only the answers in flight are worth the wait.
WITHDRAW_DRAIN = 10.0
