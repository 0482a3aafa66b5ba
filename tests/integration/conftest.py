"""The Docker lab as pytest fixtures: one lab for the whole run, pristine nodes on demand.

Host keys are collected out of band into the lab's own known_hosts; no test turns
host-key checking off.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lab import lab as labmod

INVENTORY = Path(__file__).resolve().parents[2] / "inventories" / "lab.yaml"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.lab)


@pytest.fixture(scope="session")
def lab() -> Iterator[labmod.Lab]:
    """The running lab; torn down at the end of the run, also after failures.

    One lab per machine (its ports and subnets are fixed): a second test run waits
    (bounded) for the first instead of tearing its containers down under it.
    """
    with labmod.exclusive():
        started = labmod.up()
        try:
            yield started
        finally:
            labmod.down(started)


@pytest.fixture
def pristine_nodes(lab: labmod.Lab) -> labmod.Lab:
    """Both LB nodes replaced by fresh containers: nothing installed, new host keys."""
    labmod.reset_nodes(lab)
    return lab


@pytest.fixture(scope="session")
def lab_inventory(lab: labmod.Lab) -> Path:
    """inventories/lab.yaml, whose relative key and known_hosts paths point into .lab/."""
    assert lab.known_hosts.exists()
    return INVENTORY
