"""A minimal re-expression of the authors' arch2vec training step, for side-by-side timing.

Written from the structure of MSU-MLSys-Lab/arch2vec (``models/model.py``,
``models/layers.py``, ``pretraining_nasbench201.py``), not copied: the same
layers (GIN with a vector ``eps`` over ``num_hops - 1`` layers, each an
``MLP(Linear, BN, ReLU, Linear)`` followed by a batch norm and a ReLU; two
linear heads; a linear + sigmoid operation read-out and an inner-product
edge decoder after dropout), the same preprocessing (``A + triu(A, 1)ᵀ`` on
every batch, ``adj.to(torch.long)`` then ``.float()`` inside the encoder,
``triu(1)`` of prediction and target), the same loss (BCE + BCE + KL with
the authors' normalisation), Adam (1e-3, 0.9/0.999, 1e-8), gradient clip 5,
batch 32 by ``torch.split`` of a training set permuted once, and
``loss.item()`` every step.

Its eval/train quirk is kept: the authors call ``model.eval()`` for the
per-epoch validity check and never call ``model.train()`` again, so every
epoch after the first trains in eval mode (batch norm on running statistics,
no dropout, ``z = mu``). :class:`ReferenceTrainer` does the same
(``quirk=True``, the default). The validity check itself is not timed here.

Used only by ``scripts/bench_pretrain.py --side-by-side`` and its test; the
project's models are :mod:`lib.arch2vec.model`.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from torch import nn


class ReferenceMLP(nn.Module):
    """The GIN repository's two-layer MLP: ``Linear → BN → ReLU → Linear``."""

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int):
        super().__init__()
        self.linears = nn.ModuleList([nn.Linear(input_dim, hidden_dim), nn.Linear(hidden_dim, output_dim)])
        self.batch_norms = nn.ModuleList([nn.BatchNorm1d(hidden_dim)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linears[1](F.relu(self.batch_norms[0](self.linears[0](x))))


class ReferenceModel(nn.Module):
    """The authors' ``Model``: GIN encoder over ``num_hops - 1`` layers, heads and decoder."""

    def __init__(self, input_dim: int, hidden_dim: int = 128, latent_dim: int = 16, num_hops: int = 5,
                 dropout: float = 0.3):  # fmt: skip
        super().__init__()
        self.num_layers = num_hops
        self.eps = nn.Parameter(torch.zeros(num_hops - 1))
        dims = [input_dim] + [hidden_dim] * (num_hops - 1)
        self.mlps = nn.ModuleList(ReferenceMLP(a, hidden_dim, hidden_dim) for a in dims[:-1])
        self.batch_norms = nn.ModuleList(nn.BatchNorm1d(hidden_dim) for _ in dims[:-1])
        self.fc1 = nn.Linear(hidden_dim, latent_dim)
        self.fc2 = nn.Linear(hidden_dim, latent_dim)
        self.decoder_weight = nn.Linear(latent_dim, input_dim)
        self.dropout = dropout

    def encode(self, ops: torch.Tensor, adj: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, n, _ = ops.shape
        x = ops
        for layer in range(self.num_layers - 1):
            neighbor = torch.matmul(adj.float(), x)
            agg = (1 + self.eps[layer]) * x.view(b * n, -1) + neighbor.view(b * n, -1)
            x = F.relu(self.batch_norms[layer](self.mlps[layer](agg)).view(b, n, -1))
        return self.fc1(x), self.fc2(x)

    def forward(self, ops: torch.Tensor, adj: torch.Tensor):
        mu, logvar = self.encode(ops, adj)
        if self.training:
            z = torch.randn_like(mu).mul(torch.exp(logvar)).add_(mu)  # the authors' "logvar" is log σ in the loss
        else:
            z = mu
        z = F.dropout(z, p=self.dropout, training=self.training)
        return torch.sigmoid(self.decoder_weight(z)), torch.sigmoid(torch.matmul(z, z.permute(0, 2, 1))), mu, logvar


def reference_loss(ops_recon, adj_recon, ops, adj, mu, logvar) -> torch.Tensor:
    """BCE(ops) + BCE(adj) + KL, with the authors' normalisation ``-0.5 / (B·N) · mean_b Σ(...)``."""
    loss = F.binary_cross_entropy(ops_recon, ops) + F.binary_cross_entropy(adj_recon, adj)
    kld = -0.5 / (ops.shape[0] * ops.shape[1]) * torch.mean(
        torch.sum(1 + 2 * logvar - mu.pow(2) - logvar.exp().pow(2), 2))  # fmt: skip
    return loss + kld


class ReferenceTrainer:
    """The authors' loop, one epoch per :meth:`epoch` call (timed), with their eval/train quirk.

    Args:
        ops, adj: Training cells (dense float tensors), permuted once here as the authors do.
        seed: Seeds the initialisation and the one permutation.
        batch_size: Rows per step (the authors' 32).
        quirk: After the first epoch train in eval mode, as the original does.
    """

    def __init__(self, ops: torch.Tensor, adj: torch.Tensor, *, hidden_dim: int = 128, latent_dim: int = 16,
                 num_layers: int = 4, dropout: float = 0.3, seed: int = 0, batch_size: int = 32,
                 quirk: bool = True):  # fmt: skip
        torch.manual_seed(seed)
        self.model = ReferenceModel(ops.shape[-1], hidden_dim, latent_dim, num_layers + 1, dropout)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-08)
        order = torch.randperm(len(ops))
        self.ops, self.adj = ops[order], adj[order]
        self.batch_size, self.quirk, self.epochs_done = batch_size, quirk, 0

    def epoch(self, max_steps: int | None = None) -> dict:
        """One pass (or ``max_steps`` steps); returns ``loss``, ``seconds``, ``cells``, ``train_mode``."""
        if self.epochs_done == 0 or not self.quirk:
            self.model.train()
        train_mode = self.model.training
        losses, cells = [], 0
        start = time.perf_counter()
        for i, (adj, ops) in enumerate(zip(torch.split(self.adj, self.batch_size), torch.split(self.ops, self.batch_size))):
            if max_steps is not None and i >= max_steps:
                break
            self.optimizer.zero_grad()
            adj = adj + adj.triu(1).transpose(-1, -2)  # the authors' preprocessing
            ops_recon, adj_recon, mu, logvar = self.model(ops, adj.to(torch.long))
            adj_recon, adj = adj_recon.triu(1), adj.triu(1)  # prep_reverse
            loss = reference_loss(ops_recon, adj_recon, ops, adj, mu, logvar)
            loss.backward()
            nn.utils.clip_grad_norm_(self.model.parameters(), 5)
            self.optimizer.step()
            losses.append(loss.item())
            cells += len(ops)
        seconds = time.perf_counter() - start
        self.epochs_done += 1
        self.model.eval()  # the per-epoch validity check's model.eval(), never undone
        return {"loss": sum(losses) / max(len(losses), 1), "seconds": seconds, "cells": cells, "train_mode": train_mode}
