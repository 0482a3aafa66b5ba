"""The rendered port-80 frontends answer an ACME token from the runtime API's map, before the
redirect, and stop answering once it is deleted: the real HAProxy on loopback.

The frontends are cut from the golden `acme` config, bound to 127.0.0.1 on a free port;
the runtime API is spoken as components/acme.py speaks it (`add map`, `get map`, `del map`).
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from lbdeploy.components.acme import MAP_CONTENT
from lbdeploy.components.haproxy import ACME_MAP

pytestmark = pytest.mark.daemons

GOLDEN = Path(__file__).parent.parent / "unit/data/render/acme/expected/hera/etc/haproxy"
GOLDEN = GOLDEN / "haproxy.cfg"
TOKEN = "tok_" + "A" * 40
AUTHZ = TOKEN + "." + "B" * 43


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _frontend(name: str, port: int, map_path: Path) -> str:
    text = GOLDEN.read_text()
    block = re.search(rf"^frontend {name}\n(?:    .*\n)+", text, re.MULTILINE)
    assert block, name
    lines = [line for line in block.group(0).splitlines() if not line.startswith("    bind ")]
    lines.insert(1, f"    bind 127.0.0.1:{port}")
    return "\n".join(lines).replace(ACME_MAP, str(map_path)) + "\n"


def api(sock_path: Path, query: str) -> str:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(5)
        sock.connect(str(sock_path))
        sock.sendall(query.encode() + b"\n")
        chunks = []
        while chunk := sock.recv(4096):
            chunks.append(chunk)
    return b"".join(chunks).decode()


def get(port: int, path: str, method: str = "GET") -> tuple[int, str]:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    request.add_header("Host", "www.example.org")
    try:
        with opener.open(request, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""


@pytest.fixture
def haproxy(tmp_path: Path) -> Iterator[tuple[Path, int, int]]:
    assert shutil.which("haproxy"), "haproxy is not installed (bash lab/ensure-docker.sh)"
    map_path = tmp_path / "acme.map"
    map_path.write_text(MAP_CONTENT)
    sock_path = tmp_path / "admin.sock"
    redirect, acme_only = _free_port(), _free_port()
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(
        f"global\n    stats socket {sock_path} mode 600 level admin\n"
        "defaults\n    mode http\n    timeout connect 5s\n    timeout client 5s\n"
        "    timeout server 5s\n\n"
        + _frontend("shop_redirect", redirect, map_path)
        + "\n"
        + _frontend("api_acme", acme_only, map_path)
    )
    proc = subprocess.Popen(["haproxy", "-db", "-f", str(cfg)], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while not sock_path.exists():
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "haproxy did not start"
            time.sleep(0.05)
        yield sock_path, redirect, acme_only
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_token_is_answered_before_the_redirect_and_only_while_in_the_map(
    haproxy: tuple[Path, int, int], tmp_path: Path
) -> None:
    sock_path, redirect, acme_only = haproxy
    map_path = tmp_path / "acme.map"
    path = "/.well-known/acme-challenge/" + TOKEN
    assert get(redirect, path)[0] == 301  # not published yet: redirected like any request
    assert get(acme_only, path)[0] == 404

    assert api(sock_path, f"add map {map_path} {path} {AUTHZ}").strip() == ""
    assert "found=yes" in api(sock_path, f"get map {map_path} {path}")
    assert get(redirect, path) == (200, AUTHZ)
    assert get(acme_only, path) == (200, AUTHZ)
    assert get(redirect, "/.well-known/acme-challenge/other")[0] == 301
    assert get(acme_only, path, method="POST")[0] == 404
    assert get(redirect, "/")[0] == 301

    api(sock_path, f"del map {map_path} {path}")
    assert "found=no" in api(sock_path, f"get map {map_path} {path}")
    assert get(redirect, path)[0] == 301
    assert get(acme_only, path)[0] == 404
    assert map_path.read_text() == MAP_CONTENT  # the runtime API never writes the file
