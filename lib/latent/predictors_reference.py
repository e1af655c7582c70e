"""Frozen copies of :class:`~lib.latent.predictors.DNGO` and :class:`~lib.latent.predictors.MLPEnsemble` before the speed work.

The code of both predictors at commit 8c43ae2, unchanged but for the class
names (``ReferenceDNGO``, ``ReferenceMLPEnsemble``; the ensemble's Adam can
also be the per-parameter loop it used before 210c6e8, ``foreach=False``).
They exist for two purposes only: ``tests/test_latent.py`` checks that the
fast predictors give bit-identical parameters and predictions, and
``scripts/bench_search_ab.py`` times the old and the new code path in one
process. Nothing else should use them.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import optimize


def _generator(rng: np.random.Generator | int | None) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


class ReferenceDNGO:
    """Deep networks for global optimisation (Snoek et al., 2015), as in pybnn.

    A tanh MLP is fitted by Adam on mean squared error; its last hidden layer
    (plus a bias) is the basis of a Bayesian linear regression whose prior
    precision ``alpha`` and noise precision ``beta`` maximise the marginal
    likelihood. The network is small enough that plain NumPy (forward,
    backward and Adam written out) is several times faster than autograd.
    Targets are standardised internally; predictions come back in ``y``'s units.

    Args:
        hidden: Units of each hidden layer.
        num_layers: Hidden layers.
        epochs: Training epochs of the network.
        batch_size: Mini-batch size.
        lr: Adam learning rate.
        rng: Generator (or seed) of initialisation and batch order; a
            generator is consumed by each :meth:`fit`.
    """

    def __init__(self, hidden: int = 128, num_layers: int = 1, epochs: int = 100, batch_size: int = 10,
                 lr: float = 1e-2, rng: np.random.Generator | int | None = None):  # fmt: skip
        self.hidden, self.num_layers, self.epochs, self.batch_size, self.lr = hidden, num_layers, epochs, batch_size, lr
        self.rng = _generator(rng)

    def fit(self, x: np.ndarray, y: np.ndarray) -> "ReferenceDNGO":
        """Trains the network and the Bayesian output layer on ``(x, y)``."""
        rng = self.rng
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


class ReferenceMLPEnsemble:
    """BANANAS' predictor: an ensemble of ReLU networks trained full-batch on mean absolute error.

    The members are trained together as one batched network (weights of
    shape ``(members, in, out)``); their losses are summed and Adam's
    statistics are per weight, so each member trains exactly as if alone,
    in a fifth of the time. Initialisation follows ``torch.nn.Linear``.

    Args:
        num_members: Networks in the ensemble (BANANAS: 5).
        num_layers: Hidden layers of each (10).
        layer_width: Width of each hidden layer (20).
        epochs: Full-batch Adam epochs (200).
        lr: Adam learning rate (0.01).
        seed: Seed of the initialisation.
    """

    def __init__(self, num_members: int = 5, num_layers: int = 10, layer_width: int = 20, epochs: int = 200,
                 lr: float = 0.01, seed: int = 0, foreach: bool = True):  # fmt: skip
        self.foreach = foreach  # False: torch's per-parameter Adam loop, the code before 210c6e8
        self.num_members, self.num_layers, self.layer_width = num_members, num_layers, layer_width
        self.epochs, self.lr, self.seed = epochs, lr, seed

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.expand(self.num_members, *x.shape)
        for i in range(0, len(self.params), 2):
            h = torch.baddbmm(self.params[i + 1], h, self.params[i])
            if i + 2 < len(self.params):
                h = torch.relu(h)
        return h.squeeze(-1)

    def fit(self, x: np.ndarray, y: np.ndarray) -> "ReferenceMLPEnsemble":
        """Trains every member on float32 ``(x, y)``."""
        generator = torch.Generator().manual_seed(self.seed)
        members = self.num_members
        widths = [x.shape[1], *[self.layer_width] * self.num_layers, 1]
        self.params = []
        for fan_in, fan_out in zip(widths[:-1], widths[1:]):
            bound = 1.0 / fan_in**0.5
            weight = (torch.rand(members, fan_in, fan_out, generator=generator) * 2 - 1) * bound
            bias = (torch.rand(members, 1, fan_out, generator=generator) * 2 - 1) * bound
            self.params += [weight.requires_grad_(), bias.requires_grad_()]
        xt = torch.from_numpy(np.asarray(x, dtype=np.float32))
        yt = torch.from_numpy(np.asarray(y).astype(np.float32))
        # foreach: the same arithmetic as the per-parameter loop, bit for bit (tests/test_search_trajectories.py)
        optimiser = torch.optim.Adam(self.params, lr=self.lr, foreach=self.foreach)
        for _ in range(self.epochs):
            optimiser.zero_grad()
            loss = (self._forward(xt) - yt).abs().mean(dim=1).sum()
            loss.backward()
            optimiser.step()
        return self

    @torch.no_grad()
    def predict_members(self, x: np.ndarray) -> np.ndarray:
        """``(num_members, len(x))`` predictions, one row per member."""
        return self._forward(torch.from_numpy(np.asarray(x, dtype=np.float32))).numpy()

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance over the members."""
        members = self.predict_members(x)
        return members.mean(axis=0), members.var(axis=0)
