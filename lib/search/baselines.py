"""Classic NAS baselines under the study's harness.

All four search on validation accuracy through a
:class:`~lib.search.oracle.SearchOracle` and see the measured pool exactly as
the latent methods do: random architectures are drawn uniformly from it, and
moves go through the oracle's :meth:`~lib.search.oracle.SearchOracle.neighbours`
and :meth:`~lib.search.oracle.SearchOracle.mutate`, which keep measured cells
only and fall back to the nearest measured cells by edit distance where no
edit is measured (NB101 measures 20k of its 423k cells; each run records how
often that happened). Every method is *anytime*: its first ``b`` queries do
not depend on the budget, so a run at budget 200 contains the runs at
50/100/150.

* ``random`` — uniform random search without repeats (Li & Talwalkar, 2019).
* ``evolution`` — regularized evolution (Real et al., AAAI 2019) with the
  settings NAS-Bench-201 used for it (Dong & Yang, ICLR 2020, script
  ``scripts-search/algos/R-EA.sh``: population 10, sample size 3).
* ``local_search`` — White, Nolen & Savani, "Exploring the loss landscape in
  NAS" (UAI 2021, a.k.a. "Local search is state of the art for NAS
  benchmarks"), as implemented in NASLib: 10 random cells, then evaluate the
  whole neighbourhood of the best, move to the best neighbour, restart from a
  random cell at a local optimum.
* ``bananas`` — White, Neiswanger & Savani, "BANANAS" (AAAI 2021): an
  ensemble of 5 feed-forward networks (10 layers of width 20, Adam lr 0.01,
  200 epochs, mean-absolute-error loss) on the path encoding, independent
  Thompson sampling over 100 candidates made by mutating the 2 best cells,
  10 initial random cells, refit after every batch of 10 queries
  (NASLib's defaults for ``k``, ``num_arches_to_mutate``, ``num_candidates``);
  the ensemble is :class:`lib.latent.predictors.MLPEnsemble`.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

from lib.cell import Cell
from lib.encoding import adjacency_encoding, encode_dense
from lib.search.oracle import SearchOracle
from lib.search.registry import register_method
from lib.threads import torch_threads


def _shuffled_neighbours(oracle: SearchOracle, cell: Cell, rng: np.random.Generator) -> list[Cell]:
    """The cell's measured neighbours (or nearest measured cells) in random order."""
    options = oracle.neighbours(cell)
    return [options[i] for i in rng.permutation(len(options))]


@register_method("random")
class RandomSearch:
    """Uniform random search over the measured architectures, without repeats."""

    anytime = True
    version = 1

    def __init__(self) -> None:
        pass

    def search(self, oracle: SearchOracle, rng: np.random.Generator) -> None:
        while oracle.remaining > 0:
            oracle.query(oracle.sample_new(rng))


@register_method("evolution")
class RegularizedEvolution:
    """Regularized (aging) evolution, Real et al. 2019.

    The population starts as ``population_size`` random architectures. Each
    cycle draws ``sample_size`` members uniformly with replacement (as in
    Algorithm 1 of Real et al. and NAS-Bench-201's ``R_EA.py``), mutates
    the best of them (:meth:`SearchOracle.mutate`: the space's mutation,
    redrawn until the child is measured and new) and replaces the *oldest*
    member with the child.

    Args:
        population_size: P; 10 as in NAS-Bench-201's REA runs.
        sample_size: S; 3 as in NAS-Bench-201's REA runs.
    """

    anytime = True
    version = 2  # 2: moves through the oracle's measured-pool neighbours and mutations

    def __init__(self, population_size: int = 10, sample_size: int = 3):
        if population_size < 1 or not 1 <= sample_size <= population_size:
            raise ValueError(
                f"evolution needs population_size ≥ 1 and 1 ≤ sample_size ≤ population_size, "
                f"got population_size={population_size}, sample_size={sample_size}"
            )
        self.population_size = population_size
        self.sample_size = sample_size

    def search(self, oracle: SearchOracle, rng: np.random.Generator) -> None:
        population: deque[tuple[Cell, float]] = deque()
        while len(population) < self.population_size and oracle.remaining > 0:
            cell = oracle.sample_new(rng)
            population.append((cell, oracle.query(cell)["val_acc"]))
        while oracle.remaining > 0:
            picks = rng.integers(len(population), size=self.sample_size)
            parent = max((population[int(i)] for i in picks), key=lambda member: member[1])[0]
            child = oracle.mutate(parent, rng)
            population.append((child, oracle.query(child)["val_acc"]))
            population.popleft()


@register_method("local_search")
class LocalSearch:
    """Best-improvement local search with random restarts (White et al. 2021; NASLib).

    After ``num_init`` random architectures it evaluates every (measured)
    neighbour of the best one, in random order, and moves to the best
    architecture seen; when a whole neighbourhood brings no improvement it is
    at a local optimum and restarts from a new random architecture.

    Args:
        num_init: Random architectures before the first move (NASLib: 10).
    """

    anytime = True
    version = 2  # 2: moves through the oracle's measured-pool neighbours and mutations

    def __init__(self, num_init: int = 10):
        if num_init < 1:
            raise ValueError(f"local_search needs num_init ≥ 1, got {num_init}")
        self.num_init = num_init

    def search(self, oracle: SearchOracle, rng: np.random.Generator) -> None:
        best: tuple[Cell, float] | None = None
        for _ in range(self.num_init):
            if oracle.remaining <= 0:
                return
            cell = oracle.sample_new(rng)
            acc = oracle.query(cell)["val_acc"]
            if best is None or acc > best[1]:
                best = (cell, acc)
        while oracle.remaining > 0:
            chosen = best
            for option in _shuffled_neighbours(oracle, chosen[0], rng):
                acc = oracle.query(option)["val_acc"]  # free when already queried
                if acc > best[1]:
                    best = (option, acc)
            if best is chosen:  # local optimum: restart
                cell = oracle.sample_new(rng)
                best = (cell, oracle.query(cell)["val_acc"])


# --------------------------------------------------------------------------- BANANAS


def cell_paths(cell: Cell) -> list[tuple[str, ...]]:
    """Operation sequences of every input→output path of a cell (interior nodes only)."""
    adj = cell.adjacency
    out = cell.num_nodes - 1
    paths: list[tuple[str, ...]] = []
    stack: list[tuple[int, tuple[str, ...]]] = [(0, ())]
    while stack:
        node, ops = stack.pop()
        for nxt in np.flatnonzero(adj[node]):
            nxt = int(nxt)
            if nxt == out:
                paths.append(ops)
            else:
                stack.append((nxt, ops + (cell.ops[nxt],)))
    return paths


def path_features(cells: list[Cell], space: Any, vocabulary: dict[tuple[str, ...], int] | None = None):
    """Path encoding (BANANAS): counts of each input→output operation path.

    Paths through a ``none`` operation carry nothing and are dropped. The
    vocabulary is built from ``cells`` unless given (unknown paths are then
    ignored), because the full path vocabulary of some spaces is huge.

    Returns:
        ``(features, vocabulary)``: a ``(len(cells), len(vocabulary))`` float32 array.
    """
    encoded = []
    for cell in cells:
        cell = space.validate(cell)
        encoded.append([p for p in cell_paths(cell) if "none" not in p])
    if vocabulary is None:
        vocabulary = {}
        for paths in encoded:
            for path in paths:
                vocabulary.setdefault(path, len(vocabulary))
    features = np.zeros((len(cells), max(len(vocabulary), 1)), dtype=np.float32)
    for row, paths in enumerate(encoded):
        for path in paths:
            column = vocabulary.get(path)
            if column is not None:
                features[row, column] += 1.0
    return features, vocabulary


@register_method("bananas")
class Bananas:
    """BANANAS-style predictor-based search (White, Neiswanger & Savani, AAAI 2021).

    Args:
        num_init: Random architectures before the first predictor fit (10).
        k: Architectures chosen per predictor fit (10).
        num_ensemble: Networks in the ensemble (5).
        num_layers: Hidden layers of each network (10).
        layer_width: Width of each hidden layer (20).
        epochs: Full-batch Adam epochs per fit (200).
        lr: Adam learning rate (0.01).
        encoding: ``"path"`` (BANANAS) or ``"adjacency"``.
        num_candidates: Candidates scored by the acquisition function (100).
        num_arches_to_mutate: Best architectures whose mutations make the candidates (2).
        max_mutations: Edits per candidate (1).
        acquisition: ``"its"`` (independent Thompson sampling) or ``"mean"``.
    """

    anytime = True
    version = 2  # 2: moves through the oracle's measured-pool neighbours and mutations

    def __init__(
        self,
        num_init: int = 10,
        k: int = 10,
        num_ensemble: int = 5,
        num_layers: int = 10,
        layer_width: int = 20,
        epochs: int = 200,
        lr: float = 0.01,
        encoding: str = "path",
        num_candidates: int = 100,
        num_arches_to_mutate: int = 2,
        max_mutations: int = 1,
        acquisition: str = "its",
    ):
        if encoding not in ("path", "adjacency"):
            raise ValueError(f"bananas: encoding must be 'path' or 'adjacency', got {encoding!r}")
        if acquisition not in ("its", "mean"):
            raise ValueError(f"bananas: acquisition must be 'its' or 'mean', got {acquisition!r}")
        if min(num_init, k, num_ensemble, num_layers, layer_width, epochs, num_candidates,
               num_arches_to_mutate, max_mutations) < 1:  # fmt: skip
            raise ValueError("bananas: every count hyper-parameter must be ≥ 1")
        self.num_init, self.k, self.num_ensemble = num_init, k, num_ensemble
        self.num_layers, self.layer_width, self.epochs, self.lr = num_layers, layer_width, epochs, lr
        self.encoding, self.acquisition = encoding, acquisition
        self.num_candidates, self.num_arches_to_mutate, self.max_mutations = (
            num_candidates, num_arches_to_mutate, max_mutations)  # fmt: skip

    def search(self, oracle: SearchOracle, rng: np.random.Generator) -> None:
        with torch_threads(1):
            for _ in range(self.num_init):
                if oracle.remaining <= 0:
                    return
                oracle.query(oracle.sample_new(rng))
            while oracle.remaining > 0:
                for cell in self._next_batch(oracle, rng):
                    if oracle.remaining <= 0:
                        return
                    oracle.query(cell)

    def _features(self, oracle: SearchOracle, train: list[Cell], candidates: list[Cell]):
        if self.encoding == "adjacency":
            return (adjacency_encoding(*encode_dense(oracle.space, train)),
                    adjacency_encoding(*encode_dense(oracle.space, candidates)))  # fmt: skip
        x_train, vocabulary = path_features(train, oracle.space)
        x_cand, _ = path_features(candidates, oracle.space, vocabulary)
        return x_train, x_cand

    def _candidates(self, oracle: SearchOracle, rng: np.random.Generator) -> list[Cell]:
        ranked = sorted(oracle.history, key=lambda item: -item[1]["val_acc"])
        parents = [cell for cell, _ in ranked[: self.num_arches_to_mutate]]
        per_parent = max(1, self.num_candidates // len(parents))
        found: dict[str, Cell] = {}
        for parent in parents:
            for _ in range(per_parent):
                child = parent
                for _ in range(self.max_mutations):
                    child = oracle.mutate(child, rng)  # measured and unqueried
                found.setdefault(oracle.key(child), child)
        tries = 0
        while len(found) < min(self.num_candidates, self.k) and tries < 10 * self.num_candidates:
            tries += 1
            cell = oracle.sample_new(rng)
            found.setdefault(oracle.key(cell), cell)
        return list(found.values())

    def _next_batch(self, oracle: SearchOracle, rng: np.random.Generator) -> list[Cell]:
        from lib.latent.acquisition import thompson_sample  # torch and scipy load only when BANANAS runs
        from lib.latent.predictors import MLPEnsemble

        candidates = self._candidates(oracle, rng)
        train = [cell for cell, _ in oracle.history]
        y = np.array([result["val_acc"] for _, result in oracle.history], dtype=np.float32)
        x_train, x_cand = self._features(oracle, train, candidates)
        mean, std = float(y.mean()), float(y.std()) or 1.0
        ensemble = MLPEnsemble(self.num_ensemble, self.num_layers, self.layer_width, self.epochs, self.lr,
                               seed=int(rng.integers(2**31 - 1))).fit(x_train, (y - mean) / std)  # fmt: skip
        prediction, variance = ensemble.predict(x_cand)
        score = thompson_sample(prediction, variance, rng) if self.acquisition == "its" else prediction
        order = np.argsort(-score, kind="stable")
        return [candidates[i] for i in order[: self.k]]
