"""Every inventory mistake names file, line, column and field, in words a sysadmin reads.

Each case is one file under data/inventory_errors/: the inventory, headed by
`# expect:` lines giving the exact messages ({file} stands for its path, {dir} for its
folder, where certificates named by the case are found: data/certs/ is ../certs/).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lbdeploy.errors import InventoryError
from lbdeploy.exitcodes import ExitCode
from lbdeploy.inventory import load_inventory

CASES = sorted((Path(__file__).parent / "data" / "inventory_errors").glob("*.yaml"))


def _expected(path: Path) -> list[str]:
    lines = path.read_text().splitlines()
    return [
        line.removeprefix("# expect: ")
        .replace("{file}", str(path))
        .replace("{dir}", str(path.resolve().parent))
        for line in lines
        if line.startswith("# expect: ")
    ]


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_bad_inventory_is_reported_with_its_place(case: Path) -> None:
    with pytest.raises(InventoryError) as raised:
        load_inventory(case, env={})
    assert [str(p) for p in raised.value.problems] == _expected(case)
    assert raised.value.exit_code == ExitCode.BAD_INPUT


def test_cases_exist() -> None:
    assert len(CASES) >= 20
    assert all(_expected(c) for c in CASES)


def test_unreadable_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(InventoryError, match=r"nope\.yaml:1:1: cannot read: No such file"):
        load_inventory(missing, env={})
