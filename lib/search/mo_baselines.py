"""Multi-objective baselines under the study's protocol.

* ``random`` (registered in :mod:`lib.search.baselines`) is objective-free:
  its runs are scored with the multi-objective metrics of
  :mod:`lib.search.multiobjective` afterwards and serve as the
  multi-objective random baseline for every choice of objectives.
* ``nsga2`` — NSGA-II (Deb, Pratap, Agarwal & Meyarivan, "A fast and elitist
  multiobjective genetic algorithm: NSGA-II", IEEE TEVC 6(2), 2002), pymoo's
  implementation (:class:`pymoo.algorithms.moo.nsga2.NSGA2`: binary
  tournaments on rank and crowding distance, rank-and-crowding survival of
  parents + offspring) over the discrete space, driven through the
  :class:`~lib.search.oracle.SearchOracle`. Its operators are this project's:
  the initial population is drawn uniformly from the measured pool
  (:meth:`SearchOracle.sample_new`) and each offspring is a mutation of its
  parent (:meth:`SearchOracle.mutate`: the space's mutation, redrawn until the
  child is measured and new, with the nearest-measured fallback counted in
  the run's metadata), exactly as regularised evolution does. There is no
  crossover (each offspring copies one parent chosen by binary tournament): a crossover that is meaningful on every
  space (NB101's graphs, NAS-Bench-Graph's link patterns) does not exist, and
  mutation-only evolution is what the single-objective baselines use too.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from lib.cell import Cell
from lib.search.multiobjective import Constraint, Objectives, ObjectivesError, is_degenerate
from lib.search.oracle import SearchOracle
from lib.search.registry import register_method


class _BudgetSpent(Exception):
    """Raised inside pymoo's evaluation when the next new cell would exceed the budget."""


@register_method("nsga2")
class NSGA2Search:
    """NSGA-II over the measured cells, maximising validation accuracy and minimising costs.

    Args:
        objectives: ``"val_acc,cost[,cost…]"`` in the benchmark's metric names
            (aliases such as ``lat_pixel3`` or ``params`` work) or ``"auto"``
            (validation accuracy and the benchmark's default cost,
            :data:`lib.search.multiobjective.DEFAULT_COSTS`).
        population_size: Survivors per generation; 40 as in NSGA-Net (Lu et al.,
            GECCO 2019; ``--pop_size 40`` in ianwhale/nsga-net,
            ``search/evolution_search.py``).
        num_offspring: Offspring (new queries) per generation; 40 as there
            (``--n_offspring 40``).
        constraint: Optional ``"cost<=bound"``: constrained mode, with pymoo's
            feasibility-first rules (Deb 2000) on the relative violation.
        exclude_degenerate: Treat degenerate cells
            (:data:`lib.search.multiobjective.DEGENERATE_RULES`, a structural
            test that reads no metric) as infeasible, so disconnected NB201
            cells at near-zero latency do not hold a place on the front.

    The run is anytime: the cells are queried in the order pymoo asks for
    them and nothing depends on the budget, which only stops the run.
    """

    anytime = True
    version = 1

    def __init__(self, objectives: str = "auto", population_size: int = 40, num_offspring: int = 40,
                 constraint: str = "", exclude_degenerate: bool = True):  # fmt: skip
        if int(population_size) < 2 or int(num_offspring) < 1:
            raise ValueError(f"nsga2 needs population_size ≥ 2 and num_offspring ≥ 1, got "
                             f"population_size={population_size}, num_offspring={num_offspring}")  # fmt: skip
        self.objectives = Objectives.parse(objectives)  # checks the syntax now, the metrics at the first query
        self.constraint = Constraint.parse(constraint) if str(constraint).strip() else None
        self.population_size, self.num_offspring = int(population_size), int(num_offspring)
        self.exclude_degenerate = bool(exclude_degenerate)

    # ------------------------------------------------------------------ search

    def search(self, oracle: SearchOracle, rng: np.random.Generator) -> None:
        from pymoo.algorithms.moo.nsga2 import NSGA2
        from pymoo.core.duplicate import HashDuplicateElimination
        from pymoo.core.mutation import Mutation
        from pymoo.core.problem import Problem
        from pymoo.core.sampling import Sampling
        from pymoo.core.termination import NoTermination
        from pymoo.core.crossover import Crossover

        search = self
        n_obj = 2 if self.objectives.is_auto else len(self.objectives.names)
        n_constr = int(self.constraint is not None) + int(self.exclude_degenerate)
        resolved: dict[str, Any] = {}

        def resolve(row: dict[str, Any]) -> None:
            metrics = [k for k, v in row.items() if k != "key" and isinstance(v, (int, float))]
            where = f"nsga2 on {oracle.benchmark_name}/{oracle.dataset}: "
            try:
                resolved["objectives"] = search.objectives.validate(metrics)
                if search.constraint is not None:
                    resolved["constraint"] = search.constraint.validate(metrics)
            except ObjectivesError as exc:
                raise ObjectivesError(where + str(exc)) from None

        def evaluate(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            F = np.zeros((len(cells), n_obj))
            G = np.zeros((len(cells), n_constr))
            for i, cell in enumerate(cells):
                if oracle.remaining <= 0 and not oracle.is_queried(cell):
                    raise _BudgetSpent
                row = oracle.query(cell)
                if not resolved:
                    resolve(row)
                objectives = resolved["objectives"]
                values = np.array([np.nan if row.get(name) is None else float(row[name]) for name in objectives.names])
                F[i] = np.nan_to_num(objectives.minimisation(values)[0], nan=1e12)  # unmeasured: worst
                column = 0
                if search.constraint is not None:
                    bound = resolved["constraint"].bound
                    cost = row.get(resolved["constraint"].metric)
                    violation = math.inf if cost is None or not math.isfinite(float(cost)) else float(cost) - bound
                    G[i, column] = min(violation / max(abs(bound), 1e-12), 1e6)
                    column += 1
                if search.exclude_degenerate:
                    G[i, column] = 1.0 if is_degenerate(oracle.space, cell) else -1.0
            return F, G

        class CellProblem(Problem):
            def __init__(self) -> None:
                super().__init__(n_var=1, n_obj=n_obj, n_ieq_constr=n_constr, vtype=object)

            def _evaluate(self, X, out, *args, **kwargs):
                F, G = evaluate(X[:, 0])
                out["F"] = F
                if n_constr:
                    out["G"] = G

        def distinct(draw, batch: set[str]) -> Cell:
            cell = draw()
            for _ in range(20):
                if oracle.key(cell) not in batch:
                    break
                cell = draw()
            batch.add(oracle.key(cell))
            return cell

        class PoolSampling(Sampling):
            def _do(self, problem, n_samples, *args, **kwargs):
                X = np.empty((n_samples, 1), dtype=object)
                batch: set[str] = set()
                for i in range(n_samples):
                    X[i, 0] = distinct(lambda: oracle.sample_new(rng), batch)
                return X

        class OracleMutation(Mutation):
            def _do(self, problem, X, *args, **kwargs):
                out = np.empty_like(X)
                batch: set[str] = set()
                for i in range(len(X)):
                    parent = X[i, 0]
                    out[i, 0] = distinct(lambda: oracle.mutate(parent, rng), batch)
                return out

        class CopyParent(Crossover):
            """One parent, one offspring, no recombination: a new individual holding the parent's cell.

            (pymoo's ``NoCrossover`` hands back the parents themselves, which an
            in-place mutation would then change inside the population.)
            """

            def __init__(self) -> None:
                super().__init__(n_parents=1, n_offsprings=1, prob=0.0)

        def cell_key(item: Any) -> str:  # pymoo applies it to an individual, then to what it returned
            return oracle.key(item.X[0]) if hasattr(item, "X") else item

        algorithm = NSGA2(
            pop_size=self.population_size, n_offsprings=self.num_offspring, sampling=PoolSampling(),
            crossover=CopyParent(), mutation=OracleMutation(),
            eliminate_duplicates=HashDuplicateElimination(func=cell_key),
        )  # fmt: skip
        algorithm.setup(CellProblem(), seed=int(rng.integers(2**31 - 1)), termination=NoTermination(),
                        verbose=False)  # fmt: skip
        try:
            while oracle.remaining > 0:
                before = oracle.num_queried
                algorithm.next()
                if oracle.num_queried == before:  # pymoo produced no new cell (cannot happen with these operators)
                    oracle.query(oracle.sample_new(rng))
        except _BudgetSpent:
            return
