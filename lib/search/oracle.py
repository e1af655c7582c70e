"""The only window a search method has on a benchmark.

:class:`SearchOracle` wraps a private copy of a :class:`~lib.benchmark.Benchmark`
(its own counters and budget) and answers ``query(cell)`` with the validation
accuracy and the cost metrics, never the test accuracy: the harness reads
that from the table for the trajectory. A budget is a number of *distinct*
architectures; asking again for a known one is free.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from lib.benchmark import TEST, VAL, Benchmark
from lib.cell import Cell
from lib.errors import BudgetExhaustedError, InvalidCellError

Recorder = Callable[[Cell, str, dict[str, Any], float], None]
"""Called once per new architecture with (cell, key, full row incl. test_acc, seconds since start)."""


class SearchOracle:
    """Counted, budgeted access to a benchmark's validation accuracy and costs.

    Args:
        benchmark: The benchmark; the oracle queries a :meth:`~Benchmark.fresh`
            copy, so the caller's counters are untouched.
        budget: Number of distinct architectures the search may query.
        recorder: Optional callback the harness uses to record each new query.

    Attributes:
        space: The benchmark's search space (``sample``, ``mutate``, ``neighbours``).
        budget: The query budget.
        history: ``(cell, result)`` of every distinct architecture queried, in order.
    """

    def __init__(self, benchmark: Benchmark, budget: int, *, recorder: Recorder | None = None):
        if int(budget) < 1:
            raise ValueError(f"the query budget must be a positive number of architectures, got {budget}")
        self._bench = benchmark.fresh(budget=int(budget))
        self._recorder = recorder
        self._known: dict[str, dict[str, Any]] = {}
        self._start = time.perf_counter()
        self.space = benchmark.space
        self.budget = int(budget)
        self.history: list[tuple[Cell, dict[str, Any]]] = []

    @property
    def benchmark_name(self) -> str:
        return self._bench.name

    @property
    def dataset(self) -> str:
        return self._bench.dataset

    @property
    def num_queried(self) -> int:
        """Distinct architectures queried so far (what the budget counts)."""
        return len(self._known)

    @property
    def remaining(self) -> int:
        """Distinct architectures that may still be queried."""
        return self.budget - len(self._known)

    @property
    def num_calls(self) -> int:
        """Every call to :meth:`query`, repeats included."""
        return self._bench.budget_counters()["num_queries"]

    def key(self, cell: Cell) -> str:
        """The architecture's identity (raises :class:`InvalidCellError` for a foreign cell)."""
        return self._bench.key(cell)

    def query(self, cell: Cell) -> dict[str, Any]:
        """Validation accuracy and cost metrics of a cell (no test accuracy).

        A cell already queried is answered again at no cost.

        Raises:
            InvalidCellError: The cell is not in the search space.
            NotInBenchmarkError: The cell was never measured (nothing is spent).
            BudgetExhaustedError: A new architecture was asked for with no budget left.
        """
        key = self._bench.key(cell)
        if key in self._known:
            self._bench.query(cell, key)  # counts the call, not the budget
            return dict(self._known[key])
        if self.remaining <= 0:
            raise BudgetExhaustedError(
                f"query budget of {self.budget} distinct architectures is spent on "
                f"{self._bench.name}/{self._bench.dataset}"
            )
        row = self._bench.query(cell, key)
        elapsed = time.perf_counter() - self._start
        result = {k: v for k, v in row.items() if k != TEST}
        self._known[key] = result
        self.history.append((cell, dict(result)))
        if self._recorder is not None:
            self._recorder(cell, key, row, elapsed)
        return dict(result)

    def is_queried(self, cell: Cell) -> bool:
        """Whether the architecture was already queried (so querying it again is free)."""
        try:
            return self._bench.key(cell) in self._known
        except InvalidCellError:
            return False

    def is_measured(self, cell: Cell) -> bool:
        """Whether the benchmark has a measurement for the cell (reveals no metric)."""
        return cell in self._bench

    def pool(self) -> list[Cell]:
        """Every measured architecture (:meth:`Benchmark.cells`; shared, do not modify)."""
        return self._bench.cells()

    def sample(self, rng: np.random.Generator) -> Cell:
        """A measured architecture drawn uniformly (free: it reveals no metric)."""
        return self._bench.sample(rng)

    def sample_new(self, rng: np.random.Generator, *, max_tries: int = 1000) -> Cell:
        """A measured architecture not yet queried, drawn uniformly among those.

        Raises:
            BudgetExhaustedError: Every measured architecture has been queried.
        """
        for _ in range(max_tries):
            cell = self._bench.sample(rng)
            if self._bench.key(cell) not in self._known:
                return cell
        left = [i for i, key in enumerate(self._bench.table.index) if key not in self._known]
        if not left:
            raise BudgetExhaustedError("every measured architecture has been queried")
        return self._bench.cell_at(left[int(rng.integers(len(left)))])

    def best(self, metric: str = VAL) -> tuple[Cell, dict[str, Any]]:
        """The queried ``(cell, result)`` with the highest ``metric`` (first one on ties).

        Raises:
            ValueError: Nothing has been queried yet.
        """
        if not self.history:
            raise ValueError("no architecture has been queried yet")
        return max(self.history, key=lambda item: item[1][metric])

    def __repr__(self) -> str:
        return (
            f"SearchOracle({self._bench.name}/{self._bench.dataset}, "
            f"queried {self.num_queried} of {self.budget})"
        )
