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
* :func:`descend` — the search step on the head's gradient, ours or the public code's sign.

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
from lib.latent.icnn import HEADS, adam_schedule, clamping
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


def _head_loss(noise: float):
    def loss(head, z, y):
        z = z + noise * torch.randn_like(z) if noise > 0 else z
        mse = F.mse_loss(1.0 - head(z), y)
        return mse, {}

    return loss


def fine_tune_head(config: CRLSOConfig, head: nn.Module, z: torch.Tensor, y: torch.Tensor, *, epochs: int = 50,
                   noise: float = 0.05, seed: int = 0) -> nn.Module:  # fmt: skip
    """Trains ``head`` (in place) on queried latents ``z`` and their accuracies ``y``, input noise ``noise``."""
    y = torch.as_tensor(y, dtype=torch.float32)
    with clamping(head), adam_schedule(head, betas=config.adam_betas,
                                       total_steps=_steps(len(z), config.batch_size, epochs)):  # fmt: skip
        fit(head, (z, y), _head_loss(noise), epochs=epochs, batch_size=config.batch_size, lr=config.lr,
            grad_clip=config.grad_clip, seed=seed, device="cpu")  # fmt: skip
    return head


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
    z = z.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(head(z).sum(), z)
    eta = torch.as_tensor(eta, dtype=z.dtype).reshape(-1, 1) if torch.is_tensor(eta) else eta
    return (z - eta * grad if sign == "descent" else z + eta * grad).detach()


@torch.no_grad()
def decode(space, vae: PooledGraphVAE, z: torch.Tensor) -> list:
    """Latent points → cells of ``space`` (``None`` where the decoding is no valid cell)."""
    ops_prob, adj_prob = vae.decode(z)
    return decode_cells(space, node_labels(ops_prob), edge_matrix(adj_prob))  # argmax; dead nodes pruned
