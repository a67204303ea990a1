"""Progress of a matrix run: cells done of the total, and the time left from recorded times."""

from __future__ import annotations

import pytest

from modelexport.matrix.progress import Progress


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_before_any_cell_the_estimate_is_the_prediction_over_the_workers(clock):
    progress = Progress({"a": 10.0, "b": 20.0, "c": 30.0}, workers=2, clock=clock)
    progress.start()
    assert progress.remaining_seconds() == 30.0
    assert progress.report() is None  # nothing to say until a cell finishes


def test_the_estimate_scales_the_work_left_by_the_pace_so_far_start_up_aside(clock):
    progress = Progress({"a": 10.0, "b": 20.0, "c": 30.0}, workers=2, clock=clock)
    progress.start()
    clock.now += 30.0  # 20 s of start-up, then a's 10 s: the cells began at 120
    progress.finish("a")
    assert progress.cells_began == 120.0
    clock.now += 50.0  # b done at 180: 30 predicted seconds in 60, half the recorded pace
    progress.finish("b")
    assert progress.remaining_seconds() == pytest.approx(60.0)  # c's 30 predicted seconds, x2
    assert (
        progress.line()
        == "matrix: 2/3 cells (66 %), 1.3 min elapsed, about 1.0 min left (from recorded cell times)"
    )


def test_lines_come_every_tenth_of_the_cells_or_half_minute_and_at_the_end(clock):
    progress = Progress({f"c{i}": 1.0 for i in range(100)}, workers=1, clock=clock)
    progress.start()
    shown = []
    for i in range(100):
        clock.now += 0.1
        progress.finish(f"c{i}")
        line = progress.report()
        if line:
            shown.append(int(line.split()[1].split("/")[0]))
    assert shown == [1, 11, 21, 31, 41, 51, 61, 71, 81, 91, 100]
    assert progress.line() == "matrix: 100/100 cells (100 %), 10 s elapsed"
    progress = Progress({"a": 1.0, "b": 1.0, "c": 1.0, "d": 1.0, "e": 1.0} | {f"x{i}": 1 for i in range(95)},
                        workers=1, clock=clock)  # fmt: skip
    progress.start()
    progress.finish("a")
    assert progress.report() is not None
    progress.finish("b")
    assert progress.report() is None
    clock.now += 31.0
    progress.finish("c")
    assert progress.report() is not None


def test_a_cell_counts_once_and_cells_outside_the_run_are_ignored(clock):
    progress = Progress({"a": 1.0, "b": 1.0}, clock=clock)
    progress.finish("a")
    progress.finish("a")
    progress.finish("z")
    assert (len(progress.done), progress.total) == (1, 2)
