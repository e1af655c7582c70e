"""Input convex neural networks (Amos et al., ICML 2017) as CR-LSO uses them, and a plain MLP twin.

:class:`ICNN` computes, for ``z ∈ R^d``,

.. math::
    h_1 = \\mathrm{LReLU}(W_0 z + b_0),\\quad
    h_{l+1} = \\mathrm{LReLU}(W_l h_l) + \\mathrm{LReLU}(U_l z + c_l),\\quad
    f(z) = W_L h_L + U_L z + c_L,

which is convex in ``z`` whenever every ``W_l`` (``l ≥ 1``) is non-negative:
LeakyReLU is convex and non-decreasing, a non-negative combination of convex
functions is convex, and a convex non-decreasing function of a convex function
is convex. :meth:`ICNN.clamp_` sets negative ``W_l`` entries to zero;
:func:`clamping` does it after *every* optimiser step that touches the net
(a scoped global post-step hook, so :func:`lib.latent.train.fit` trains it
unchanged). :func:`jensen_gaps` measures convexity along random chords.
"""

from __future__ import annotations

import contextlib
import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook

NEGATIVE_SLOPE = 0.2
"""LeakyReLU slope of the authors' code."""


class ICNN(nn.Module):
    """``R^d → R``, convex in its input once :meth:`clamp_` has run (see the module docstring).

    Args:
        input_dim: Size of ``z``.
        hidden_dim: Width of every hidden layer.
        num_layers: Hidden layers ``L`` (the authors' 4).
    """

    convex = True

    def __init__(self, input_dim: int, hidden_dim: int = 128, num_layers: int = 4):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be at least 1, got {num_layers}")
        self.first = nn.Linear(input_dim, hidden_dim)
        self.w = nn.ModuleList(nn.Linear(hidden_dim, hidden_dim, bias=False) for _ in range(num_layers - 1))
        self.u = nn.ModuleList(nn.Linear(input_dim, hidden_dim) for _ in range(num_layers - 1))
        self.w_out = nn.Linear(hidden_dim, 1, bias=False)
        self.u_out = nn.Linear(input_dim, 1)
        with torch.no_grad():  # start convex and with non-negative weights of a useful scale
            for layer in [*self.w, self.w_out]:
                layer.weight.abs_().mul_(1.0 / layer.weight.shape[1] ** 0.5)
        self.clamp_()

    def constrained(self) -> list[torch.Tensor]:
        """The weights that must stay non-negative (``W_1 … W_L``)."""
        return [layer.weight for layer in [*self.w, self.w_out]]

    @torch.no_grad()
    def clamp_(self) -> "ICNN":
        """Sets every negative entry of the constrained weights to 0 (in place)."""
        for weight in self.constrained():
            weight.clamp_(min=0.0)
        return self

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.first(z), NEGATIVE_SLOPE)
        for w, u in zip(self.w, self.u):
            h = F.leaky_relu(w(h), NEGATIVE_SLOPE) + F.leaky_relu(u(z), NEGATIVE_SLOPE)
        return (self.w_out(h) + self.u_out(z)).squeeze(-1)


class MLPHead(nn.Module):
    """The ICNN's unconstrained twin (same widths, LeakyReLU, no clamp): the ablation's non-convex predictor."""

    convex = False

    def __init__(self, input_dim: int, hidden_dim: int = 128, num_layers: int = 4):
        super().__init__()
        dims = [input_dim] + [hidden_dim] * num_layers
        layers: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:]):
            layers += [nn.Linear(a, b), nn.LeakyReLU(NEGATIVE_SLOPE)]
        self.net = nn.Sequential(*layers, nn.Linear(hidden_dim, 1))

    def clamp_(self) -> "MLPHead":
        """Nothing to clamp (kept so both heads share one interface)."""
        return self

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).squeeze(-1)


HEADS = {"icnn": ICNN, "mlp": MLPHead}


@contextlib.contextmanager
def clamping(*nets: nn.Module):
    """Within the block, every optimiser step that updates a parameter of ``nets`` is followed by their ``clamp_()``.

    Implemented with :func:`torch.optim.optimizer.register_optimizer_step_post_hook`
    (removed on exit), so any training loop, e.g. :func:`lib.latent.train.fit`,
    keeps the ICNN convex after every step without knowing about it.
    """
    watched = {id(p) for net in nets for p in net.parameters()}

    def hook(optimizer, args, kwargs):
        if any(id(p) in watched for group in optimizer.param_groups for p in group["params"]):
            for net in nets:
                net.clamp_()

    handle = register_optimizer_step_post_hook(hook)
    try:
        for net in nets:
            net.clamp_()
        yield
    finally:
        handle.remove()


@torch.no_grad()
def jensen_gaps(f, points: torch.Tensor, num_chords: int = 200, num_t: int = 9,
                generator: torch.Generator | None = None) -> torch.Tensor:  # fmt: skip
    """Jensen gaps ``(1−t)f(a) + t f(b) − f((1−t)a + t b)`` on random chords between ``points``.

    ``f`` is convex along a chord iff every gap on it is ``≥ 0``.

    Args:
        f: ``(n, d) → (n,)`` (a network or any function of a batch).
        points: ``(m, d)`` chord ends are drawn from (e.g. latents of cells), ``m ≥ 2``.
        num_chords: Random pairs ``(a, b)`` of distinct rows.
        num_t: Interior points ``t = 1/(num_t+1) … num_t/(num_t+1)`` per chord.
        generator: Seeded generator of the pairs.

    Returns:
        ``(num_chords, num_t)`` gaps.
    """
    if len(points) < 2:
        raise ValueError(f"need at least 2 points to draw chords, got {len(points)}")
    i = torch.randint(len(points), (num_chords,), generator=generator)
    j = (i + torch.randint(1, len(points), (num_chords,), generator=generator)) % len(points)
    a, b = points[i], points[j]
    t = torch.arange(1, num_t + 1, dtype=points.dtype) / (num_t + 1)
    mid = (1 - t)[None, :, None] * a[:, None] + t[None, :, None] * b[:, None]
    fa, fb = f(a), f(b)
    fm = f(mid.reshape(-1, points.shape[1])).reshape(num_chords, num_t)
    return (1 - t)[None] * fa[:, None] + t[None] * fb[:, None] - fm


@contextlib.contextmanager
def adam_schedule(net: nn.Module, *, betas: tuple[float, float], total_steps: int, cosine: bool = True):
    """Within the block, Adam steps over ``net``'s parameters use ``betas`` and a cosine-annealed learning rate.

    :func:`lib.latent.train.fit` builds Adam with betas (0.9, 0.999) and a
    constant rate; CR-LSO's authors train with betas (0, 0.5) and a cosine
    schedule. A scoped pre-step hook sets, before step ``k`` (from 0) of an
    optimiser over ``net``, ``betas`` and ``lr = lr₀·½(1 + cos(π k / total_steps))``,
    where ``lr₀`` is the rate the optimiser was built with. The hook is removed on exit.
    """
    watched = {id(p) for p in net.parameters()}
    steps: dict[int, int] = {}

    def hook(optimizer, args, kwargs):
        if not any(id(p) in watched for group in optimizer.param_groups for p in group["params"]):
            return
        k = steps.get(id(optimizer), 0)
        steps[id(optimizer)] = k + 1
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
            group["betas"] = tuple(betas)
            if cosine:
                group["lr"] = group["initial_lr"] * 0.5 * (1.0 + math.cos(math.pi * min(k, total_steps) / max(total_steps, 1)))

    handle = register_optimizer_step_pre_hook(hook)
    try:
        yield
    finally:
        handle.remove()
