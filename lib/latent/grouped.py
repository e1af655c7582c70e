"""A fast training loop for GIN graph VAEs: K seeds trained at once as one grouped (stacked-weight) model.

:func:`fit_grouped` trains the same models as :func:`lib.latent.train.fit`
would for a :class:`~lib.latent.vae.GraphVAE` with a GIN
:class:`~lib.latent.encoders.GraphEncoder` and a
:class:`~lib.latent.decoders.GraphDecoder` (same layers, loss, Adam, gradient
clipping per model, batch size, BatchNorm in training mode with running
statistics), but with less work per step:

* each parameter of the K models is one stacked ``(K, ...)`` leaf tensor
  (the per-model gradient-norm clip is one concatenation and a few products);
* the K models' batches go through batched matrix products (``baddbmm``)
  and hand-written batch norm, with no module dispatch;
* the symmetrised adjacency is computed once for the whole data set, batch
  orders are drawn once per epoch as index tensors, and the losses are
  accumulated as tensors (one host read per epoch, none per step).

* Adam is torch's fused kernel (one call for all parameters).

Each model is initialised exactly as ``factory()`` after
``torch.manual_seed(seed)`` and draws its batch order from a generator seeded
with its seed, like :func:`fit`; its reparameterisation noise and dropout
masks come from a second generator of its own (not torch's global stream), so
model k does not depend on which other seeds share its group (tested). Float
sums are ordered differently and the fused Adam rounds differently, and the
noise comes from other streams, so the trained weights are *not* those of
:func:`fit` (a deliberate change: models trained here are cached apart from
:func:`fit`'s, see :func:`lib.arch2vec.train.pretrain_seeds`). Training is
deterministic for given seeds and thread count.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from lib.latent.encoders import GINLayer, GraphEncoder, symmetrize


def supports_grouped(model: nn.Module) -> bool:
    """Whether :func:`fit_grouped` can train this model (a GraphVAE with a GIN encoder and the plain decoder)."""
    from lib.latent.decoders import GraphDecoder
    from lib.latent.vae import GraphVAE

    return (isinstance(model, GraphVAE) and isinstance(model.encoder, GraphEncoder)
            and all(isinstance(layer, GINLayer) for layer in model.encoder.layers)
            and type(model.decoder) is GraphDecoder)  # fmt: skip


def _batch_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, stats: list) -> torch.Tensor:
    """Training-mode BatchNorm1d per model over ``(K, rows, C)`` (PyTorch's fused kernel on ``(rows, K·C)``).

    Updates the running statistics ``stats = [mean, var]`` (``(K, C)``, contiguous) in place.
    """
    k, rows, c = x.shape
    flat = x.view(rows, c) if k == 1 else x.transpose(0, 1).reshape(rows, k * c)
    out = F.batch_norm(flat, stats[0].view(-1), stats[1].view(-1), weight.reshape(-1), bias.reshape(-1),
                       training=True, momentum=0.1, eps=1e-5)  # fmt: skip
    return out.view(1, rows, c) if k == 1 else out.view(rows, k, c).transpose(0, 1)


def _linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``x (K, R, in) @ weightᵀ (K, in, out) + bias``."""
    return torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))


def _grouped_loss(p: dict, stats: list, generators: list, ops: torch.Tensor, adj_sym: torch.Tensor, adj: torch.Tensor,
                  num_layers: int, dropout: float, variational: bool, ops_weight: float,
                  adj_weight: float) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Sum over models of each model's :func:`~lib.latent.vae.vae_loss`, and the ``(K, 4)`` parts (loss, ops, adj, kl)."""
    k, b, n, _ = ops.shape
    x = ops
    for layer in range(num_layers):
        pre = f"encoder.layers.{layer}."
        agg = torch.matmul(adj_sym, x) + (1 + p[pre + "eps"]).view(k, 1, 1, 1) * x
        h = _linear(agg.reshape(k, b * n, -1), p[pre + "nn.mlp.0.weight"], p[pre + "nn.mlp.0.bias"])
        h = F.relu(_batch_norm(h, p[pre + "nn.mlp.1.weight"], p[pre + "nn.mlp.1.bias"], stats[2 * layer]))
        h = _linear(h, p[pre + "nn.mlp.3.weight"], p[pre + "nn.mlp.3.bias"])
        x = F.relu(_batch_norm(h, p[pre + "nn.norm.weight"], p[pre + "nn.norm.bias"], stats[2 * layer + 1]))
        x = x.view(k, b, n, -1)
    x = x.view(k, b * n, -1)
    mu = _linear(x, p["encoder.fc_mu.weight"], p["encoder.fc_mu.bias"])
    log_sigma = _linear(x, p["encoder.fc_log_sigma.weight"], p["encoder.fc_log_sigma.bias"])
    if variational:  # each model draws its noise from its own generator
        noise = torch.stack([torch.randn(mu.shape[1:], generator=g, device=mu.device) for g in generators])
        z = mu + noise * log_sigma.exp()
    else:
        z = mu
    if dropout > 0:
        keep = torch.stack([torch.rand(z.shape[1:], generator=g, device=z.device) for g in generators]) >= dropout
        z = z * keep / (1 - dropout)
    ops_prob = torch.sigmoid(_linear(z, p["decoder.ops.weight"], p["decoder.ops.bias"])).view(ops.shape)
    z = z.view(k, b, n, -1)
    adj_prob = torch.sigmoid(z @ z.transpose(-1, -2)).triu(1)
    ops_loss = F.binary_cross_entropy(ops_prob, ops, reduction="none").flatten(1).mean(1)
    adj_loss = F.binary_cross_entropy(adj_prob, adj, reduction="none").flatten(1).mean(1)
    loss = ops_weight * ops_loss + adj_weight * adj_loss
    if variational:
        mu, log_sigma = mu.view(k, b, n, -1), log_sigma.view(k, b, n, -1)
        terms = 1 + 2 * log_sigma - mu.pow(2) - (2 * log_sigma).exp()
        kl = -0.5 / (b * n) * terms.sum(dim=3).flatten(1).mean(1)
    else:
        kl = torch.zeros_like(loss)
    loss = loss + kl
    return loss.sum(), torch.stack([loss, ops_loss, adj_loss, kl], dim=1).detach()


def fit_grouped(
    factory: Callable[[], nn.Module],
    data: Sequence[torch.Tensor],
    seeds: Sequence[int],
    *,
    epochs: int,
    batch_size: int = 32,
    lr: float = 1e-3,
    grad_clip: float | None = None,
    device: str | torch.device | None = None,
    progress: bool = False,
    desc: str = "train",
    rows: Sequence[torch.Tensor] | None = None,
) -> tuple[list[nn.Module], list[list[dict]]]:
    """Trains ``len(seeds)`` GIN graph VAEs on ``data = (ops, adj)`` at once (see the module docstring).

    Args:
        factory: Builds one untrained model (called once per seed after ``torch.manual_seed(seed)``);
            it must pass :func:`supports_grouped`.
        data: Dense ``(ops, adj)`` float tensors ``(n, N, V)`` and ``(n, N, N)``.
        seeds: One seed per model (initialisation and batch order).
        epochs, batch_size, lr, grad_clip, device, progress, desc: As in :func:`lib.latent.train.fit`.
        rows: Optional training rows of ``data`` per model (one index tensor per seed, all of one
            length), e.g. per-seed training splits; ``None`` trains every model on all rows.

    Returns:
        ``(models in eval mode, histories)``, one per seed; a history has
        :func:`fit`'s fields (``cells_per_s`` counts the cells of one model).
    """
    from lib.latent.train import pick_device

    if not seeds:
        raise ValueError("fit_grouped: give at least one seed")
    if len(data) != 2:
        raise ValueError(f"fit_grouped: data must be (ops, adj), got {len(data)} tensors")
    device = pick_device(device)
    models = []
    for seed in seeds:
        torch.manual_seed(int(seed))
        models.append(factory())
    if not all(supports_grouped(m) for m in models):
        raise ValueError("fit_grouped: every model must be a GraphVAE with GIN layers and a GraphDecoder; "
                         "use lib.latent.train.fit for other models")  # fmt: skip
    first = models[0]
    k = len(models)
    names = [name for name, _ in first.named_parameters()]
    per_model = [dict(m.named_parameters()) for m in models]
    params = {name: torch.stack([pm[name].detach() for pm in per_model]).to(device).requires_grad_(True)
              for name in names}  # fmt: skip
    leaves = list(params.values())
    bn_modules = [[mod for mod in m.modules() if isinstance(mod, nn.BatchNorm1d)] for m in models]
    stats = [[torch.stack([bns[j].running_mean for bns in bn_modules]).to(device),
              torch.stack([bns[j].running_var for bns in bn_modules]).to(device)]
             for j in range(len(bn_modules[0]))]  # fmt: skip
    optimizer = torch.optim.Adam(leaves, lr=lr, betas=(0.9, 0.999), eps=1e-8, fused=True)
    ops_all, adj_all = (t.to(device=device, dtype=torch.float32) for t in data)
    adj_sym_all = symmetrize(adj_all)
    adj_target_all = adj_all.triu(1)
    if rows is None:
        rows = [torch.arange(len(ops_all))] * k
    rows = [torch.as_tensor(r, dtype=torch.long) for r in rows]
    if len(rows) != k or len({len(r) for r in rows}) != 1:
        raise ValueError(f"fit_grouped: rows must be {k} index tensors of one length, got lengths {[len(r) for r in rows]}")
    n = len(rows[0])
    generators = [torch.Generator().manual_seed(int(seed)) for seed in seeds]
    noise_generators = [torch.Generator(device=device).manual_seed(int(seed)) for seed in seeds]
    settings = dict(num_layers=len(first.encoder.layers), dropout=first.decoder.dropout,
                    variational=first.variational, ops_weight=first.ops_weight, adj_weight=first.adj_weight)  # fmt: skip
    histories: list[list[dict]] = [[] for _ in seeds]
    steps_total = 0
    from tqdm.auto import tqdm

    for epoch in range(epochs):
        order = torch.stack([r[torch.randperm(n, generator=g)] for r, g in zip(rows, generators)]).to(device)
        totals = torch.zeros(k, 4, device=device)
        steps = 0
        start = time.perf_counter()
        starts = [i for i in range(0, n, batch_size) if min(batch_size, n - i) >= 2]
        for i in tqdm(starts, desc=f"{desc} epoch {epoch + 1}/{epochs}", disable=not progress, leave=False,
                      mininterval=1.0):  # fmt: skip
            idx = order[:, i : i + batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss, parts = _grouped_loss(params, stats, noise_generators, ops_all[idx], adj_sym_all[idx],
                                        adj_target_all[idx], **settings)  # fmt: skip
            loss.backward()
            if grad_clip is not None:
                grads = [leaf.grad for leaf in leaves if leaf.grad is not None]  # unused heads have none
                norms = torch.cat([g.reshape(k, -1) for g in grads], dim=1).pow(2).sum(1).sqrt()
                coef = (grad_clip / (norms + 1e-6)).clamp(max=1.0)
                for g in grads:
                    g.mul_(coef.view(k, *[1] * (g.dim() - 1)))
            optimizer.step()
            totals += parts
            steps += 1
        steps_total += steps
        seconds = time.perf_counter() - start
        means = (totals / max(steps, 1)).tolist()
        for j in range(k):
            record = dict(zip(("loss", "ops", "adj", "kl"), means[j]))
            record |= {"epoch": epoch + 1, "seconds": seconds,
                       "cells_per_s": n / seconds if seconds > 0 else float("nan")}  # fmt: skip
            histories[j].append(record)
        if progress:
            tqdm.write(f"{desc} epoch {epoch + 1}: loss {means[0][0]:.4f} ({seconds:.1f} s, {k} models)")
    with torch.no_grad():
        for j, model in enumerate(models):
            for name, param in model.named_parameters():
                param.copy_(params[name][j])
            for bn, (mean, var) in zip(bn_modules[j], stats):
                bn.running_mean.copy_(mean[j])
                bn.running_var.copy_(var[j])
                bn.num_batches_tracked.fill_(steps_total)
            model.to(device).eval()
    return models, histories
