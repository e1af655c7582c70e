"""``nao_gvae``: NAO with a graph VAE, semi-supervised and iterative under the study's query budget.

Li, Liu, Liu, Wang, "Neural Architecture Optimization with Graph VAE" (arXiv 2006.10310).
The joint model (:class:`lib.latent.dag_gru.JointDAGVAE`: DAG-GRU encoder,
node-by-node decoder, performance and complexity heads on ``mu``) starts from
the space's cached unsupervised warm start (:func:`lib.nao_gvae.train.warm_start`).
Then, per seed:

1. ``init_size`` random pool cells are queried;
2. every round, the model is fine-tuned on the labelled cells (all four loss
   terms, targets min–max scaled over the cells queried so far) plus as many
   random unlabelled pool cells (VAE terms only), the encodings of the
   ``top_k`` best labelled cells (by scaled ``acc − λ·cost``) take ``steps``
   gradient-ascent steps of size ``step_size`` on ``f_perf(z) − λ·f_cmplx(z)``,
   and the moved points are decoded greedily;
3. each decoding is counted as ``invalid`` (no cell of the space), ``known``
   (queried already, or decoded twice this round), ``unmeasured`` (a valid
   cell outside the measured pool, e.g. NB101's 20k pool: *counted and skipped*,
   never snapped to a neighbour) or ``new``; up to ``cells_per_round`` new
   ones are queried.

It never stalls: with fewer new cells than wanted the step is doubled
(``widened``, at most ``max_widen`` times), then ``top_k`` random ``N(0, I)``
starts ascend with ``restart_step`` (the authors' 10; ``restarts``), and a
round with still nothing new queries random unqueried pool cells
(``random_fill``). Every round's counts are kept in :attr:`NaoGVAE.rounds`
and reach the run record through :meth:`NaoGVAE.run_stats`
(``metadata["method_stats"]``).

Ablations (hyper-parameters; :mod:`lib.nao_gvae.backbones`): ``joint=False``
freezes the encoder and decoder and trains only the heads on the frozen ``μ``;
``backbone="arch2vec"`` searches in arch2vec's pretrained GIN VAE (per-node
latents, the heads on their node mean, every node shifted by the mean's
gradient steps, decoded by arch2vec's decoder). Their decodings are counted
exactly as the default's; an invalid one is never queried.

Differences from the authors, on purpose: labels cost queries (semi-supervised,
iterative); targets are scaled over the *queried* cells, not over the table
(the table's accuracies are not seen); see :mod:`lib.nao_gvae.config` for the
warm-start schedule.
"""

from __future__ import annotations

import dataclasses
from collections import Counter

import numpy as np
import torch

from lib.config import ParameterError, check_bool, check_choice, check_float, check_int
from lib.encoding import encode_dense
from lib.errors import BudgetExhaustedError
from lib.latent.dag_gru import JointDAGVAE, latent_ascent
from lib.latent.decode import decode_cells
from lib.nao_gvae.backbones import BACKBONES, Arch2VecBackbone, DVAEBackbone, load_arch2vec
from lib.nao_gvae.config import config_for_space
from lib.nao_gvae.train import model_identity, warm_start
from lib.search import register_method

__all__ = ["NaoGVAE", "ascend", "objective", "pool_tensors", "prepare_model"]

_POOLS: dict[str, tuple[torch.Tensor, torch.Tensor, dict[str, int]]] = {}


def pool_tensors(oracle) -> tuple[torch.Tensor, torch.Tensor, dict[str, int]]:
    """Dense ``(ops, adj)`` of ``oracle.pool()`` and each architecture's key → pool index, memoised per process
    by the pool's content digest (encoding NAS-Bench-Graph's 26,206 cells takes seconds)."""
    digest = oracle.pool_digest()
    if digest not in _POOLS:
        space, pool = oracle.space, oracle.pool()
        ops, adj = encode_dense(space, pool)
        index: dict[str, int] = {}
        for i, cell in enumerate(pool):
            index.setdefault(space.key(cell), i)
        _POOLS[digest] = (ops, adj, index)
    return _POOLS[digest]


def _config(space, schedule: str, pretrain_epochs: int | None, hidden_dim: int | None):
    overrides = {}
    if pretrain_epochs is not None:
        overrides["epochs"] = int(pretrain_epochs)
    if hidden_dim is not None:
        overrides["hidden_dim"] = int(hidden_dim)
    return config_for_space(space, schedule, **overrides)


def prepare_model(benchmark, schedule: str = "cheap", pretrain_epochs: int | None = None,
                  hidden_dim: int | None = None, progress: bool = False, backbone: str = "dvae") -> dict:  # fmt: skip
    """Warm-starts (or loads) the space's model and returns its identity for the run record: the D-VAE warm
    start's, or with ``backbone="arch2vec"`` arch2vec's pretrained model's (the one the search loads)."""
    if backbone == "arch2vec":
        return model_identity(load_arch2vec(benchmark.space, pretrain_epochs))
    return model_identity(warm_start(_config(benchmark.space, schedule, pretrain_epochs, hidden_dim), progress=progress))


def objective(model: JointDAGVAE, z: torch.Tensor, lam: float) -> torch.Tensor:
    """``f_perf(z) − λ·f_cmplx(z)`` per row of ``z``."""
    pred = model.predict(z)
    return pred[:, 0] - lam * pred[:, 1]


def ascend(model: JointDAGVAE, z: torch.Tensor, lam: float, steps: int, step_size: float) -> torch.Tensor:
    """``steps`` gradient-ascent steps of size ``step_size`` on :func:`objective` from ``z`` (the model is not changed)."""
    return latent_ascent(model, z, (1.0, -lam), steps=steps, step_size=step_size)


def _scale(values: np.ndarray) -> np.ndarray:
    """Min–max to [0, 1] over the given values (0.5 when they are all equal)."""
    lo, hi = float(values.min()), float(values.max())
    return np.full(len(values), 0.5) if hi <= lo else (values - lo) / (hi - lo)


@register_method("nao_gvae")
class NaoGVAE:
    """NAO with a graph VAE: gradient steps on ``f_perf − λ·f_cmplx`` in a jointly trained latent space.

    Args:
        lam: λ, the weight of the complexity head (0: single-objective).
        complexity: Cost column the complexity head learns (``params_M``; NB201 also ``flops_M`` and latencies).
        init_size: Random cells queried first (16: ``arch2vec_bo``'s start; enough labels to rank two heads).
        cells_per_round: New cells queried per round (10: the authors' ten starts give at most ten new cells).
        top_k: Labelled cells whose encodings start the ascent (authors: 10).
        steps: Gradient-ascent steps per round (authors: 100).
        step_size: Step size from labelled encodings (authors: 1000).
        restart_step: Step size from random ``N(0, I)`` starts (authors: 10).
        max_widen: Step doublings tried before the random restart.
        finetune_epochs: Fine-tuning passes per round.
        finetune_lr: Fine-tuning learning rate (``None``: the configuration's).
        schedule: Warm start ``"cheap"`` (default) or ``"paper"`` (:mod:`lib.nao_gvae.config`).
        pretrain_epochs: Override of the warm-start epochs. hidden_dim: Override of the model width.
        cmplx_weight: Override of the complexity head's MSE weight in fine-tuning (``0``: the "without the
            complexity head" ablation; the warm start has no labels, so it is unchanged).
        backbone: ``"dvae"`` (the D-VAE-style joint model, default) or ``"arch2vec"`` (arch2vec's cached
            pretrained GIN VAE, per-node latents, the heads on their node mean; ``pretrain_epochs`` then
            overrides arch2vec's pretraining epochs and ``hidden_dim`` the heads' width); see
            :mod:`lib.nao_gvae.backbones`.
        joint: ``True`` (default): the backbone is fine-tuned with the heads every round (reconstruction + KL +
            both MSE terms). ``False``: the "without joint training" ablation — the encoder and decoder stay
            as loaded, only the heads learn on the frozen ``μ``, on the same batches and optimiser steps.
    """

    version = 1

    @classmethod
    def prepare(cls, benchmark, **hp) -> dict:
        """Warm-starts or loads the space's model; its identity enters the run's identity."""
        return prepare_model(benchmark, hp.get("schedule", "cheap"), hp.get("pretrain_epochs"), hp.get("hidden_dim"),
                             backbone=hp.get("backbone", "dvae"))  # fmt: skip

    def __init__(self, lam: float = 0.0, complexity: str = "params_M", init_size: int = 16,
                 cells_per_round: int = 10, top_k: int = 10, steps: int = 100, step_size: float = 1000.0,
                 restart_step: float = 10.0, max_widen: int = 3, finetune_epochs: int = 3,
                 finetune_lr: float | None = None, schedule: str = "cheap", pretrain_epochs: int | None = None,
                 hidden_dim: int | None = None, cmplx_weight: float | None = None, backbone: str = "dvae",
                 joint: bool = True):  # fmt: skip
        self.lam = check_float("lam", lam, min=0.0)
        if not isinstance(complexity, str) or not complexity:
            raise ParameterError(f"complexity must name a cost column of the benchmark (e.g. 'params_M'), got {complexity!r}")
        self.complexity = complexity
        self.init_size = check_int("init_size", init_size, min=2)
        self.cells_per_round = check_int("cells_per_round", cells_per_round, min=1)
        self.top_k = check_int("top_k", top_k, min=1)
        self.steps = check_int("steps", steps, min=0)
        self.step_size = check_float("step_size", step_size, min=0.0)
        self.restart_step = check_float("restart_step", restart_step, min=0.0)
        self.max_widen = check_int("max_widen", max_widen, min=0)
        self.finetune_epochs = check_int("finetune_epochs", finetune_epochs, min=0)
        self.finetune_lr = None if finetune_lr is None else check_float("finetune_lr", finetune_lr, min=0.0)
        if schedule not in ("cheap", "paper"):
            raise ParameterError(f"schedule must be 'cheap' or 'paper', got {schedule!r}")
        self.schedule, self.pretrain_epochs, self.hidden_dim = schedule, pretrain_epochs, hidden_dim
        self.cmplx_weight = None if cmplx_weight is None else check_float("cmplx_weight", cmplx_weight, min=0.0)
        self.backbone = check_choice("backbone", backbone, BACKBONES)
        self.joint = check_bool("joint", joint)
        self.rounds: list[dict] = []
        self.latent_model = None

    def run_stats(self) -> dict:
        """What the run record keeps (``metadata["method_stats"]``): per round the invalid / known /
        unmeasured / new decodings, widened steps, restarts, random fill and cells queried, and their totals."""
        keys = ("invalid", "known", "unmeasured", "new", "widened", "restarts", "random_fill", "queried")
        return {"totals": {k: int(sum(r[k] for r in self.rounds)) for k in keys}, "rounds": list(self.rounds)}

    @staticmethod
    def classify(cells, index: dict[str, int], queried: np.ndarray, space, counts: Counter, taken: list[int]) -> None:
        """Tallies decoded cells and appends the pool index of each new, measured, unqueried one to ``taken``."""
        for cell in cells:
            if cell is None:
                counts["invalid"] += 1
                continue
            i = index.get(space.key(cell))
            if i is None:
                counts["unmeasured"] += 1
            elif queried[i] or i in taken:
                counts["known"] += 1
            else:
                counts["new"] += 1
                taken.append(i)

    def search(self, oracle, rng: np.random.Generator) -> None:
        space = oracle.space
        config = _config(space, self.schedule, self.pretrain_epochs, self.hidden_dim)
        if self.backbone == "dvae":
            warm = warm_start(config)
            config = warm.config
        if self.cmplx_weight is not None:
            config = dataclasses.replace(config, cmplx_weight=self.cmplx_weight)
        if self.backbone == "dvae":
            model = DVAEBackbone(warm, config, self.joint)
        else:
            model = Arch2VecBackbone(load_arch2vec(space, self.pretrain_epochs), config, self.joint, space.max_nodes)
        self.latent_model = model  # the backbone as trained by this search (read by tests and notebook 03)
        pool = oracle.pool()
        ops, adj, index = pool_tensors(oracle)
        state = {"queried": np.zeros(len(pool), dtype=bool), "chosen": [], "acc": [], "cost": []}

        def evaluate(i: int) -> None:
            result = oracle.query(pool[i])
            if self.complexity not in result:
                raise ParameterError(f"complexity {self.complexity!r} is not a cost column of {oracle.benchmark_name}; "
                                     f"choose one of {sorted(k for k in result if k != 'val_acc')}")  # fmt: skip
            state["queried"][i] = True
            state["chosen"].append(i)
            state["acc"].append(float(result["val_acc"]))
            state["cost"].append(float(result[self.complexity]))

        try:
            for i in rng.permutation(len(pool))[: min(self.init_size, oracle.remaining)]:
                evaluate(int(i))
            while oracle.remaining > 0 and not state["queried"].all():
                self._round(oracle, rng, model, config, ops, adj, index, state, evaluate)
        except BudgetExhaustedError:
            return

    def _round(self, oracle, rng, model, config, ops, adj, index, state, evaluate) -> None:
        space, queried, chosen = oracle.space, state["queried"], state["chosen"]
        targets = np.stack([_scale(np.asarray(state["acc"])), _scale(np.asarray(state["cost"]))], axis=1)
        model.tune(ops, adj, np.asarray(chosen), targets, epochs=self.finetune_epochs,
                   seed=int(rng.integers(2**31)), lr=self.finetune_lr)  # fmt: skip
        want = self.cells_per_round  # not capped by the remaining budget: the first b queries never depend on it (anytime)
        score = targets[:, 0] - self.lam * targets[:, 1]
        starts = np.asarray(chosen)[np.argsort(-score, kind="stable")[: self.top_k]]
        z0 = model.starts(ops[starts], adj[starts])
        counts: Counter = Counter()
        taken: list[int] = []
        step, widened, restarts = self.step_size, 0, 0
        while True:
            z = model.ascend(z0, self.lam, self.steps, step)
            labels, edges = model.generate(z)
            self.classify(decode_cells(space, labels, edges), index, queried, space, counts, taken)
            if len(taken) >= want:
                break
            if widened < self.max_widen:
                widened += 1
                step *= 2.0
            elif restarts < 1:
                restarts += 1
                z0 = model.random_starts(rng, self.top_k)
                step = self.restart_step
            else:
                break
        fill = 0
        if not taken:  # nothing new decoded: random unqueried cells keep the search going
            free = np.flatnonzero(~queried)
            taken = [int(i) for i in rng.choice(free, size=min(want, len(free)), replace=False)]
            fill = len(taken)
        record = {"round": len(self.rounds) + 1, "labelled": len(chosen),
                  **{k: counts[k] for k in ("invalid", "known", "unmeasured", "new")},
                  "widened": widened, "restarts": restarts, "random_fill": 0, "queried": 0}  # fmt: skip
        self.rounds.append(record)
        for i in taken[:want]:
            if oracle.remaining <= 0:  # the budget ends inside this round: it queried fewer than it chose
                break
            evaluate(i)
            record["queried"] += 1
        if fill:
            record["random_fill"] = record["queried"]
