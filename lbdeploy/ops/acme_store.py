"""The operator's ACME state directory: where keys and certificates are written and read.

The source of truth for every ACME certificate (docs/acme.md): files 0600, folders 0700,
each file replaced whole, a certificate's chain, key and stamp swapped in together.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from lbdeploy.core.acme import AcmeLayout, chain_and_key, layout
from lbdeploy.core.acme_live import LocalState
from lbdeploy.core.desired import Issued
from lbdeploy.inventory.model import Inventory
from lbdeploy.inventory.tls import CertChain, KeyFile


def _private_folder(folder: Path) -> None:
    """The folder and each missing parent made 0700 (not the umask's), the folder kept 0700."""
    for each in reversed((folder, *folder.parents)):
        if not each.exists():  # each folder made here is the operator's alone
            each.mkdir(mode=0o700, exist_ok=True)
            os.chmod(each, 0o700)
    os.chmod(folder, 0o700)


def write_private(path: Path, data: bytes) -> None:
    """A file only the operator reads, in a folder only the operator enters; replaced whole
    (a reader never sees half a key), never through a planted link."""
    _private_folder(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")  # 0600, O_EXCL
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_certificate(
    layout: AcmeLayout, names: tuple[str, ...], chain: bytes, key: bytes, stamp: bytes
) -> None:
    """Chain, key and stamp swapped in together: a crash leaves the old set or the new one,
    never a new key beside an old chain (which `renew` would think fine and `up` fail on).

    Each set is written into a fresh version folder beside the certificate's, and the
    certificate's folder is a symbolic link (relative, so a copied state directory keeps
    working) replaced by one rename; a rename onto a non-empty directory is refused on
    Linux, hence the link. The files keep their names, so the layout reads as before.
    """
    import shutil

    link = layout.cert_dir(names)
    _private_folder(link.parent)
    version = Path(tempfile.mkdtemp(dir=link.parent, prefix=f".{link.name}."))  # 0700
    write_private(version / "privkey.pem", key)
    write_private(version / "fullchain.pem", chain)
    write_private(version / "renewed", stamp)
    if link.is_dir() and not link.is_symlink():  # an older lbdeploy's real folder
        os.rename(link, tempfile.mkdtemp(dir=link.parent, prefix=f".{link.name}."))
    tmp = link.parent / f".{link.name}.link-{os.getpid()}"
    tmp.unlink(missing_ok=True)
    os.symlink(version.name, tmp)
    os.replace(tmp, link)
    for old in link.parent.glob(f".{link.name}.*"):
        if old != version and old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)


def state_layout(inv: Inventory, base: Path) -> AcmeLayout | None:
    """The inventory's ACME state directory on this machine; None without `acme:`."""
    if inv.acme is None:
        return None
    return layout(inv.acme, base, os.environ, Path.home())


def read_issued(inv: Inventory, base: Path) -> Issued:
    """Every certificate the state directory holds for the inventory's ACME names, each
    with its key; a pair that cannot be used is left out (`unusable` says why)."""
    return {names: pair for names, (pair, _) in _read_state(inv, base).items() if pair}


def local_state(inv: Inventory, base: Path) -> LocalState:
    """What `up` names when it refuses to put a placeholder over a live certificate."""
    where = state_layout(inv, base)
    return LocalState(str(where.root) if where else "?", unusable(inv, base))


def unusable(inv: Inventory, base: Path) -> dict[tuple[str, ...], str]:
    """Certificates held but not to be deployed, and why: they are due (`renew`)."""
    return {names: why for names, (_, why) in _read_state(inv, base).items() if why}


Read = tuple[tuple[CertChain, KeyFile] | None, str]  # the pair if usable, else why not


def _read_state(inv: Inventory, base: Path) -> dict[tuple[str, ...], Read]:
    from lbdeploy.inventory.tls import key_matches

    where = state_layout(inv, base)
    found: dict[tuple[str, ...], Read] = {}
    if where is None:
        return found
    for svc in inv.services:
        names = svc.acme_names
        if names and where.chain(names).exists() and where.key(names).exists():
            chain, key = where.chain(names).read_bytes(), where.key(names).read_bytes()
            try:
                pair = chain_and_key(chain, key, where.cert_dir(names))
            except ValueError:
                found[names] = (None, f"{where.cert_dir(names)} cannot be read as PEM")
                continue
            if key_matches(*pair):
                found[names] = (pair, "")
            else:
                found[names] = (None, "its key does not match the certificate")
    return found
