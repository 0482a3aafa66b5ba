"""The bounded wait drain and withdraw share: until every count is zero, or the bound."""

from __future__ import annotations

from lbdeploy.remote.polls import wait_until_idle


def test_waits_until_every_count_is_zero() -> None:
    seen = iter([{"a": 2, "b": 0}, {"a": 1, "b": 1}, {"a": 0, "b": 0}, {"a": 5}])
    assert wait_until_idle(lambda: next(seen), timeout=60, interval=0) == {"a": 0, "b": 0}
    assert next(seen) == {"a": 5}  # not asked again once idle


def test_returns_what_is_left_at_the_bound() -> None:
    calls: list[int] = []

    def count() -> dict[str, int]:
        calls.append(1)
        return {"hera": 3}

    assert wait_until_idle(count, timeout=0, interval=0) == {"hera": 3}
    assert len(calls) == 1
