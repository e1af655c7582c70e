"""The only window a search method has on a benchmark.

:class:`SearchOracle` answers ``query(cell)`` with the validation accuracy and
the cost metrics. It is a boundary, not a convention:

* it holds a private, *sealed* copy of the benchmark whose table has no test
  column at all (the harness reads test accuracies from the original table
  after the search ends), so nothing a method can reach holds one;
* :meth:`pool` is an immutable tuple, so a method cannot reorder or edit the
  measured pool that other runs share;
* a budget is a number of *distinct* architectures, counted by the sealed
  benchmark's own counters; asking again for a known one is free but every
  call is counted, and more than ``max_calls_factor × budget`` calls raise
  :class:`~lib.errors.QueryLimitError` (a method that keeps decoding known
  cells would otherwise loop forever).

Every method gets the same view of the measured pool: :meth:`sample_new`
draws from it, and :meth:`neighbours` / :meth:`mutate` keep only measured
cells. Where none of a cell's edits is measured (NB101 measures 20,001 of its
423,624 cells, so this is common there) they fall back to the nearest
measured cells by edit distance (:func:`lib.encoding.edit_distances`), and
count it: :attr:`fallbacks` goes into every run's metadata.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from lib.benchmark import TEST, VAL, Benchmark
from lib.cell import Cell
from lib.errors import BudgetExhaustedError, InvalidCellError, QueryLimitError
from lib.spaces.base import SearchSpace

Recorder = Callable[[Cell, str, dict[str, Any], float], None]
"""Called once per new architecture with (cell, key, result without test accuracy, seconds since start)."""

MAX_CALLS_FACTOR = 100
"""Calls to :meth:`SearchOracle.query` allowed per unit of budget (repeats included)."""

MUTATION_TRIES = 50
"""Random mutations tried for a measured, new child before :meth:`SearchOracle.mutate` falls back."""


class SearchOracle:
    """Counted, budgeted access to a benchmark's validation accuracy and costs.

    Args:
        benchmark: The benchmark; the oracle queries a sealed :meth:`~Benchmark.fresh`
            copy without the test column, so the caller's counters are untouched.
        budget: Number of distinct architectures the search may query.
        recorder: Optional callback the harness uses to record each new query.
        max_calls_factor: Calls allowed per unit of budget before
            :class:`QueryLimitError`.

    Attributes:
        space: The benchmark's search space (``sample``, ``mutate``, ``neighbours``).
        budget: The query budget.
        history: ``(cell, result)`` of every distinct architecture queried, in order.
        fallbacks: ``{"neighbours": n, "mutate": n}``: how often a move had no
            measured candidate among the cell's edits and fell back to the
            nearest measured cells.
    """

    def __init__(self, benchmark: Benchmark, budget: int, *, recorder: Recorder | None = None,
                 max_calls_factor: int = MAX_CALLS_FACTOR):  # fmt: skip
        if int(budget) < 1:
            raise ValueError(f"the query budget must be a positive number of architectures, got {budget}")
        self._bench = benchmark.fresh(budget=int(budget)).sealed()
        self._recorder = recorder
        self._known: dict[str, dict[str, Any]] = {}
        self._start = time.perf_counter()
        self._max_calls = max(int(max_calls_factor) * int(budget), 1000)
        self._pool: tuple[Cell, ...] | None = None
        self.space = benchmark.space
        self.budget = int(budget)
        self.history: list[tuple[Cell, dict[str, Any]]] = []
        self.fallbacks = {"neighbours": 0, "mutate": 0}
        self._neighbour_lists: dict[tuple, list[tuple[Cell, str, bool]]] = {}

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

    def budget_counters(self) -> dict[str, int]:
        """The sealed benchmark's own counters (what the harness checks the budget against)."""
        return self._bench.budget_counters()

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
            QueryLimitError: More than ``max_calls_factor × budget`` calls.
        """
        if self.num_calls >= self._max_calls:
            raise QueryLimitError(
                f"{self.num_calls} calls to query() on a budget of {self.budget} distinct architectures "
                f"({self.num_queried} queried): the method keeps asking for cells it already knows; "
                "make it propose unqueried cells (oracle.is_queried) or stop when it cannot"
            )
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
        self._known[key] = row
        self.history.append((cell, dict(row)))
        if self._recorder is not None:
            self._recorder(cell, key, dict(row), elapsed)
        return dict(row)

    def is_queried(self, cell: Cell) -> bool:
        """Whether the architecture was already queried (so querying it again is free)."""
        try:
            return self._bench.key(cell) in self._known
        except InvalidCellError:
            return False

    def is_measured(self, cell: Cell) -> bool:
        """Whether the benchmark has a measurement for the cell (reveals no metric)."""
        return cell in self._bench

    def pool(self) -> tuple[Cell, ...]:
        """Every measured architecture, in table order, as an immutable tuple (built once per oracle)."""
        if self._pool is None:
            self._pool = tuple(self._bench.cells())
        return self._pool

    def pool_digest(self) -> str:
        """A digest of :meth:`pool` (which architectures, in which order; no metric), for caches keyed on content."""
        return self._bench.pool_digest()

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

    def neighbours(self, cell: Cell) -> list[Cell]:
        """The measured cells one edit away (:meth:`SearchSpace.neighbours`), or the nearest measured ones.

        When no one-edit neighbour is measured, the measured cells at the
        smallest edit distance (other than the cell itself) stand in, and
        :attr:`fallbacks` counts it.
        """
        options = [c for c, _, measured in self._listed_neighbours(cell) if measured]
        if options:
            return options
        self.fallbacks["neighbours"] += 1
        return self._nearest_measured(cell, unqueried=False)

    def mutate(self, cell: Cell, rng: np.random.Generator) -> Cell:
        """A random mutation of ``cell`` that is measured and not yet queried.

        Tries :meth:`SearchSpace.mutate` up to :data:`MUTATION_TRIES` times;
        then falls back to a random one of the nearest measured, unqueried
        cells by edit distance (counted in :attr:`fallbacks`), or to a random
        unqueried cell of the pool when none is left near it.
        """
        listed = type(self.space).mutate is SearchSpace.mutate  # a uniform draw from space.neighbours
        options = self._listed_neighbours(cell) if listed else []
        for _ in range(MUTATION_TRIES):
            if listed:  # the same draw as SearchSpace.mutate, on the neighbours listed once per cell
                if not options:
                    break
                child, key, measured = options[int(rng.integers(len(options)))]
                if measured and key not in self._known:
                    return child
                continue
            try:
                child = self.space.mutate(cell, rng)
            except InvalidCellError:
                break
            if self.is_measured(child) and not self.is_queried(child):
                return child
        self.fallbacks["mutate"] += 1
        nearest = self._nearest_measured(cell, unqueried=True)
        if not nearest:
            return self.sample_new(rng)
        return nearest[int(rng.integers(len(nearest)))]

    def _listed_neighbours(self, cell: Cell) -> list[tuple[Cell, str, bool]]:
        """``(neighbour, key, measured)`` of every :meth:`SearchSpace.neighbours` entry, listed once per drawing."""
        drawing = (cell.adjacency.tobytes(), cell.ops)
        if drawing not in self._neighbour_lists:
            self._neighbour_lists[drawing] = [(c, self._bench.key(c), c in self._bench)
                                              for c in self.space.neighbours(cell)]  # fmt: skip
        return self._neighbour_lists[drawing]

    def _nearest_measured(self, cell: Cell, *, unqueried: bool) -> list[Cell]:
        from lib.encoding import edit_distances

        pool = self.pool()
        distance = edit_distances(self.space, cell, self._bench.pool_encoding()).astype(float)
        distance[distance == 0] = np.inf  # the cell itself (or an isomorphic drawing of it)
        if unqueried and self._known:
            distance[self._bench.positions(self._known)] = np.inf
        if not np.isfinite(distance).any():
            return []
        return [pool[i] for i in np.flatnonzero(distance == distance.min())]

    def best(self, metric: str = VAL) -> tuple[Cell, dict[str, Any]]:
        """The queried ``(cell, result)`` with the highest ``metric`` (first one on ties).

        Raises:
            ValueError: Nothing has been queried yet, or ``metric`` is the test accuracy.
        """
        if metric == TEST:
            raise ValueError("a search never sees test accuracy; rank by 'val_acc'")
        if not self.history:
            raise ValueError("no architecture has been queried yet")
        return max(self.history, key=lambda item: item[1][metric])

    def __repr__(self) -> str:
        return (
            f"SearchOracle({self._bench.name}/{self._bench.dataset}, "
            f"queried {self.num_queried} of {self.budget})"
        )
