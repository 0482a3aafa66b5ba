"""`status --json` and `events --json` are stable: their fields are the tables of
docs/json.md, checked against JSON built by the very functions the commands print."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

from lbdeploy.cli.display import status_json
from lbdeploy.core.bgp import AnycastStatus, PeerStatus
from lbdeploy.core.health import LoadedCert, NodeStatus
from lbdeploy.ops.events import Event, events_json

DOC = Path(__file__).parent.parent.parent / "docs" / "json.md"
ROW = re.compile(r"^\| `([^`]+)` \|")


def _documented(heading: str) -> set[str]:
    """The field column of the table under `## heading`."""
    section = DOC.read_text().split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return {m.group(1) for line in section.splitlines() if (m := ROW.match(line))}


def _paths(value: object, prefix: str = "") -> set[str]:
    """Every field of a JSON value as the doc names it: `a.b`, `list[].c`, `map.<file>.d`."""
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return _paths(value[0], prefix + "[]")
    if not isinstance(value, dict):
        return set()
    found = set()
    for key, inner in value.items():
        path = f"{prefix}.{key}" if prefix else key
        found.add(path)
        found |= _paths(inner, path)
    return found


def test_status_json_fields_are_the_documented_ones() -> None:
    status = NodeStatus(
        "hera",
        vrrp={"VI_50": "MASTER"},
        holds=("192.0.2.50",),
        haproxy="active",
        keepalived="active",
        haproxy_version="2.6.12",
        servers=(("web", "web1", "UP"),),
        drift=("/etc/haproxy/haproxy.cfg",),
        http={"192.0.2.50:80": "200"},
        tcp={"192.0.2.50:80": True},
        certs={"/etc/haproxy/certs/shop-0.pem": LoadedCert("AB01", "Nov 25 17:00:00 2027 GMT")},
    )
    bgp = AnycastStatus(
        "active",
        "active",
        ("198.51.100.10",),
        False,
        (PeerStatus("192.0.2.1", 4, "Established", 120, 1, "up", ("198.51.100.10/32",)),),
    )
    (node,) = json.loads(json.dumps(status_json([replace(status, anycast=bgp)])))
    assert _status_paths(node) == _documented("`status --json`")


def _status_paths(node: dict[str, object]) -> set[str]:
    """Top-level fields, plus each loaded certificate's as `certs.<file>.FIELD`; the maps
    keyed by instance, VIP or file are not fields."""
    paths = set(node) | _paths(node["anycast"], "anycast")
    certs = node["certs"]
    assert isinstance(certs, dict)
    for fields in certs.values():
        paths |= {f"certs.<file>.{k}" for k in fields}
    return paths


def test_an_unreadable_node_has_every_field_too() -> None:
    (gone,) = json.loads(json.dumps(status_json([NodeStatus("afrodita", error="timed out")])))
    assert set(gone) == {p for p in _documented("`status --json`") if "." not in p}
    assert gone["error"] == "timed out" and gone["haproxy"] == "unknown"


def test_events_json_fields_are_the_documented_ones() -> None:
    event = Event(1_796_389_311.123, "hera", "vrrp", "node=hera instance=VI_50 state=MASTER")
    out = json.loads(json.dumps(events_json([event], ["a note"], ["afrodita: timed out"])))
    assert _paths(out) == _documented("`events --json`")
    assert out["events"][0]["at"] == "2026-12-04T13:01:51.123+00:00"  # the documented form
