"""Search on frozen arch2vec embeddings: DNGO with expected improvement, and REINFORCE.

Both methods see every measured cell of the benchmark through its embedding
(the mean over nodes of the posterior means) and query cells through the
harness's :class:`~lib.search.SearchOracle`, so every evaluation is counted.
The space's model is pretrained on first use and cached (see
:func:`lib.arch2vec.train.pretrain`); ``pretrain_seed`` picks another
pretraining seed's model (:func:`lib.arch2vec.train.pretrain_replicate`), so
results can be averaged over pretrained models too.

Differences from the authors' scripts, on purpose:

* the budget is a number of distinct queried cells, not simulated training time;
* REINFORCE evaluates the nearest *unqueried* cell to the proposed vector (the
  authors' loop starts at the second-nearest);
* DNGO standardises its targets internally (the authors ran pybnn with
  ``normalize_output=False``); predictions are mapped back before EI.

Expected improvement comes in the authors' form (``ei="fixed"``: improvement
over a fixed target, 0.95 on NB101 and 1.0 elsewhere, in accuracy fractions,
with pybnn's predictive *variance* in the place of the standard deviation,
``ei_scale="variance"``) and in the textbook form (``ei="incumbent"``,
``ei_scale="std"``: improvement over the best accuracy measured so far).
Candidates are ranked by log-EI: with the variance as scale and a target far
above every prediction, plain EI underflows to 0 for the whole pool and the
choice would silently fall back to pool order.

The predictor (:class:`~lib.latent.predictors.DNGO`), the acquisition
(:func:`~lib.latent.acquisition.log_expected_improvement`) and the nearest
unqueried cell (:class:`~lib.latent.decode.PoolSnapper`) come from :mod:`lib.latent`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from lib.arch2vec.train import (config_for_space, embed_tensors, model_identity, pretrain_replicate,
                                replicate_group, state_digest)
from lib.encoding import encode_dense
from lib.errors import BudgetExhaustedError
from lib.latent.acquisition import log_expected_improvement, top_indices
from lib.latent.decode import PoolSnapper
from lib.latent.predictors import DNGO
from lib.search import register_method

_EMBEDDINGS: dict[tuple, np.ndarray] = {}
_ENCODED: dict[tuple, tuple] = {}  # dense pool encodings: they do not depend on the model

FIXED_TARGET = {"nb101": 0.95}
"""The authors' EI target per space (accuracy fraction); 1.0 where not listed."""
RL_BASELINE = {"nb101": 0.95, "nb201": 0.4}
"""The authors' constant REINFORCE baseline per space (accuracy fraction)."""


def _config(space, pretrain_epochs: int | None):
    return config_for_space(space, **({} if pretrain_epochs is None else {"epochs": int(pretrain_epochs)}))


def prepare_model(benchmark, pretrain_epochs: int | None = None, progress: bool = False, *,
                  pretrain_seed: int = 0) -> dict:  # fmt: skip
    """Pretrains (or loads) the model of ``pretrain_seed`` and returns its identity for the run record.

    The identity (digest, configuration hash, provenance: trainer and group
    for seeds ≥ 1) is that of exactly the model :func:`pool_embeddings` embeds
    the pool with (:func:`lib.arch2vec.train.pretrain_replicate`).
    """
    return model_identity(pretrain_replicate(_config(benchmark.space, pretrain_epochs), pretrain_seed, progress=progress))


def pool_embeddings(oracle, *, epochs: int | None = None, progress: bool = False, pretrain_seed: int = 0) -> np.ndarray:
    """Embeddings of every cell of ``oracle.pool()``, in pool order (memoised per process).

    The memo is keyed on the model's digest and the pool's content digest, so
    two pools that share a name, a dataset and a length never share embeddings.

    Args:
        oracle: The search oracle.
        epochs: Optional override of the pretraining epochs (``None``: the paper's).
        progress: Show the pretraining progress bar if the model is not cached yet.
        pretrain_seed: Which pretraining replicate (0: the default model; see
            :func:`lib.arch2vec.train.pretrain_replicate`).
    """
    pre = pretrain_replicate(_config(oracle.space, epochs), pretrain_seed, progress=progress)
    pool = oracle.pool_digest()
    key = (state_digest(pre.model), pool)
    if key not in _EMBEDDINGS:
        pool_key = (pool, tuple(oracle.space.vocabulary))
        if pool_key not in _ENCODED:
            _ENCODED[pool_key] = encode_dense(oracle.space, oracle.pool())
        _EMBEDDINGS[key] = embed_tensors(pre.model, *_ENCODED[pool_key])
    return _EMBEDDINGS[key]


def accuracy_unit(values) -> float:
    """100 when accuracies are in percent, 1 when they are fractions: judged from the values seen.

    The authors' constants (EI target, REINFORCE baseline) are accuracy
    fractions. A table registered in percent and the same table in fractions
    must give the same search, so each method divides what it observes by
    this unit, decided once from its first observations: percent if any
    magnitude exceeds 1.5, else fractions.
    """
    return 100.0 if float(np.max(np.abs(np.asarray(values, dtype=float)))) > 1.5 else 1.0


@register_method("arch2vec_bo")
class Arch2VecBO:
    """arch2vec-DNGO: Bayesian optimisation with expected improvement over the embedded pool.

    Args:
        init_size: Random cells queried first (the paper's 16).
        batch_size: Cells queried per iteration, the top by EI; ``None`` is the
            paper's choice (1 on NB201, 5 elsewhere).
        ei: ``"fixed"`` (the authors' fixed target) or ``"incumbent"`` (best so far).
        target: Fixed target as an accuracy fraction; ``None`` is 0.95 on NB101, 1.0 elsewhere.
        ei_scale: ``"variance"`` (the authors' code) or ``"std"`` as the EI scale;
            ``None`` pairs ``"variance"`` with ``ei="fixed"`` and ``"std"`` with ``"incumbent"``.
        hidden: DNGO hidden units. num_layers: DNGO hidden layers.
        epochs: DNGO training epochs. lr: DNGO learning rate.
        pretrain_epochs: Override of the pretraining epochs (``None``: the paper's).
        pretrain_seed: Which pretrained model: 0 (default) the space's cached model, ``s ≥ 1`` the
            replicate of pretraining seed ``s`` (trained in groups, see
            :func:`lib.arch2vec.train.pretrain_replicate`); the run records its identity.
    """

    version = 2  # 2: units judged from the data, exact log-EI, model identity in the run record

    @classmethod
    def prepare(cls, benchmark, **hyperparameters) -> dict:
        """Pretrains or loads the model of ``pretrain_seed``; its identity enters the run's identity."""
        return prepare_model(benchmark, hyperparameters.get("pretrain_epochs"),
                             pretrain_seed=hyperparameters.get("pretrain_seed", 0))  # fmt: skip

    def __init__(self, init_size: int = 16, batch_size: int | None = None, ei: str = "fixed",
                 target: float | None = None, ei_scale: str | None = None, hidden: int = 128,
                 num_layers: int = 1, epochs: int = 100, lr: float = 1e-2,
                 pretrain_epochs: int | None = None, pretrain_seed: int = 0):  # fmt: skip
        replicate_group(pretrain_seed)  # a clear error for a bad seed
        if ei not in ("fixed", "incumbent"):
            raise ValueError(f"ei must be 'fixed' or 'incumbent', got {ei!r}")
        if ei_scale not in (None, "std", "variance"):
            raise ValueError(f"ei_scale must be 'std' or 'variance', got {ei_scale!r}")
        self.init_size, self.batch_size, self.ei, self.target = init_size, batch_size, ei, target
        self.ei_scale = ei_scale or ("variance" if ei == "fixed" else "std")
        self.dngo = dict(hidden=hidden, num_layers=num_layers, epochs=epochs, lr=lr)
        self.pretrain_epochs, self.pretrain_seed = pretrain_epochs, int(pretrain_seed)

    def search(self, oracle, rng: np.random.Generator) -> None:
        features = pool_embeddings(oracle, epochs=self.pretrain_epochs,
                                   pretrain_seed=self.pretrain_seed).astype(np.float64)  # once, not per fit
        pool = oracle.pool()
        name = oracle.space.name
        batch = self.batch_size or (1 if name == "nb201" else 5)
        target = self.target if self.target is not None else FIXED_TARGET.get(name, 1.0)
        visited = np.zeros(len(pool), dtype=bool)
        chosen: list[int] = []
        observed: list[float] = []

        def evaluate(i: int) -> None:
            visited[i] = True
            result = oracle.query(pool[i])
            chosen.append(i)
            observed.append(result["val_acc"])

        for i in rng.permutation(len(pool))[: min(self.init_size, oracle.remaining)]:
            evaluate(int(i))
        unit = accuracy_unit(observed)
        while oracle.remaining > 0 and not visited.all():
            accs = np.asarray(observed) / unit
            model = DNGO(**self.dngo, rng=rng).fit(features[chosen], accs)
            mean, var = model.predict(features)
            scale = var if self.ei_scale == "variance" else np.sqrt(var)
            best = target if self.ei == "fixed" else max(accs)
            score = log_expected_improvement(mean, scale, best)
            score[visited] = -np.inf
            for i in top_indices(score, min(batch, oracle.remaining)):
                if not visited[i]:
                    evaluate(int(i))


class _PolicyLSTM(nn.Module):
    """LSTMCell(d → hidden) + Linear(hidden → d): the mean of a unit-covariance Gaussian over latent vectors."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.lstm = nn.LSTMCell(dim, hidden)
        self.fc = nn.Linear(hidden, dim)
        self.state = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.state = self.lstm(x, self.state)
        return self.fc(self.state[0])


@register_method("arch2vec_rl")
class Arch2VecRL:
    """arch2vec-REINFORCE: a recurrent policy proposes latent vectors; the nearest unqueried cell is evaluated.

    Args:
        episode: Proposals per policy update (the paper's 16).
        hidden: LSTM hidden units.
        lr: Adam learning rate.
        baseline: Constant reward baseline (accuracy fraction); ``None`` is the
            authors' value (0.95 NB101, 0.4 NB201) or, on other spaces, the mean
            reward of the first episode, then held fixed.
        pretrain_epochs: Override of the pretraining epochs (``None``: the paper's).
        pretrain_seed: Which pretrained model, as for ``arch2vec_bo``.
    """

    version = 2  # 2: units judged from the data, exact log-EI, model identity in the run record

    @classmethod
    def prepare(cls, benchmark, **hyperparameters) -> dict:
        """Pretrains or loads the model of ``pretrain_seed``; its identity enters the run's identity."""
        return prepare_model(benchmark, hyperparameters.get("pretrain_epochs"),
                             pretrain_seed=hyperparameters.get("pretrain_seed", 0))  # fmt: skip

    def __init__(self, episode: int = 16, hidden: int = 128, lr: float = 1e-2, baseline: float | None = None,
                 pretrain_epochs: int | None = None, pretrain_seed: int = 0):  # fmt: skip
        replicate_group(pretrain_seed)  # a clear error for a bad seed
        self.episode, self.hidden, self.lr, self.baseline = episode, hidden, lr, baseline
        self.pretrain_epochs, self.pretrain_seed = pretrain_epochs, int(pretrain_seed)

    @staticmethod
    def reinforce_step(optimizer, log_probs: list[torch.Tensor], rewards: list[float], baseline: float) -> float:
        """One REINFORCE update: ascends ``Σ (r − b) log π(a)``, so actions rewarded above the baseline get likelier.

        Returns:
            The loss ``−mean((r − b) log π(a))`` before the step.
        """
        advantage = torch.as_tensor(rewards, dtype=torch.float32) - baseline
        loss = -(torch.stack(log_probs) * advantage).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return float(loss)

    def search(self, oracle, rng: np.random.Generator) -> None:
        features = pool_embeddings(oracle, epochs=self.pretrain_epochs, pretrain_seed=self.pretrain_seed)
        feats = torch.as_tensor(features, dtype=torch.float32)
        pool = oracle.pool()
        snapper = PoolSnapper(oracle.space, pool, feats)
        visited = np.zeros(len(pool), dtype=bool)
        policy = _PolicyLSTM(feats.shape[1], self.hidden)
        optimizer = torch.optim.Adam(policy.parameters(), lr=self.lr)
        baseline = self.baseline if self.baseline is not None else RL_BASELINE.get(oracle.space.name)
        state = feats[int(rng.integers(len(pool)))]
        eye = torch.eye(feats.shape[1])
        unit = None
        while oracle.remaining > 0 and not visited.all():
            log_probs, rewards = [], []
            policy.state = None
            for _ in range(min(self.episode, oracle.remaining)):
                dist = torch.distributions.MultivariateNormal(policy(state.unsqueeze(0)), eye)
                action = dist.sample()
                log_probs.append(dist.log_prob(action).mean())
                i = snapper.nearest(action, exclude=visited)
                visited[i] = True
                try:
                    rewards.append(oracle.query(pool[i])["val_acc"])
                except BudgetExhaustedError:
                    return
                state = feats[i]
                if visited.all():
                    break
            if unit is None:
                unit = accuracy_unit(rewards)
            rewards = [r / unit for r in rewards]
            if baseline is None:
                baseline = float(np.mean(rewards))
            self.reinforce_step(optimizer, log_probs, rewards, baseline)
