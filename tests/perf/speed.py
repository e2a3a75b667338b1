"""How fast this machine is running Python right now, to compare benchmark runs.

Machines of this project's kind differ by up to three times from one spell to another
(the same lifecycle run took 36 s of the cluster's CPU on one and 84 s on another), so
each benchmark prints this beside its figures: a run's ratios are comparable across
runs, its absolute times only between runs of a similar speed.
"""

import time

LOOP = 3_000_000


def python_loop_ms() -> float:
    """The best of three runs of a pure-Python loop of LOOP additions, in ms (about 150 ms
    on this machine kind's fast spells, 550 ms on its slowest)."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        total = 0
        for number in range(LOOP):
            total += number
        best = min(best, (time.perf_counter() - started) * 1000)
    return best
