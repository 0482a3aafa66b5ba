"""A rotation of every kind of secret shows neither the old value nor the new (issue 21, 2).

The run knows only the new secrets; the old ones are in the live files. So a file that
holds a secret either is secret (fingerprints only: certificates, the webhook URL) or
has every place a daemon keeps a password masked by pattern on both sides of the diff
(VRRP `auth_pass`, HAProxy `stats auth` and `user … insecure-password`).
"""

from __future__ import annotations

import json
from pathlib import Path

from lbdeploy.components import haproxy
from lbdeploy.core.change_scripts import change_script
from lbdeploy.core.desired import Desired, derive
from lbdeploy.core.files import masked_diff
from lbdeploy.core.render import render_node
from lbdeploy.core.report import NodeReport, Report
from lbdeploy.core.steps import Change, Upload
from lbdeploy.inventory import load_inventory
from tests.tlsutil import make_ca, write_pair

DATA = Path(__file__).parent / "data"
LAB = (DATA / "render" / "lab" / "inventory.yaml").read_text()
SECRETS = {
    "old": {"vrrp": "OLDvrrp1", "stats": "OLDstatsPW", "hook": "OLDTOKEN123"},
    "new": {"vrrp": "NEWvrrp2", "stats": "NEWstatsPW", "hook": "NEWTOKEN456"},
}


def _inventory(tmp: Path, which: str) -> Desired:
    s = SECRETS[which]
    text = (
        LAB.replace("auth_pass: lab-vrrp", f"auth_pass: {s['vrrp']}")
        .replace("password: lab-stats}", f"password: {s['stats']}, metrics: true}}")
        .replace(
            "services:\n",
            f"alerts: {{webhook: 'https://hooks.example/T0/{s['hook']}'}}\nservices:\n",
            1,
        )
    )
    text += (
        "  - name: shop\n    port: 443\n    tls:\n"
        f"      - {{cert: certs/{which}.crt, key: certs/{which}.key}}\n"
        "    servers:\n      - {name: web1, address: 172.29.150.21, port: 8080}\n"
    )
    folder = tmp / which
    folder.mkdir()
    write_pair(folder / "certs", which, make_ca(), ["shop.example.org"])
    (folder / "inventory.yaml").write_text(text)
    (folder / "known_hosts").write_text("")
    return derive(load_inventory(folder / "inventory.yaml", {}), folder)


def _key_lines(desired: Desired) -> list[str]:
    return [line.reveal() for b in desired.pair.bundles for line in b.key_lines]


def test_a_rotation_of_every_secret_shows_no_old_or_new_value(tmp_path: Path) -> None:
    old, new = _inventory(tmp_path, "old"), _inventory(tmp_path, "new")
    old_files = render_node(old.pair, old.nodes[0])
    new_files = render_node(new.pair, new.nodes[0])
    shown = []
    for path, file in new_files.items():
        live = old_files.get(path)
        shown.append(file.diff(f"hera:{path}", live.content if live else "", None))
        shown.append(change_script(Change("configs", "x", uploads=(Upload(file),))).shown())
    diffs = {str(i): text for i, text in enumerate(shown)}
    report = Report("up --check", {"hera": NodeReport("hera", diffs=diffs)})
    shown.append(json.dumps(report.to_json()))
    everything = "\n".join(shown)
    values = [v for s in SECRETS.values() for v in s.values()]
    values += _key_lines(old) + _key_lines(new)
    leaked = [v for v in values if v in everything]
    assert leaked == []
    # ... and the diffs still say what changed, without saying what it was.
    assert "hera:/etc/keepalived/keepalived.conf: only a password differs" in everything
    assert "hera:/etc/haproxy/haproxy.cfg: only a password differs" in everything
    assert "hera:/etc/lbdeploy/alerts: secret file, " in everything
    assert "hera:/etc/haproxy/certs/shop-0.pem: secret file, " in everything


def test_an_old_password_in_a_file_lbdeploy_did_not_write_is_masked_too() -> None:
    old = "userlist lbdeploy_stats\n    user admin password $6$salt$HASHED\n"
    new = "userlist lbdeploy_stats\n"
    assert "HASHED" not in masked_diff("x", old, new, (), (haproxy.SECRET_LINES,))


def test_a_rotated_secret_file_keeps_no_old_copy_on_the_node() -> None:
    from lbdeploy.core.files import ManagedFile

    key = ManagedFile("/etc/haproxy/certs/web-0.pem", "NEW KEY\n", 0o600, secret=True)
    conf = ManagedFile("/etc/haproxy/haproxy.cfg", "global\n", 0o640)
    script = change_script(Change("configs", "x", uploads=(Upload(key), Upload(conf)))).text()
    assert "cp -p /etc/haproxy/certs/web-0.pem" not in script
    assert "rm -f /etc/haproxy/certs/web-0.pem.lbdeploy-bak" in script
    assert "cp -p /etc/haproxy/haproxy.cfg /etc/haproxy/haproxy.cfg.lbdeploy-bak" in script
