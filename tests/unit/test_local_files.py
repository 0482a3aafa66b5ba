"""What lbdeploy reads and writes on the operator's machine: keys, known_hosts, render --out."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from types import SimpleNamespace

import paramiko
import pytest

from lbdeploy.core.targets import Hop
from lbdeploy.errors import HostKeyError, KeyFileError, UsageError
from lbdeploy.ops.render_out import write_file
from lbdeploy.remote.connect import AcceptNew, RefuseRevoked, RevokedHostKey, _open, check_identity
from lbdeploy.remote.known_hosts import load_known_hosts

KEY = paramiko.ECDSAKey.generate()
OTHER = paramiko.ECDSAKey.generate()
REVOKED = paramiko.ECDSAKey.generate()


def line(host: str, key: paramiko.PKey) -> str:
    return f"{host} {key.get_name()} {key.get_base64()}\n"


def test_known_hosts_reads_markers_hashes_and_junk_like_openssh(tmp_path: Path) -> None:
    hashed = paramiko.HostKeys.hash_host("[10.0.0.2]:2222")
    path = tmp_path / "known_hosts"
    path.write_text(
        "# comment\n"
        + "@cert-authority *.example.org "
        + line("", OTHER).strip()
        + "\n"
        + "@revoked * "
        + f"{OTHER.get_name()} {OTHER.get_base64()}\n"
        + line("10.0.0.1", KEY)
        + line(hashed, KEY)
        + line("10.0.0.3", OTHER)
        + "garbage line that is no key\n"
    )
    known = load_known_hosts(path)
    client = paramiko.SSHClient()
    known.install(client)
    keys = client.get_host_keys()
    assert keys.lookup("10.0.0.1") is not None
    assert keys.lookup("[10.0.0.2]:2222") is not None  # a hashed entry
    assert known.is_revoked(OTHER) and not known.is_revoked(KEY)
    assert known.skipped == 2  # the CA line and the garbage


def test_known_hosts_fields_may_be_separated_by_tabs_and_runs_of_blanks(tmp_path: Path) -> None:
    hashed = paramiko.HostKeys.hash_host("10.0.0.5")
    path = tmp_path / "known_hosts"
    path.write_text(
        f"@revoked\t*\t{OTHER.get_name()}\t{OTHER.get_base64()}\n"  # tabs only
        + f"  @revoked\t* {REVOKED.get_name()}   {REVOKED.get_base64()} old key\n"  # mixed
        + f"10.0.0.1\t{KEY.get_name()}\t{KEY.get_base64()}\n"
        + f"10.0.0.4  \t{KEY.get_name()}  {KEY.get_base64()}  comment\n"
        + f"{hashed}\t{KEY.get_name()}\t{KEY.get_base64()}\n"
    )
    known = load_known_hosts(path)
    assert known.is_revoked(OTHER) and known.is_revoked(REVOKED) and not known.is_revoked(KEY)
    assert known.skipped == 0
    client = paramiko.SSHClient()
    known.install(client)
    for host in ("10.0.0.1", "10.0.0.4", "10.0.0.5"):
        assert client.get_host_keys().lookup(host) is not None, host


def test_a_revoked_key_is_refused_before_authentication_even_when_listed(tmp_path: Path) -> None:
    path = tmp_path / "known_hosts"
    path.write_text(
        f"@revoked\t*\t{OTHER.get_name()}\t{OTHER.get_base64()}\n"
        + line("10.0.0.3", OTHER)  # listed as known too: the revocation wins
    )
    known = load_known_hosts(path)
    client = paramiko.SSHClient()
    known.install(client)
    assert client.get_host_keys().lookup("10.0.0.3") is None  # so paramiko asks the policy
    for then in (paramiko.RejectPolicy(), AcceptNew(path)):
        policy = RefuseRevoked(known, then)
        with pytest.raises(RevokedHostKey):
            policy.missing_host_key(client, "10.0.0.3", OTHER)
    assert len(path.read_text().splitlines()) == 2  # accept-new recorded nothing
    # A host that offers a revoked key where another key is known: refused as revoked.
    hop = Hop("hera", "10.0.0.3", 22, "root", ())
    conn = SimpleNamespace(open=lambda: _raise(paramiko.BadHostKeyException("h", OTHER, KEY)))
    with pytest.raises(HostKeyError, match="@revoked"):
        _open("hera", hop, conn, known, "")  # type: ignore[arg-type]
    # An unknown key that is not revoked goes on to the policy asked for (accept-new).
    RefuseRevoked(known, AcceptNew(path)).missing_host_key(client, "10.0.0.9", KEY)
    assert path.read_text().splitlines()[-1] == line("10.0.0.9", KEY).strip()


def _raise(exc: Exception) -> None:
    raise exc


def test_known_hosts_that_is_a_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="is a directory"):
        load_known_hosts(tmp_path)
    assert load_known_hosts(tmp_path / "absent").entries == ()


def test_a_private_key_others_can_read_or_that_is_missing_is_refused(tmp_path: Path) -> None:
    key = tmp_path / "id"
    with pytest.raises(KeyFileError, match="does not exist"):
        check_identity("hera", key)
    key.write_text("x")
    key.chmod(0o644)
    with pytest.raises(KeyFileError, match=r"permissions 0644 .* too open"):
        check_identity("hera", key)
    key.chmod(0o600)
    check_identity("hera", key)


def test_render_writes_final_modes_and_never_through_a_symlink(tmp_path: Path) -> None:
    out = tmp_path / "out"
    target = write_file(out, "/etc/haproxy/haproxy.cfg", "cfg\n", 0o640)
    assert stat.S_IMODE(target.stat().st_mode) == 0o640 and target.read_text() == "cfg\n"
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    target.unlink()
    target.symlink_to(victim)
    write_file(out, "/etc/haproxy/haproxy.cfg", "new\n", 0o640)
    assert victim.read_text() == "precious\n" and not target.is_symlink()
    (out / "etc" / "keepalived").symlink_to(tmp_path)
    with pytest.raises(UsageError, match="symbolic link"):
        write_file(out, "/etc/keepalived/keepalived.conf", "x\n", 0o640)


def test_render_refuses_a_directory_of_another_user(tmp_path: Path, monkeypatch) -> None:
    """Without root no directory can be handed to another user, so lbdeploy runs as another
    user instead (its effective uid is all the check reads): the tree is then someone else's."""
    theirs = tmp_path / "out" / "etc"
    theirs.mkdir(parents=True)
    mine = os.geteuid()
    monkeypatch.setattr(os, "geteuid", lambda: mine + 1)
    with pytest.raises(UsageError, match=rf"out belongs to another user \(uid {mine}\)"):
        write_file(tmp_path / "out", "/etc/x.conf", "x\n", 0o600)
    assert list(theirs.iterdir()) == []
