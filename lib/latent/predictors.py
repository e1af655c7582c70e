"""Performance predictors with one interface: ``fit(x, y)`` returns the predictor, ``predict(x)`` gives ``(mean, variance)``.

* :class:`DNGO` — a network with a Bayesian linear output layer (arch2vec's BO);
* :class:`MLPEnsemble` — BANANAS' ensemble of feed-forward networks (variance across members);
* :class:`GaussianProcess` — scikit-learn's exact GP (RBF + white noise);
* :class:`GINPredictor` — GIN encoders trained supervised on dense cells
  (variance across ensemble members).

``x`` is a ``(n, d)`` array for the first three and a pair of dense
``(ops, adj)`` tensors for the GIN; ``mean`` and ``variance`` are ``(n,)``
arrays in the units of ``y``.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import torch
from scipy import optimize
from torch import nn

from lib.latent.encoders import GraphEncoder
from lib.latent.train import fit as fit_model


class Predictor(Protocol):
    """What every predictor offers."""

    def fit(self, x: Any, y: np.ndarray) -> "Predictor": ...

    def predict(self, x: Any) -> tuple[np.ndarray, np.ndarray]: ...


def _generator(rng: np.random.Generator | int | None) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


_WORKSPACE: dict[str, np.ndarray] = {}


def _workspace(name: str, shape: tuple[int, ...]) -> np.ndarray:
    """A float64 scratch array of ``shape`` kept per process under ``name`` (reallocated when the shape changes)."""
    array = _WORKSPACE.get(name)
    if array is None or array.shape != shape:
        array = _WORKSPACE[name] = np.empty(shape)
    return array


class DNGO:
    """Deep networks for global optimisation (Snoek et al., 2015), as in pybnn.

    A tanh MLP is fitted by Adam on mean squared error; its last hidden layer
    (plus a bias) is the basis of a Bayesian linear regression whose prior
    precision ``alpha`` and noise precision ``beta`` maximise the marginal
    likelihood. The network is small enough that plain NumPy (forward,
    backward and Adam written out) is several times faster than autograd;
    with one hidden layer a C kernel (:mod:`lib.latent.dngo_kernel`) does
    the same operations in the same order, about ten times faster again.
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

    native = True
    """Train one-hidden-layer networks with the C kernel (:mod:`lib.latent.dngo_kernel`) where it loads."""

    def __init__(self, hidden: int = 128, num_layers: int = 1, epochs: int = 100, batch_size: int = 10,
                 lr: float = 1e-2, rng: np.random.Generator | int | None = None):  # fmt: skip
        self.hidden, self.num_layers, self.epochs, self.batch_size, self.lr = hidden, num_layers, epochs, batch_size, lr
        self.rng = _generator(rng)

    def fit(self, x: np.ndarray, y: np.ndarray) -> "DNGO":
        """Trains the network and the Bayesian output layer on ``(x, y)``."""
        rng = self.rng
        self.x_mean, self.x_std = x.mean(0), x.std(0) + 1e-8
        self.y_mean, self.y_std = float(y.mean()), float(y.std()) + 1e-8
        xs = (x - self.x_mean) / self.x_std
        ys = (y - self.y_mean) / self.y_std
        shapes = self._shapes(x.shape[1])
        sizes = [int(np.prod(s)) for s in shapes]
        flat = np.concatenate([rng.uniform(-1, 1, n) / np.sqrt(shapes[2 * (k // 2)][0])
                               for k, n in enumerate(sizes)])  # fmt: skip
        cuts = np.cumsum([0] + sizes)
        self._train(flat, xs, ys, rng)
        self.params = [flat[a:b].reshape(s) for a, b, s in zip(cuts[:-1], cuts[1:], shapes)]  # views into flat
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

    def _shapes(self, inputs: int) -> list[tuple[int, ...]]:
        dims = [inputs] + [self.hidden] * self.num_layers + [1]
        return [s for a, b in zip(dims[:-1], dims[1:]) for s in ((a, b), (b,))]

    def _train(self, flat: np.ndarray, xs: np.ndarray, ys: np.ndarray, rng: np.random.Generator) -> None:
        """Adam on ``flat`` in place: by the C kernel for one hidden layer where it loads, else by NumPy; the same bits."""
        plain = all(a.dtype == np.float64 and a.flags.c_contiguous for a in (flat, xs, ys))
        if self.native and self.num_layers == 1 and plain:
            from lib.latent import dngo_kernel

            kernel = dngo_kernel.load()
            if kernel is not None:
                kernel.train(flat, xs, ys, self.hidden, self.epochs, self.batch_size, self.lr, rng)
                return
        self._adam_numpy(flat, xs, ys, rng)

    def _adam_numpy(self, flat: np.ndarray, xs: np.ndarray, ys: np.ndarray, rng: np.random.Generator) -> None:
        """Adam on mini-batches, in place on ``flat`` (the network's parameters, layer by layer).

        pybnn's Adam with preallocated buffers, the two moments stacked so that
        one call updates both: every floating-point operation, and their order,
        is that of ``m ← 0.9m + 0.1g``, ``v ← 0.999v + (0.001g)g``,
        ``flat −= (lr / (1 − 0.9ᵗ)) m / (√(v / (1 − 0.999ᵗ)) + 1e-8)``, so the
        parameters are bit-identical to the plain expressions
        (:class:`~lib.latent.predictors_reference.ReferenceDNGO`, tests/test_latent.py).
        """
        shapes = self._shapes(xs.shape[1])
        cuts = np.cumsum([0] + [int(np.prod(s)) for s in shapes])
        grad = np.empty_like(flat)
        params = [flat[a:b].reshape(s) for a, b, s in zip(cuts[:-1], cuts[1:], shapes)]  # views into flat
        grads = [grad[a:b].reshape(s) for a, b, s in zip(cuts[:-1], cuts[1:], shapes)]  # views into grad
        moments = np.zeros((2, len(flat)))  # rows: first moment m, second moment v
        moment, square = moments
        decay, weight = np.array([[0.9], [0.999]]), np.array([[0.1], [0.001]])
        scratch, denom = np.empty_like(moments), np.empty_like(flat)
        update = scratch[0]
        multiply, add, divide, sqrt, gradients = np.multiply, np.add, np.divide, np.sqrt, self._gradients_into
        step, n, batch, lr = 0, len(xs), self.batch_size, self.lr
        for _ in range(self.epochs):
            order = rng.permutation(n)
            x_epoch, y_epoch = xs[order], ys[order]  # each batch below is a view holding the values of xs[idx]
            for i in range(0, n, batch):
                gradients(grads, params, x_epoch[i : i + batch], y_epoch[i : i + batch])
                step += 1
                multiply(moments, decay, out=moments)
                multiply(grad, weight, out=scratch)
                multiply(scratch[1], grad, out=scratch[1])
                add(moments, scratch, out=moments)
                divide(square, 1 - 0.999**step, out=denom)
                sqrt(denom, out=denom)
                add(denom, 1e-8, out=denom)
                multiply(moment, lr / (1 - 0.9**step), out=update)
                divide(update, denom, out=update)
                np.subtract(flat, update, out=flat)

    @staticmethod
    def _gradients_into(grads: list[np.ndarray], params: list[np.ndarray], x: np.ndarray, y: np.ndarray) -> None:
        """:meth:`_gradients` written into ``grads`` (views of one buffer), the same operations in the same order."""
        matmul, reduce = np.matmul, np.add.reduce
        activations = [x]
        for w, b in zip(params[0:-2:2], params[1:-2:2]):
            h = matmul(activations[-1], w)
            np.add(h, b, out=h)
            activations.append(np.tanh(h, out=h))
        out = matmul(activations[-1], params[-2])
        np.add(out, params[-1], out=out)
        delta = 2 * (out[:, 0] - y)[:, None] / len(y)
        for layer in range(len(params) // 2 - 1, -1, -1):
            matmul(activations[layer].T, delta, out=grads[2 * layer])
            reduce(delta, axis=0, out=grads[2 * layer + 1])
            if layer:
                delta = matmul(delta, params[2 * layer].T)
                a = activations[layer]
                delta *= 1 - a**2

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

    def _basis(self, xs: np.ndarray, reuse: bool = False) -> np.ndarray:
        """``[tanh features of the last hidden layer, 1]`` for standardised inputs, one row per input.

        With ``reuse`` the arrays come from a per-process workspace and the
        result is overwritten by the next such call (see :meth:`predict`).
        """
        layers = list(zip(self.params[0:-2:2], self.params[1:-2:2]))
        shape = (len(xs), layers[-1][0].shape[1] + 1)
        phi = _workspace("phi", shape) if reuse else np.empty(shape)
        h = xs
        for k, (w, b) in enumerate(layers):
            h = np.matmul(h, w, out=_workspace(f"h{k}", (len(xs), w.shape[1]))) if reuse else np.matmul(h, w)
            np.add(h, b, out=h)
            h = np.tanh(h, out=phi[:, :-1] if k == len(layers) - 1 else h)
        phi[:, -1] = 1.0
        return phi

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
        # Pool-sized intermediate arrays are reused from call to call: no fresh pages for each prediction.
        xs = np.subtract(x, self.x_mean, out=_workspace("xs", np.shape(x)))
        phi = self._basis(np.divide(xs, self.x_std, out=xs), reuse=True)
        mean = phi @ self.m
        rotated = np.matmul(phi, self.vecs, out=_workspace("rotated", (len(phi), self.vecs.shape[1])))
        var = 1 / self.beta + np.multiply(rotated, rotated, out=rotated) @ self.inv
        return mean * self.y_std + self.y_mean, var * self.y_std**2


class MLPEnsemble:
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
                 lr: float = 0.01, seed: int = 0):  # fmt: skip
        self.num_members, self.num_layers, self.layer_width = num_members, num_layers, layer_width
        self.epochs, self.lr, self.seed = epochs, lr, seed

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.expand(self.num_members, *x.shape)
        for i in range(0, len(self.params), 2):
            h = torch.baddbmm(self.params[i + 1], h, self.params[i])
            if i + 2 < len(self.params):
                h = torch.relu(h)
        return h.squeeze(-1)

    def fit(self, x: np.ndarray, y: np.ndarray) -> "MLPEnsemble":
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
        # One flat parameter vector; each weight and bias is a leaf sharing its memory, so Adam is 7 calls in all.
        flat = torch.cat([p.detach().reshape(-1) for p in self.params])
        self.params = [part.view(p.shape).requires_grad_()
                       for part, p in zip(flat.detach().split([p.numel() for p in self.params]), self.params)]  # fmt: skip
        xt = torch.from_numpy(np.asarray(x, dtype=np.float32))
        yt = torch.from_numpy(np.asarray(y).astype(np.float32))
        moment, square = torch.zeros_like(flat), torch.zeros_like(flat)
        for step in range(1, self.epochs + 1):
            loss = (self._forward(xt) - yt).abs().mean(dim=1).sum()
            grad = torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, self.params)])
            with torch.no_grad():
                self._adam_step(flat, grad, moment, square, step)
        return self

    def _adam_step(self, flat: torch.Tensor, grad: torch.Tensor, moment: torch.Tensor, square: torch.Tensor,
                   step: int) -> None:  # fmt: skip
        """One step of ``torch.optim.Adam(params, lr, foreach=True)`` on the flat parameter vector.

        On CPU torch's ``_multi_tensor_adam`` (no weight decay, no AMSGrad, not
        capturable) calls these very in-place operations with these scalars once
        per parameter tensor; here each runs once over all of them. Elementwise,
        that is the same arithmetic; what changes is only which elements torch
        computes in its scalar remainder loop rather than its SIMD loop, and the
        two agree bit for bit (tests/test_latent.py checks both, and the whole
        fit against :class:`~lib.latent.predictors_reference.ReferenceMLPEnsemble`).
        """
        beta1, beta2 = 0.9, 0.999
        moment.lerp_(grad, 1 - beta1)
        square.mul_(beta2)
        square.addcmul_(grad, grad, value=1 - beta2)
        correction1, correction2 = 1 - beta1 ** float(step), 1 - beta2 ** float(step)
        denom = square.sqrt()
        denom.div_(correction2**0.5)
        denom.add_(1e-8)
        flat.addcdiv_(moment, denom, value=(self.lr / correction1) * -1)

    @torch.no_grad()
    def predict_members(self, x: np.ndarray) -> np.ndarray:
        """``(num_members, len(x))`` predictions, one row per member."""
        return self._forward(torch.from_numpy(np.asarray(x, dtype=np.float32))).numpy()

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance over the members."""
        members = self.predict_members(x)
        return members.mean(axis=0), members.var(axis=0)


class GaussianProcess:
    """Exact GP regression (scikit-learn): constant × RBF + white noise on standardised inputs and targets.

    Args:
        seed: Seed of the optimiser restarts.
        restarts: Extra starts of the kernel-hyper-parameter optimiser.
    """

    def __init__(self, seed: int = 0, restarts: int = 1):
        self.seed, self.restarts = seed, restarts

    def fit(self, x: np.ndarray, y: np.ndarray) -> "GaussianProcess":
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel
        from sklearn.preprocessing import StandardScaler

        self.scaler = StandardScaler().fit(x)
        scale = self.scaler.scale_
        scale[scale == 0] = 1.0
        kernel = ConstantKernel() * RBF(length_scale=np.sqrt(x.shape[1])) + WhiteKernel(0.1)
        self.gp = GaussianProcessRegressor(kernel, normalize_y=True, random_state=self.seed,
                                           n_restarts_optimizer=self.restarts)  # fmt: skip
        self.gp.fit(self.scaler.transform(x), y)
        return self

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and variance (noise included) in ``y``'s units."""
        mean, std = self.gp.predict(self.scaler.transform(x), return_std=True)
        return mean, std**2


class GINRegressor(nn.Module):
    """A :class:`~lib.latent.encoders.GraphEncoder` whose node-mean posterior mean feeds a linear head."""

    def __init__(self, input_dim: int, hidden_dim: int = 128, latent_dim: int = 16, num_layers: int = 4,
                 layer: str = "gin"):  # fmt: skip
        super().__init__()
        self.encoder = GraphEncoder(input_dim, hidden_dim, latent_dim, num_layers, layer)
        self.head = nn.Linear(latent_dim, 1)

    def embed(self, ops: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        return self.encoder(ops, adj)[0].mean(1)

    def forward(self, ops: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(ops, adj)).squeeze(-1)


def _mse_loss(model: GINRegressor, ops: torch.Tensor, adj: torch.Tensor, y: torch.Tensor):
    return torch.nn.functional.mse_loss(model(ops, adj), y), {}


class GINPredictor:
    """Supervised GIN regressors on dense cells: ``x = (ops, adj)``; the variance is the spread of the members.

    Member ``k`` is trained with seed ``seed + k`` (Adam, batches of
    ``batch_size``, mean squared error on standardised targets).

    Args:
        num_members: Independently seeded regressors (one gives variance 0).
        hidden_dim, latent_dim, num_layers, layer: The encoder (:class:`~lib.latent.encoders.GraphEncoder`).
        epochs: Training epochs of each member.
        lr: Adam learning rate.
        batch_size: Cells per step.
        seed: Seed of the first member.
        device: Where to train (CPU by default, for reproducibility).
    """

    def __init__(self, num_members: int = 5, hidden_dim: int = 128, latent_dim: int = 16, num_layers: int = 4,
                 layer: str = "gin", epochs: int = 200, lr: float = 1e-3, batch_size: int = 32, seed: int = 0,
                 device: str = "cpu"):  # fmt: skip
        self.num_members = num_members
        self.architecture = dict(hidden_dim=hidden_dim, latent_dim=latent_dim, num_layers=num_layers, layer=layer)
        self.epochs, self.lr, self.batch_size, self.seed, self.device = epochs, lr, batch_size, seed, device

    def fit(self, x: tuple[torch.Tensor, torch.Tensor], y: np.ndarray) -> "GINPredictor":
        ops, adj = x
        self.y_mean, self.y_scale = y.mean(), y.std() + 1e-8
        target = torch.as_tensor((y - self.y_mean) / self.y_scale, dtype=torch.float32)
        self.members = [
            fit_model(lambda: GINRegressor(ops.shape[-1], **self.architecture), (ops, adj, target), _mse_loss,
                      epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, seed=self.seed + k,
                      device=self.device)[0]
            for k in range(self.num_members)
        ]  # fmt: skip
        return self

    @torch.no_grad()
    def _batched(self, fn, ops: torch.Tensor, adj: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
        return torch.cat([fn(ops[i : i + batch_size], adj[i : i + batch_size]) for i in range(0, len(ops), batch_size)])

    def embed(self, x: tuple[torch.Tensor, torch.Tensor], member: int = 0) -> np.ndarray:
        """``(n, latent_dim)`` embeddings by one member's encoder."""
        return self._batched(self.members[member].embed, *x).numpy()

    def predict(self, x: tuple[torch.Tensor, torch.Tensor]) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance over the members, in ``y``'s units."""
        members = np.stack([self._batched(m, *x).numpy() for m in self.members]).astype(np.float64)
        members = members * self.y_scale + self.y_mean
        return members.mean(axis=0), members.var(axis=0)
