"""A rendered HTTPS config, with its certificates, passes the real `haproxy -c`."""

from __future__ import annotations

from pathlib import Path

import pytest

from lbdeploy.core.render import render_node
from tests.checkers.test_daemons_accept import haproxy_check
from tests.tlsutil import make_ca, write_pair
from tests.unit.test_tls import desired_of, inventory

pytestmark = pytest.mark.daemons


def test_rendered_https_config_with_its_certificates_passes_haproxy_check(tmp_path: Path) -> None:
    ca = make_ca()
    write_pair(tmp_path / "certs", "shop", ca, ["shop.example.org"])
    write_pair(tmp_path / "certs", "api", ca, ["api.example.org", "*.api.example.org"])
    path = inventory(
        tmp_path,
        "      - {cert: certs/shop.crt, key: certs/shop.key}\n"
        "      - {cert: certs/api.crt, key: certs/api.key}",
    )
    desired = desired_of(path)
    files = render_node(desired.pair, desired.nodes[0])
    cfg = files["/etc/haproxy/haproxy.cfg"].content
    for bundle in desired.pair.bundles:
        local = tmp_path / Path(bundle.path).name
        local.write_text(files[bundle.path].content)
        cfg = cfg.replace(bundle.path, str(local))
    (tmp_path / "haproxy.cfg").write_text(cfg)
    result = haproxy_check(tmp_path / "haproxy.cfg")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ssl-min-ver" in cfg and "alpn h2,http/1.1" in cfg
