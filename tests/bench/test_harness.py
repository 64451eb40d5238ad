"""The benchmarks' timing rules, checked on a simulated clock (no timing in tests): warm-up untimed,
systems alternated, and figures that do not depend on the order the systems are given in."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))
from harness import Timing, alternate, schedule  # noqa: E402


def test_rounds_alternate_and_swap_reverses():
    assert schedule(["a", "b", "c"], 3) == list("abccbaabc")
    assert schedule(["a", "b", "c"], 2, swap=True) == list("cbaabc")
    # Every system is first as often as last over an even number of rounds.
    runs = schedule(["a", "b"], 4)
    firsts = [runs[i] for i in range(0, len(runs), 2)]
    assert firsts.count("a") == firsts.count("b") == 2


class Machine:
    """A simulated clock: each call advances it by the system's cost, a first call by a warm-up cost."""

    def __init__(self, costs: dict[str, float], first: float):
        self.now, self.costs, self.first, self.calls = 0.0, costs, first, []

    def clock(self) -> float:
        return self.now

    def system(self, name: str):
        def call():
            self.now += self.costs[name] + (self.first if name not in self.calls else 0.0)
            self.calls.append(name)
            return name
        return call


@pytest.mark.parametrize("swap", [False, True])
def test_warm_up_is_not_timed_and_order_does_not_matter(swap):
    machine = Machine({"fast": 1.0, "slow": 3.0}, first=100.0)  # a first call costs a build or a page-in
    timings, outputs = alternate({name: machine.system(name) for name in ("fast", "slow")}, rounds=5, warmup=1,
                                 swap=swap, clock=machine.clock)
    assert timings["fast"].times == [1.0] * 5 and timings["slow"].times == [3.0] * 5
    assert machine.calls[:2] == (["slow", "fast"] if swap else ["fast", "slow"])  # the warm-ups, untimed
    assert len(machine.calls) == 12 and outputs == {"fast": "fast", "slow": "slow"}


def test_median_and_spread():
    t = Timing([1.0, 1.0, 2.0, 1.0, 9.0])
    assert t.median == 1.0  # one disturbed round does not move the figure
    assert t.spread == pytest.approx(4.5)  # quartiles 1.0 and 5.5 (statistics.quantiles, exclusive)
    assert Timing([2.0, 4.0]).spread == pytest.approx(2 / 3)
