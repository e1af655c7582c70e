"""CR-LSO's joint model: a pooled graph VAE and a predictor head on its latent vector, and how both are trained.

* :class:`JointModel` — :class:`~lib.latent.gvae.PooledGraphVAE` + a head
  (:class:`~lib.latent.icnn.ICNN`, convex, or the plain :class:`~lib.latent.icnn.MLPHead`)
  that maps ``z`` to predicted *error*; predicted accuracy is ``1 − head(z)``.
* :func:`warm_start` — unsupervised training (reconstruction + β·KL) on the
  space's cells, once per configuration, cached by :func:`lib.latent.train.train_cached`.
* :func:`joint_train` — the authors' joint loss, reconstruction + β·KL +
  ``MSE(1 − head(z), ŷ)`` over every pool cell with pseudo-labels ``ŷ``, from the
  warm start (or from scratch with the full schedule); :func:`fine_tune_head` —
  the head alone on queried cells, with input noise (each search round).
* :func:`descend` — the search step on the head's gradient, ours or the public code's sign;
* constrained search (``cost ≤ L``): :func:`build_cost_head` / :func:`fine_tune_cost_head` — a second
  ICNN predicting a cell's standardised cost from ``z``, trained on the queried cells; :func:`project_below`
  — subgradient projections onto its (convex) sublevel set ``{cost head ≤ L}``.

Every training goes through :func:`lib.latent.train.fit`, inside
:func:`~lib.latent.icnn.clamping` (the ICNN's ``W_l ≥ 0`` after every optimiser
step) and :func:`~lib.latent.icnn.adam_schedule` (the authors' Adam betas and cosine rate).
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from lib.crlso.config import CRLSOConfig, WarmStart
from lib.latent.decode import decode_cells, edge_matrix, node_labels
from lib.latent.gvae import PooledGraphVAE, graph_kl, gvae_loss
from lib.latent.icnn import HEADS, ICNN, adam_schedule, clamping
from lib.latent.train import CheckpointCache, Trained, fit, train_cached
from lib.latent.vae import reconstruction_loss

CACHE = CheckpointCache("crlso_warm", version=1)
"""Warm starts, ``cache_dir()/crlso_warm/``."""

WARM_THREADS = 2
"""Torch threads of every warm start, wherever it runs (CPU training is deterministic per thread count)."""

STEP_SIGNS = ("descent", "public")
"""``descent``: ``z ← z − η∇head(z)`` (lower predicted error); ``public``: the authors' code, ``z ← z + η∇head(z)``."""


def build_vae(config: CRLSOConfig) -> PooledGraphVAE:
    """An untrained G-VAE of ``config``."""
    space = config.make_space()
    return PooledGraphVAE(len(space.vocabulary), space.max_nodes, config.hidden_dim, config.latent_dim,
                          config.num_layers)  # fmt: skip


class JointModel(nn.Module):
    """A G-VAE and a head on its graph latent: ``forward`` gives ``(ops_prob, adj_prob, mu, log_sigma, error)``.

    Args:
        vae: The G-VAE.
        head: ``"icnn"`` or ``"mlp"``.
        hidden, layers: The head's width and hidden layers.
    """

    def __init__(self, vae: PooledGraphVAE, head: str = "icnn", hidden: int = 128, layers: int = 4):
        super().__init__()
        if head not in HEADS:
            raise ValueError(f"head must be one of {sorted(HEADS)}, got {head!r}")
        self.vae = vae
        self.head = HEADS[head](vae.latent_dim, hidden, layers)

    def forward(self, ops: torch.Tensor, adj: torch.Tensor):
        mu, log_sigma = self.vae.encode(ops, adj)
        z = mu + torch.randn_like(mu) * log_sigma.exp() if self.training else mu
        ops_prob, adj_prob = self.vae.decode(z)
        return ops_prob, adj_prob, mu, log_sigma, self.head(z)

    def predicted_accuracy(self, z: torch.Tensor) -> torch.Tensor:
        """``1 − head(z)`` (accuracy as a fraction)."""
        return 1.0 - self.head(z)


def joint_loss(model: JointModel, ops, adj, target, beta: float = 0.005, head_weight: float = 1.0):
    """Reconstruction + ``beta``·KL + ``head_weight``·``MSE(1 − head(z), target)``; ``target`` are accuracy fractions."""
    ops_prob, adj_prob, mu, log_sigma, error = model(ops, adj)
    ops_loss, adj_loss = reconstruction_loss(ops_prob, adj_prob, ops, adj)
    kl = graph_kl(mu, log_sigma)
    mse = F.mse_loss(1.0 - error, target)
    loss = ops_loss + adj_loss + beta * kl + head_weight * mse
    return loss, {"ops": ops_loss.item(), "adj": adj_loss.item(), "kl": kl.item(), "mse": mse.item()}


def _steps(n: int, batch_size: int, epochs: int) -> int:
    return epochs * max(1, math.ceil(n / batch_size))


def train_vae(config: CRLSOConfig, ops: torch.Tensor, adj: torch.Tensor, *, device=None, progress: bool = False):
    """Unsupervised G-VAE training (``config.warm_epochs``), the authors' Adam settings; returns ``(vae, history)``."""
    torch.manual_seed(config.seed)
    vae = build_vae(config)
    with adam_schedule(vae, betas=config.adam_betas, total_steps=_steps(len(ops), config.batch_size,
                                                                        config.warm_epochs)):  # fmt: skip
        return fit(vae, (ops, adj), lambda m, o, a: gvae_loss(m, o, a, config.beta), epochs=config.warm_epochs,
                   batch_size=config.batch_size, lr=config.lr, grad_clip=config.grad_clip, seed=config.seed,
                   device=device, progress=progress, desc="CR-LSO warm start")  # fmt: skip


def space_tensors(config: CRLSOConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """The space's pretraining cells (:meth:`SearchSpace.pretraining_tensors`) as dense ``(ops, adj)``."""
    return config.make_space().pretraining_tensors(num_cells=config.num_cells, seed=config.seed)


def warm_start(config: CRLSOConfig, *, data=None, use_cache: bool = True, progress: bool = False,
               device="cpu") -> Trained:  # fmt: skip
    """The cached unsupervised warm start of ``config`` (trained on first use; untrained when ``warm_epochs`` is 0).

    Args:
        config: The configuration (only :meth:`CRLSOConfig.warm_identity`'s fields matter).
        data: ``(ops, adj)`` to train on instead of the space's cells (their digest enters the cache key).
        use_cache: Load / save the checkpoint.
        progress: Progress bars.
        device: Where to train (CPU by default, for reproducibility).
    """
    return train_cached(CACHE, WarmStart(config), name=config.space, build=lambda: build_vae(config),
                        train=lambda o, a, device: train_vae(config, o, a, device=device, progress=progress),
                        load_data=lambda: space_tensors(config), data=data, device=device, use_cache=use_cache,
                        threads=WARM_THREADS)  # fmt: skip


def joint_train(config: CRLSOConfig, vae: PooledGraphVAE, ops, adj, target, *, head: str = "icnn", seed: int = 0,
                epochs: int | None = None, head_weight: float = 1.0, progress: bool = False) -> tuple[JointModel, list[dict]]:  # fmt: skip
    """Joint semi-supervised training of a copy of ``vae`` and a fresh head (seeded by ``seed``).

    Args:
        config: Settings (β, optimiser, head size, ``joint_epochs``).
        vae: The starting G-VAE (the warm start; copied, never modified).
        ops, adj: Dense cells (every pool cell).
        target: Their accuracy labels (fractions): true ones where queried, pseudo-labels elsewhere.
        head: ``"icnn"`` or ``"mlp"``.
        seed: Seed of the head's initialisation, the batches and the VAE's sampling.
        epochs: Overrides ``config.joint_epochs``.
        head_weight: Weight of the head's term (0: the same schedule without the convexity term, the ablation).
    """
    epochs = config.joint_epochs if epochs is None else int(epochs)
    torch.manual_seed(seed)
    model = JointModel(copy.deepcopy(vae), head, config.head_hidden, config.head_layers)
    target = torch.as_tensor(target, dtype=torch.float32)
    with clamping(model.head), adam_schedule(model, betas=config.adam_betas,
                                             total_steps=_steps(len(ops), config.batch_size, epochs)):  # fmt: skip
        return fit(model, (ops, adj, target), lambda m, o, a, y: joint_loss(m, o, a, y, config.beta, head_weight), epochs=epochs,
                   batch_size=config.batch_size, lr=config.lr, grad_clip=config.grad_clip, seed=seed,
                   progress=progress, desc="CR-LSO joint", device="cpu")  # fmt: skip


def _head_loss(noise: float, complement: bool = True):
    """MSE of ``1 − head(z)`` (``complement``: the error head against accuracies) or of ``head(z)`` against ``y``."""

    def loss(head, z, y):
        z = z + noise * torch.randn_like(z) if noise > 0 else z
        mse = F.mse_loss(1.0 - head(z) if complement else head(z), y)
        return mse, {}

    return loss


def _fit_head(config: CRLSOConfig, head: nn.Module, z, y, *, epochs: int, noise: float, seed: int, lr: float,
              complement: bool) -> nn.Module:  # fmt: skip
    y = torch.as_tensor(y, dtype=torch.float32)
    with clamping(head), adam_schedule(head, betas=config.adam_betas,
                                       total_steps=_steps(len(z), config.batch_size, epochs)):  # fmt: skip
        fit(head, (z, y), _head_loss(noise, complement), epochs=epochs, batch_size=config.batch_size, lr=lr,
            grad_clip=config.grad_clip, seed=seed, device="cpu")  # fmt: skip
    return head


def fine_tune_head(config: CRLSOConfig, head: nn.Module, z: torch.Tensor, y: torch.Tensor, *, epochs: int = 50,
                   noise: float = 0.05, seed: int = 0) -> nn.Module:  # fmt: skip
    """Trains ``head`` (in place) on queried latents ``z`` and their accuracies ``y``, input noise ``noise``."""
    return _fit_head(config, head, z, y, epochs=epochs, noise=noise, seed=seed, lr=config.lr, complement=True)


def build_cost_head(config: CRLSOConfig, seed: int = 0) -> ICNN:
    """A fresh ICNN cost head of ``config``'s widths, initialised from ``seed`` (the global torch RNG is left as it was)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return ICNN(config.latent_dim, config.head_hidden, config.head_layers)


def fine_tune_cost_head(config: CRLSOConfig, head: nn.Module, z: torch.Tensor, cost, *, epochs: int = 100,
                        lr: float = 1e-3, noise: float = 0.05, seed: int = 0) -> nn.Module:  # fmt: skip
    """Trains the cost head (in place, clamped convex) on queried latents ``z`` and their standardised costs.

    The same loop as :func:`fine_tune_head` (the authors' Adam betas, cosine
    rate, gradient clip, input noise) but regressing ``head(z)`` on ``cost``
    directly and with its own rate: the head starts untrained, so the joint
    model's 1e-4 would leave it near its initialisation.
    """
    return _fit_head(config, head, z, cost, epochs=epochs, noise=noise, seed=seed, lr=lr, complement=False)


def project_below(head: nn.Module, z: torch.Tensor, bound: float, *, margin: float = 0.1,
                  max_steps: int = 20) -> tuple[torch.Tensor, torch.Tensor, int]:  # fmt: skip
    """Moves each row of ``z`` into ``{x : head(x) ≤ bound}`` by subgradient projections (Polyak 1969).

    While ``head(z) > bound``: ``z ← z − (head(z) − (bound − margin)) ∇head(z) / ‖∇head(z)‖²``,
    the exact Euclidean projection of ``z`` onto the half-space
    ``{x : head(z) + ∇head(z)·(x − z) ≤ bound − margin}``. For a convex head
    (:class:`~lib.latent.icnn.ICNN`) that half-space contains the whole
    sublevel set ``{head ≤ bound − margin}`` (a convex function lies above its
    tangents), so a step never overshoots the set, and the iterates reach
    ``{head ≤ bound}`` in finitely many steps whenever ``{head ≤ bound − margin}``
    is not empty. No step size to tune; deterministic. A zero gradient with
    ``head(z) > bound`` means ``z`` minimises the convex head: the set is empty.

    Args:
        head: ``(B, d) → (B,)`` predicted (standardised) cost.
        z: ``(B, d)`` points.
        bound: The level to reach, in the head's units.
        margin: Aim ``margin`` below ``bound`` (> 0 for finite termination).
        max_steps: Projections per row at most.

    Returns:
        ``(z, feasible, steps)``: the moved points, a ``(B,)`` mask of rows with
        ``head(z) ≤ bound``, and the projections taken (summed over rows).
    """
    z = z.detach().clone()
    value, grad = _value_and_grad(head, z)
    steps = 0
    for _ in range(max_steps):
        norm = (grad * grad).sum(-1)
        movable = (value > bound) & (norm > 0)
        if not movable.any():
            break
        scale = torch.where(movable, (value - (bound - margin)) / norm.clamp_min(1e-30), torch.zeros_like(value))
        z = z - scale[:, None] * grad
        steps += int(movable.sum())
        value, grad = _value_and_grad(head, z)
    return z, value <= bound, steps


def _value_and_grad(head: nn.Module, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = z.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        value = head(x)
        (grad,) = torch.autograd.grad(value.sum(), x)
    return value.detach(), grad


def descend(head: nn.Module, z: torch.Tensor, eta: float | torch.Tensor, sign: str = "descent") -> torch.Tensor:
    """One gradient step on the head's predicted error: ``z − η∇head(z)`` (ours) or ``z + η∇head(z)`` (public code).

    The public code minimises ``1 − ICNN(z)`` by gradient descent, which is
    ``z + η∇ICNN(z)``: a step towards *higher* predicted error.

    Args:
        head: ``(B, d) → (B,)`` predicted error.
        z: ``(B, d)`` starting points.
        eta: Step size (a number or ``(B,)``).
        sign: ``"descent"`` or ``"public"``.
    """
    if sign not in STEP_SIGNS:
        raise ValueError(f"step_sign must be one of {STEP_SIGNS}, got {sign!r}")
    _, grad = _value_and_grad(head, z)
    z = z.detach()
    eta = torch.as_tensor(eta, dtype=z.dtype).reshape(-1, 1) if torch.is_tensor(eta) else eta
    return (z - eta * grad if sign == "descent" else z + eta * grad).detach()


@torch.no_grad()
def decode(space, vae: PooledGraphVAE, z: torch.Tensor) -> list:
    """Latent points → cells of ``space`` (``None`` where the decoding is no valid cell)."""
    ops_prob, adj_prob = vae.decode(z)
    return decode_cells(space, node_labels(ops_prob), edge_matrix(adj_prob))  # argmax; dead nodes pruned
