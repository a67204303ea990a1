"""A long matrix run's progress: cells done of the total and the time left, from recorded times.

The estimate is work-based: the predicted seconds of the cells still to run, times how long the
cells have taken per predicted second so far (which absorbs the number of workers and how fast the
machine is today). The cells are taken to have begun when the first one finished less its own
prediction, so the run's start-up does not count as slow cells. Before the first cell finishes
the estimate is the prediction divided by the workers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


def _clock() -> float:
    return time.monotonic()


@dataclass
class Progress:
    """Cells of a run, their predicted seconds, and which have finished."""

    predicted: Mapping[str, float]
    workers: int = 1
    every_seconds: float = 30.0
    every_fraction: float = 0.1
    clock: Callable[[], float] = _clock
    done: dict[str, float] = field(default_factory=dict)
    started: float | None = None
    cells_began: float | None = None
    _last_shown: tuple[float, int] = (float("-inf"), 0)

    def start(self) -> None:
        if self.started is None:
            self.started = self.clock()

    @property
    def total(self) -> int:
        return len(self.predicted)

    def finish(self, cell: str) -> None:
        """Count ``cell`` as done (once; cells outside the run are ignored)."""
        if cell in self.predicted and cell not in self.done:
            self.start()
            now = self.clock()
            if self.cells_began is None:
                self.cells_began = max(self.started or now, now - self.predicted[cell])
            self.done[cell] = now

    def elapsed(self) -> float:
        return 0.0 if self.started is None else self.clock() - self.started

    def remaining_seconds(self) -> float:
        """Predicted wall seconds until every cell is done."""
        left = sum(s for cell, s in self.predicted.items() if cell not in self.done)
        finished = sum(self.predicted[cell] for cell in self.done)
        if finished <= 0 or self.cells_began is None:
            return left / max(1, self.workers)
        return left * max(self.clock() - self.cells_began, 0.0) / finished

    def line(self) -> str:
        """``matrix: 120/504 cells (24 %), 3.5 min elapsed, about 6.1 min left``."""
        done, total = len(self.done), self.total
        percent = 100 * done // max(1, total)
        text = f"matrix: {done}/{total} cells ({percent} %), {_minutes(self.elapsed())} elapsed"
        if done < total:
            text += f", about {_minutes(self.remaining_seconds())} left (from recorded cell times)"
        return text

    def due(self) -> bool:
        """Whether a line is due: every ``every_fraction`` of the cells or ``every_seconds``, and at the end."""
        done = len(self.done)
        if done == 0:
            return False
        shown_at, shown_done = self._last_shown
        step = max(1, int(self.total * self.every_fraction))
        return (
            done == self.total or done - shown_done >= step or self.clock() - shown_at >= self.every_seconds
        )

    def report(self) -> str | None:
        """The line, if one is due, remembering that it was shown."""
        if not self.due():
            return None
        self._last_shown = (self.clock(), len(self.done))
        return self.line()


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"
