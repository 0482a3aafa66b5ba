"""`lbdeploy init`: from two machines and a VIP to a commented inventory; nothing changed.

Routes to the nodes, one read-only round trip each (`core/discovery.py` builds the
script and reads the answer), the inventory written only if it loads.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from ipaddress import IPv4Address
from pathlib import Path

from lbdeploy.core.credentials import Credentials
from lbdeploy.core.discovery import (
    Seen,
    init_script,
    parse_seen,
    parse_spec,
    propose,
    render_inventory,
)
from lbdeploy.core.targets import Explicit, NoSshConfig, SshTarget, route
from lbdeploy.errors import LbdeployError, NodeError, UsageError
from lbdeploy.inventory.load import parse_inventory
from lbdeploy.remote.connect import SshFiles, connect
from lbdeploy.remote.sshconfig import read_config


def start_inventory(
    nodes: list[str],
    vip_text: str,
    user: str | None,
    identity: Path | None,
    known_hosts: Path,
    trust_new: bool,
    out: Path,
    force: bool,
    creds: Credentials,
) -> str:
    """Ask the nodes, propose the values, check them as `validate` would, write the file."""
    try:
        vip = IPv4Address(vip_text)
    except ValueError:
        raise UsageError(
            f"--vip {vip_text!r} is not an IPv4 address; init proposes IPv4 pairs (add an"
            " IPv6 VIP to the inventory it writes: see README, IPv6)"
        ) from None
    if len(nodes) < 2:
        raise UsageError("name at least two nodes: a pair")
    if out.exists() and not force:
        raise UsageError(f"{out} exists; choose another --out, or --force to replace it")
    config = read_config(Path.home() / ".ssh" / "config", required=False) or NoSshConfig()
    specs = [parse_spec(n) for n in nodes]

    def target_of(spec: str) -> SshTarget:
        spec_user, host, port = parse_spec(spec)
        explicit = Explicit(user=spec_user or user, port=port, identity_file=identity)
        return SshTarget(route(config, host, explicit), known_hosts, 10.0)

    seen = gather(nodes, vip, target_of, creds, trust_new)
    proposal = propose(seen, vip)
    ssh = {"known_hosts": str(known_hosts)}
    if user:
        ssh["user"] = user
    if identity:
        ssh["identity_file"] = str(identity.expanduser().resolve())
    text = render_inventory(proposal, specs, vip, ssh)
    env = {"LB_VRRP_PASS": "x", "LB_STATS_PASS": "x"}
    parse_inventory(text, str(out), env, base=out.resolve().parent)  # what validate will say
    out.write_text(text)
    return f"wrote {out}:\n{text}"


def gather(
    specs: list[str],
    vip: IPv4Address,
    target_of: Callable[[str], SshTarget],
    creds: Credentials,
    accept_new: bool,
) -> list[Seen]:
    """Ask every node at once; nothing is changed on any of them (no lock either)."""
    found: dict[str, Seen] = {}
    errors: list[str] = []
    ssh_files = SshFiles(creds.key_passphrase)

    def ask(spec: str) -> None:
        try:
            session = connect(spec, target_of(spec), creds, accept_new=accept_new, files=ssh_files)
        except NodeError as exc:
            errors.append(str(exc))
            return
        try:
            result = session.run(init_script(vip), step="init", timeout=60)
            found[spec] = parse_seen(spec, result.stdout)
        except NodeError as exc:
            errors.append(str(exc))
        finally:
            session.close()

    with ThreadPoolExecutor(max_workers=max(1, len(specs))) as pool:
        list(pool.map(ask, specs))
    if errors:
        raise LbdeployError("; ".join(errors))
    return [found[s] for s in specs]
