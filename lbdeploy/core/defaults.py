"""Defaults that the CLI shows in its help and the effect modules apply, named once in a
module that imports nothing (so `--help` needs no SSH stack)."""

DRAIN_TIMEOUT = 300.0  # seconds `drain --wait` may take
