"""The tree is the architecture: layers import downwards only, and the pure core loads no SSH.

Layers, top to bottom: cli → ops → remote → components, core, inventory → scripts.
`errors`, `exitcodes` and `addresses` are vocabulary every layer may use. Imports inside functions
count too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "lbdeploy"
PURE = ("core", "components", "inventory", "scripts")
# What each layer must never import.
FORBIDDEN = {
    "scripts": ("core", "components", "inventory", "remote", "ops", "cli"),
    "inventory": ("core", "components", "remote", "ops", "cli"),
    "core": ("remote", "ops", "cli"),
    "components": ("remote", "ops", "cli"),
    "remote": ("ops", "cli"),
    "ops": ("cli",),
}
SSH_STACK = ("paramiko", "fabric", "invoke")
DAEMONS = ("haproxy", "keepalived", "frr")


def _layer(module: str) -> str:
    """'lbdeploy.core.plan' → 'core'; top-level modules are their own layer."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _module(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    return ".".join(p for p in rel.parts if p != "__init__")


def _imports(path: Path) -> set[str]:
    """Every lbdeploy module (or package) a file imports, at any depth of its code."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return {m for m in found if m.startswith("lbdeploy.")}


SOURCES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=[_module(p) for p in SOURCES])
def test_each_module_imports_only_layers_below_it(path: Path) -> None:
    layer = _layer(_module(path))
    wrong = sorted(m for m in _imports(path) if _layer(m) in FORBIDDEN.get(layer, ()))
    assert not wrong, f"{_module(path)} ({layer}) imports {wrong}"


# The two modules of core/ that walk the component list; the rest of core/ is what
# components build on, and must not import them.
WALKERS = {"lbdeploy.core.plan", "lbdeploy.core.render"}


def test_only_the_walkers_of_core_import_components() -> None:
    wrong = {
        _module(path): sorted(m for m in _imports(path) if _layer(m) == "components")
        for path in SOURCES
        if _layer(_module(path)) == "core" and _module(path) not in WALKERS
    }
    assert {k: v for k, v in wrong.items() if v} == {}


def test_the_layers_are_where_the_docs_say() -> None:
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert packages == {*PURE, "remote", "ops", "cli"}


def test_the_import_check_catches_a_lazy_import(tmp_path: Path) -> None:
    """A check that cannot fail is a defect: a function-level import of remote/ is caught."""
    bad = tmp_path / "plan.py"
    bad.write_text("def f():\n    from lbdeploy.remote.ssh import Session\n    return Session\n")
    imported = _imports(bad)
    assert "lbdeploy.remote.ssh" in imported
    assert any(_layer(m) in FORBIDDEN["core"] for m in imported)


@pytest.mark.parametrize(
    "module",
    ["lbdeploy.core.plan", "lbdeploy.core.render", "lbdeploy.core.facts", "lbdeploy.components"],
)
def test_the_pure_core_loads_no_ssh_stack(module: str) -> None:
    code = f"import sys, {module}; print(','.join(m for m in {SSH_STACK!r} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "", f"{module} loads {out.stdout.strip()}"


def test_no_module_outside_components_names_a_daemon_in_its_code() -> None:
    """The pipeline walks components; a daemon's name as a string elsewhere is a leak.

    The CLI may name them in help text and table headings, and `events` classifies
    journal lines by the daemon that wrote them.
    """
    allowed = {"cli", "components"}
    leaks = []
    for path in SOURCES:
        if _layer(_module(path)) in allowed or path.name == "events.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in DAEMONS:
                leaks.append(f"{_module(path)}:{node.lineno}: {node.value!r}")
    assert leaks == []


def _daemon_commands(source: str) -> list[str]:
    """Text that names a daemon inside a `cmd(...)` or `sh(...)` call: a remote command."""
    word = re.compile(rf"\b({'|'.join(DAEMONS)})\b")
    found = []
    for node in ast.walk(ast.parse(source)):
        func = node.func if isinstance(node, ast.Call) else None
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        if name not in ("cmd", "sh"):
            continue
        for part in ast.walk(node):
            text = part.value if isinstance(part, ast.Constant) else None
            if isinstance(text, str) and word.search(text):
                found.append(f"{part.lineno}: {text!r}")
    return found


def test_no_command_outside_components_names_a_daemon() -> None:
    """A remote command about a daemon is its component's: failover-test's stop and
    freeze (`Outage`), the exporter's `haproxy -vv` probe (`platform_lines`), reloads,
    status lines. ops/ and core/ ask the component for it."""
    leaks = [
        f"{_module(path)}:{found}"
        for path in SOURCES
        if _layer(_module(path)) != "components"
        for found in _daemon_commands(path.read_text())
    ]
    assert leaks == []


def test_the_command_check_catches_a_daemon_in_a_command() -> None:
    """A check that cannot fail is a defect: both spellings of a command are caught."""
    source = 'a = cmd("systemctl stop haproxy")\nb = shell.sh("pkill", "-x", "keepalived")\n'
    assert len(_daemon_commands(source)) == 2
    assert _daemon_commands('c = cmd("systemctl stop {unit}", unit=UNIT)') == []
