"""Search on frozen arch2vec embeddings: DNGO with expected improvement, and REINFORCE.

Both methods see every measured cell of the benchmark through its embedding
(the mean over nodes of the posterior means) and query cells through the
harness's :class:`~lib.search.SearchOracle`, so every evaluation is counted.
The space's model is pretrained on first use and cached (see
:func:`lib.arch2vec.train.pretrain`).

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
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import optimize, special, stats
from torch import nn

from lib.arch2vec.train import config_for_space, embed_tensors, model_identity, pretrain, state_digest
from lib.encoding import encode_dense
from lib.errors import BudgetExhaustedError
from lib.search import register_method

_EMBEDDINGS: dict[tuple, np.ndarray] = {}

FIXED_TARGET = {"nb101": 0.95}
"""The authors' EI target per space (accuracy fraction); 1.0 where not listed."""
RL_BASELINE = {"nb101": 0.95, "nb201": 0.4}
"""The authors' constant REINFORCE baseline per space (accuracy fraction)."""


def _config(space, pretrain_epochs: int | None):
    return config_for_space(space, **({} if pretrain_epochs is None else {"epochs": int(pretrain_epochs)}))


def prepare_model(benchmark, pretrain_epochs: int | None = None, progress: bool = False) -> dict:
    """Pretrains (or loads) the space's model and returns its identity for the run record."""
    return model_identity(pretrain(_config(benchmark.space, pretrain_epochs), progress=progress))


def pool_embeddings(oracle, *, epochs: int | None = None, progress: bool = False) -> np.ndarray:
    """Embeddings of every cell of ``oracle.pool()``, in pool order (memoised per process).

    The memo is keyed on the model's digest and the pool's content digest, so
    two pools that share a name, a dataset and a length never share embeddings.

    Args:
        oracle: The search oracle.
        epochs: Optional override of the pretraining epochs (``None``: the paper's).
        progress: Show the pretraining progress bar if the model is not cached yet.
    """
    pre = pretrain(_config(oracle.space, epochs), progress=progress)
    key = (state_digest(pre.model), oracle.pool_digest())
    if key not in _EMBEDDINGS:
        ops, adj = encode_dense(oracle.space, oracle.pool())
        _EMBEDDINGS[key] = embed_tensors(pre.model, ops, adj)
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


class DNGO:
    """Deep networks for global optimisation (Snoek et al., 2015), as in pybnn.

    A tanh MLP is fitted by Adam on mean squared error; its last hidden layer
    (plus a bias) is the basis of a Bayesian linear regression whose prior
    precision ``alpha`` and noise precision ``beta`` maximise the marginal
    likelihood. The network is small enough that plain NumPy (forward,
    backward and Adam written out) is several times faster than autograd.

    Args:
        hidden: Units of each hidden layer.
        num_layers: Hidden layers.
        epochs: Training epochs of the network.
        batch_size: Mini-batch size.
        lr: Adam learning rate.
    """

    def __init__(self, hidden: int = 128, num_layers: int = 1, epochs: int = 100, batch_size: int = 10, lr: float = 1e-2):
        self.hidden, self.num_layers, self.epochs, self.batch_size, self.lr = hidden, num_layers, epochs, batch_size, lr

    def fit(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> "DNGO":
        """Trains the network and the Bayesian output layer on ``(x, y)``."""
        self.x_mean, self.x_std = x.mean(0), x.std(0) + 1e-8
        self.y_mean, self.y_std = float(y.mean()), float(y.std()) + 1e-8
        xs = (x - self.x_mean) / self.x_std
        ys = (y - self.y_mean) / self.y_std
        dims = [x.shape[1]] + [self.hidden] * self.num_layers + [1]
        shapes = [s for a, b in zip(dims[:-1], dims[1:]) for s in ((a, b), (b,))]
        sizes = [int(np.prod(s)) for s in shapes]
        flat = np.concatenate([rng.uniform(-1, 1, n) / np.sqrt(shapes[2 * (k // 2)][0])
                               for k, n in enumerate(sizes)])  # fmt: skip
        cuts = np.cumsum([0] + sizes)
        params = [flat[a:b].reshape(s) for a, b, s in zip(cuts[:-1], cuts[1:], shapes)]  # views into flat
        grad = np.empty_like(flat)
        moment, square = np.zeros_like(flat), np.zeros_like(flat)
        step, n = 0, len(xs)
        for _ in range(self.epochs):
            order = rng.permutation(n)
            for i in range(0, n, self.batch_size):
                idx = order[i : i + self.batch_size]
                for g, a, b in zip(self._gradients(params, xs[idx], ys[idx]), cuts[:-1], cuts[1:]):
                    grad[a:b] = g.ravel()
                step += 1
                moment *= 0.9
                moment += 0.1 * grad
                square *= 0.999
                square += 0.001 * grad * grad
                flat -= (self.lr / (1 - 0.9**step)) * moment / (np.sqrt(square / (1 - 0.999**step)) + 1e-8)
        self.params = params
        phi = self._basis(xs)
        # Every evaluation of the marginal likelihood reuses one eigendecomposition of ΦᵀΦ.
        lam, vecs = np.linalg.eigh(phi.T @ phi)
        lam = np.maximum(lam, 0.0)
        proj = vecs.T @ (phi.T @ ys)
        stats_ = (len(ys), float(ys @ ys), lam, proj)
        res = optimize.minimize(self._neg_log_marginal, np.log([1.0, 1000.0]), args=stats_, jac=True,
                                method="L-BFGS-B", bounds=[(-10, 10), (-10, 15)])  # fmt: skip
        alpha, beta = np.exp(res.x)
        inv = 1.0 / (beta * lam + alpha)
        self.vecs, self.inv = vecs, inv
        self.m = beta * vecs @ (inv * proj)
        self.beta = beta
        return self

    @staticmethod
    def _gradients(params: list[np.ndarray], x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
        activations = [x]
        for w, b in zip(params[0:-2:2], params[1:-2:2]):
            activations.append(np.tanh(activations[-1] @ w + b))
        out = activations[-1] @ params[-2] + params[-1]
        delta = 2 * (out[:, 0] - y)[:, None] / len(y)
        grads = []
        for layer in range(len(params) // 2 - 1, -1, -1):
            w = params[2 * layer]
            grads = [activations[layer].T @ delta, delta.sum(0)] + grads
            if layer:
                delta = (delta @ w.T) * (1 - activations[layer] ** 2)
        return grads

    def _basis(self, xs: np.ndarray) -> np.ndarray:
        h = xs
        for w, b in zip(self.params[0:-2:2], self.params[1:-2:2]):
            h = np.tanh(h @ w + b)
        return np.hstack([h, np.ones((len(h), 1))])

    @staticmethod
    def _neg_log_marginal(log_params: np.ndarray, n: int, yy: float, lam: np.ndarray, proj: np.ndarray):
        """Negative log marginal likelihood of ``(log α, log β)`` and its gradient.

        With ``ΦᵀΦ = V diag(λ) Vᵀ`` and ``c = VᵀΦᵀy``, the posterior precision
        ``A = βΦᵀΦ + αI`` has eigenvalues ``μ = βλ + α``, so every term is a
        sum over ``d`` numbers. The gradient follows from the envelope theorem
        (``m`` maximises the fit term): ``∂/∂α = d/2α − ‖m‖²/2 − Σ1/2μ`` and
        ``∂/∂β = n/2β − ‖y − Φm‖²/2 − Σλ/2μ``.
        """
        alpha, beta = np.exp(log_params)
        d = len(lam)
        mu = beta * lam + alpha
        c2 = proj * proj
        m_norm = beta**2 * np.sum(c2 / mu**2)
        residual = max(yy - 2 * beta * np.sum(c2 / mu) + beta**2 * np.sum(lam * c2 / mu**2), 0.0)
        value = (d / 2 * np.log(alpha) + n / 2 * np.log(beta) - beta / 2 * residual - alpha / 2 * m_norm
                 - np.sum(np.log(mu)) / 2 - n / 2 * np.log(2 * np.pi))  # fmt: skip
        grad_alpha = d / (2 * alpha) - m_norm / 2 - np.sum(1 / mu) / 2
        grad_beta = n / (2 * beta) - residual / 2 - np.sum(lam / mu) / 2
        return -float(value), -np.array([alpha * grad_alpha, beta * grad_beta])

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Predictive mean and variance in the units of ``y``."""
        phi = self._basis((x - self.x_mean) / self.x_std)
        mean = phi @ self.m
        rotated = phi @ self.vecs
        var = 1 / self.beta + (rotated * rotated) @ self.inv
        return mean * self.y_std + self.y_mean, var * self.y_std**2


def expected_improvement(mean: np.ndarray, scale: np.ndarray, target: float) -> np.ndarray:
    """``EI = s (φ(u) + u Φ(u))`` with ``u = (mean - target) / s``, for maximisation."""
    scale = np.maximum(scale, 1e-12)
    u = (mean - target) / scale
    return scale * (stats.norm.pdf(u) + u * stats.norm.cdf(u))


def _log1mexp(x: np.ndarray) -> np.ndarray:
    """``log(1 − exp(x))`` for ``x < 0``, accurate on both sides of ``−log 2`` (Mächler, 2012)."""
    x = np.minimum(x, -1e-300)
    with np.errstate(divide="ignore"):  # np.where evaluates both branches; each is used only where it is exact
        return np.where(x > -np.log(2.0), np.log(-np.expm1(x)), np.log1p(-np.exp(x)))


def log_h(u: np.ndarray) -> np.ndarray:
    """``log(φ(u) + u Φ(u))``, the log of expected improvement at unit scale, accurate for every ``u``.

    BoTorch's ``_log_ei_helper`` (Ament et al., "Unexpected improvements to
    expected improvement", NeurIPS 2023): for ``u > −1`` directly; below,
    ``log φ(u) + log(1 − |u| Φ(u)/φ(u))`` with ``Φ(u)/φ(u) = √(π/2) erfcx(−u/√2)``,
    and the asymptote ``log φ(u) − 2 log|u|`` once ``|u|`` passes ``1/√ε``.
    It is strictly increasing in ``u``.
    """
    u = np.asarray(u, dtype=np.float64)
    upper = np.maximum(u, -1.0)
    lower = np.minimum(u, -1.0)
    log_upper = np.log(stats.norm.pdf(upper) + upper * special.ndtr(upper))
    w = np.log(-lower * special.erfcx(-lower / np.sqrt(2.0))) + 0.5 * np.log(np.pi / 2.0)
    tail = np.where(lower > -1.0 / np.sqrt(np.finfo(float).eps), _log1mexp(w), -2.0 * np.log(-lower))
    log_lower = stats.norm.logpdf(lower) + tail
    return np.where(u > -1.0, log_upper, log_lower)


def log_expected_improvement(mean: np.ndarray, scale: np.ndarray, target: float) -> np.ndarray:
    """``log EI``, finite where EI underflows to 0 (far below the target), so candidates stay ranked.

    ``log EI = log s + log h(u)`` with ``u = (mean − target)/s`` (see :func:`log_h`).
    """
    scale = np.maximum(scale, 1e-12)
    return np.log(scale) + log_h((mean - target) / scale)


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
    """

    version = 2  # 2: units judged from the data, exact log-EI, model identity in the run record

    @classmethod
    def prepare(cls, benchmark, **hyperparameters) -> dict:
        """Pretrains or loads the space's model; its identity enters the run's identity."""
        return prepare_model(benchmark, hyperparameters.get("pretrain_epochs"))

    def __init__(self, init_size: int = 16, batch_size: int | None = None, ei: str = "fixed",
                 target: float | None = None, ei_scale: str | None = None, hidden: int = 128,
                 num_layers: int = 1, epochs: int = 100, lr: float = 1e-2,
                 pretrain_epochs: int | None = None):  # fmt: skip
        if ei not in ("fixed", "incumbent"):
            raise ValueError(f"ei must be 'fixed' or 'incumbent', got {ei!r}")
        if ei_scale not in (None, "std", "variance"):
            raise ValueError(f"ei_scale must be 'std' or 'variance', got {ei_scale!r}")
        self.init_size, self.batch_size, self.ei, self.target = init_size, batch_size, ei, target
        self.ei_scale = ei_scale or ("variance" if ei == "fixed" else "std")
        self.dngo = dict(hidden=hidden, num_layers=num_layers, epochs=epochs, lr=lr)
        self.pretrain_epochs = pretrain_epochs

    def search(self, oracle, rng: np.random.Generator) -> None:
        features = pool_embeddings(oracle, epochs=self.pretrain_epochs)
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
            model = DNGO(**self.dngo).fit(features[chosen].astype(np.float64), accs, rng)
            mean, var = model.predict(features.astype(np.float64))
            scale = var if self.ei_scale == "variance" else np.sqrt(var)
            best = target if self.ei == "fixed" else max(accs)
            score = log_expected_improvement(mean, scale, best)
            score[visited] = -np.inf
            for i in np.argsort(-score, kind="stable")[: min(batch, oracle.remaining)]:
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
    """

    version = 2  # 2: units judged from the data, exact log-EI, model identity in the run record

    @classmethod
    def prepare(cls, benchmark, **hyperparameters) -> dict:
        """Pretrains or loads the space's model; its identity enters the run's identity."""
        return prepare_model(benchmark, hyperparameters.get("pretrain_epochs"))

    def __init__(self, episode: int = 16, hidden: int = 128, lr: float = 1e-2, baseline: float | None = None,
                 pretrain_epochs: int | None = None):  # fmt: skip
        self.episode, self.hidden, self.lr, self.baseline = episode, hidden, lr, baseline
        self.pretrain_epochs = pretrain_epochs

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
        features = pool_embeddings(oracle, epochs=self.pretrain_epochs)
        feats = torch.as_tensor(features, dtype=torch.float32)
        pool = oracle.pool()
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
                distance = torch.linalg.vector_norm(feats - action, dim=1).numpy()
                distance[visited] = np.inf
                i = int(np.argmin(distance))
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
