"""The bench's verdicts: ratios of medians from one run, and the floor for reference."""

from __future__ import annotations

from bench.table import Row, verdicts


def test_scale_is_judged_and_the_floor_only_shown() -> None:
    rows = [
        Row("lbdeploy", "noop", 2, [0.5, 0.6, 0.7], connections=1, round_trips=2),
        Row("lbdeploy", "noop", 20, [1.4, 1.5, 1.6]),
        Row("openssh", "floor", 2, [0.2, 0.25, 0.3]),
        Row("openssh", "floor", 20, [1.3, 1.4, 1.5]),
    ]
    by_name = {v.target: v for v in verdicts(rows)}
    scale = by_name["scale: lbdeploy no-op 20 nodes / 2 nodes"]
    assert scale.limit == 1.5 and round(scale.measured, 3) == 2.5 and not scale.met
    floor = by_name["scale floor: OpenSSH + sudo 20 nodes / 2 nodes"]
    assert floor.limit is None and round(floor.measured, 3) == 5.6
    assert floor.line() == "scale floor: OpenSSH + sudo 20 nodes / 2 nodes: 5.600 (for reference)"
    assert by_name["noop: lbdeploy round trips per node"].met


def test_cold_is_judged_whole_and_without_apt_for_reference() -> None:
    rows = [
        Row("lbdeploy", "cold", 2, [10.0, 12.0, 14.0], apt_seconds=8.0),
        Row("ansible", "cold", 2, [22.0, 24.0, 26.0], apt_seconds=9.0),
    ]
    by_name = {v.target: v for v in verdicts(rows)}
    assert round(by_name["cold: lbdeploy / ansible"].measured, 3) == 0.5
    without = by_name["cold without apt (median s - apt s): lbdeploy / ansible"]
    assert without.limit is None and round(without.measured, 3) == round(4 / 15, 3)


def test_a_failed_row_judges_nothing() -> None:
    rows = [
        Row("lbdeploy", "noop", 2, [0.5]),
        Row("lbdeploy", "noop", 20, [9.0], errors=["bench07: refused"]),
    ]
    assert not any(v.target.startswith("scale") for v in verdicts(rows))
