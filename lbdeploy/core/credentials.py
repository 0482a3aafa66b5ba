"""What the operator typed once for the whole run, apart from ssh.py so the CLI can ask
for it without importing Fabric and paramiko first."""

from __future__ import annotations

from dataclasses import dataclass

from lbdeploy.scripts.shell import Secret


@dataclass(frozen=True)
class Credentials:
    """What the operator typed once for the whole run: the sudo password, the key passphrase."""

    become: Secret | None = None
    key_passphrase: Secret | None = None


NO_CREDENTIALS = Credentials()
