"""Every golden config passes the real checkers: `haproxy -c` and `keepalived -t`.

Needs Debian's haproxy and keepalived on this machine (lab/test.sh installs them) and
root: keepalived checks that the VRRP interface exists, so it runs in a throwaway
network namespace holding a veth of that name.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from lbdeploy.components.keepalived import keepalived_test_copy

pytestmark = pytest.mark.daemons

RENDER = Path(__file__).parent.parent / "unit" / "data" / "render"
HAPROXY_FILES = sorted(RENDER.glob("*/expected/*/etc/haproxy/haproxy.cfg"))
KEEPALIVED_FILES = sorted(RENDER.glob("*/expected/*/etc/keepalived/keepalived.conf"))


def _ids(paths: list[Path]) -> list[str]:
    return [f"{p.relative_to(RENDER).parts[0]}-{p.relative_to(RENDER).parts[2]}" for p in paths]


def haproxy_check(path: Path) -> subprocess.CompletedProcess[str]:
    assert shutil.which("haproxy"), (
        "haproxy is not installed (bash lab/ensure-docker.sh installs it)"
    )
    return subprocess.run(
        ["haproxy", "-c", "-f", str(path)], capture_output=True, text=True, timeout=30, check=False
    )


def keepalived_check(content: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    assert shutil.which("keepalived"), "keepalived is not installed"
    interface = re.search(r"^\s*interface\s+(\S+)", content, re.MULTILINE)
    assert interface, "no interface in config"
    conf = tmp_path / "keepalived.conf"
    conf.write_text(content)
    script = (
        f"ip link add {interface.group(1)} type veth peer name lbdtestpeer"
        f" && exec keepalived -t -f {conf}"
    )
    return subprocess.run(
        ["unshare", "--net", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_there_are_files_to_check() -> None:
    assert len(HAPROXY_FILES) >= 7 and len(KEEPALIVED_FILES) >= 7


def with_local_certificates(path: Path, tmp_path: Path) -> Path:
    """The config with each certificate it names read from the golden copy beside it."""
    node_root = path.parents[2]  # expected/<node>/
    text = re.sub(
        r"(?<= crt )/(etc/haproxy/certs/\S+)|(?<=map\()/(etc/haproxy/[^)]+)",
        lambda found: str(node_root / (found.group(1) or found.group(2))),
        path.read_text(),
    )
    local = tmp_path / "haproxy.cfg"
    local.write_text(text)
    return local


@pytest.mark.parametrize("path", HAPROXY_FILES, ids=_ids(HAPROXY_FILES))
def test_haproxy_accepts_rendered_config(path: Path, tmp_path: Path) -> None:
    result = haproxy_check(with_local_certificates(path, tmp_path))
    assert result.returncode == 0, result.stderr
    warnings = [
        line
        for line in result.stderr.splitlines()
        # init-addr none: an unresolvable name disables the server, it does not stop haproxy.
        # The state file: the haproxy.service drop-in writes it before haproxy first starts.
        if "[WARNING]" in line
        and "could not resolve address" not in line
        and "global server state file" not in line
    ]
    assert warnings == [], result.stderr


@pytest.mark.parametrize("path", KEEPALIVED_FILES, ids=_ids(KEEPALIVED_FILES))
def test_keepalived_accepts_rendered_config(path: Path, tmp_path: Path) -> None:
    result = keepalived_check(keepalived_test_copy(path.read_text()), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


SEED_HAPROXY = """\
global
    maxconn 4096
defaults
    mode http
    contimeout 5000
    clitimeout 50000
    srvtimeout 50000
listen webfarm 192.168.1.150:80
    balance roundrobin
    server web1 192.168.1.21:80 check
"""


def test_seed_style_haproxy_config_is_rejected(tmp_path: Path) -> None:
    """The same check that passes our files catches the seed's removed keywords."""
    path = tmp_path / "seed.cfg"
    path.write_text(SEED_HAPROXY)
    result = haproxy_check(path)
    assert result.returncode != 0
    assert "'contimeout' directive is not supported anymore" in result.stderr


def test_keepalived_check_catches_unknown_keyword(tmp_path: Path) -> None:
    content = keepalived_test_copy(KEEPALIVED_FILES[0].read_text()).replace(
        "advert_int", "advert_intervall", 1
    )
    result = keepalived_check(content, tmp_path)
    assert result.returncode != 0
    assert "Unknown keyword 'advert_intervall'" in result.stdout + result.stderr


def test_haproxy_drops_the_peers_section_without_localpeer(tmp_path: Path) -> None:
    """Why `localpeer` is rendered: HAProxy otherwise looks for a peer named after the
    hostname (this machine's is no node's name) and drops the whole section, so no table
    would sync, with a warning and exit status 0."""
    path = RENDER / "sticky" / "expected" / "hera" / "etc" / "haproxy" / "haproxy.cfg"
    dropped = "Removing incomplete section 'peers lbdeploy'"
    assert dropped not in haproxy_check(path).stderr
    without = tmp_path / "haproxy.cfg"
    without.write_text(re.sub(r"^\s*localpeer .*\n", "", path.read_text(), flags=re.MULTILINE))
    result = haproxy_check(without)
    assert result.returncode == 0 and dropped in result.stderr, result.stderr


FAST = RENDER / "fast_failover" / "expected" / "hera" / "etc" / "keepalived" / "keepalived.conf"


@pytest.mark.parametrize(
    ("edit", "complaint"),
    [
        # Why advert_ms renders `version 3`: VRRPv2 counts whole seconds.
        (("    version 3\n", ""), "VRRPv2 advertisement interval 0.100000s must be an integer"),
        # Why advert_ms must be a multiple of 10: VRRPv3 counts centiseconds.
        (("advert_int 0.1\n", "advert_int 0.105\n"), "must be in units of 10ms"),
        # Why advert_ms refuses auth_pass: VRRPv3 has no authentication.
        (
            (
                "    version 3\n",
                "    version 3\n    authentication {\n        auth_type PASS\n"
                "        auth_pass secret\n    }\n",
            ),
            "VRRP version 3 does not support authentication",
        ),
    ],
    ids=["no-version-3", "not-centiseconds", "v3-with-auth"],
)
def test_keepalived_refuses_what_advert_ms_checks_for(
    edit: tuple[str, str], complaint: str, tmp_path: Path
) -> None:
    content = keepalived_test_copy(FAST.read_text())
    assert edit[0] in content
    result = keepalived_check(content.replace(*edit, 1), tmp_path)
    assert result.returncode != 0
    assert complaint in result.stdout + result.stderr
