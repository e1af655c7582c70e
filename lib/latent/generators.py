"""A decoder-only graph generator and a surrogate on its output (AG-Net's models).

:class:`GraphGenerator` maps a noise vector ``z`` to a cell node by node
(Lukasik, Jung & Keuper, "Learning Where To Look – Generative NAS is
Surprisingly Efficient", ECCV 2022): at step ``i`` a graph state built from
``z`` and a gated readout of the partial graph gives the type of node ``i``
(categorical over the space's vocabulary plus a padding type) and, for every
earlier node ``j``, an edge ``j → i`` (Bernoulli). Node states come from a type and a
position embedding and two GRU message-passing layers over the partial graph. Because messages flow
only along edges ``j → i`` with ``j < i``, the state of node ``j`` depends on
nodes ``≤ j`` only, so one pass over a complete graph gives, for every step,
exactly the states the partial graph would give (teacher forcing in one
batched pass), and generation reuses the same code.

Cells travel as ``(types, adj)``: ``types`` ``(B, n)`` long, the index in the
space's vocabulary or ``len(vocabulary)`` for a padding slot (an all-zero row
of :meth:`~lib.spaces.base.SearchSpace.encode`); ``adj`` ``(B, n, n)`` 0/1
float, upper triangular. :func:`dense_to_types` and :func:`types_to_dense`
convert from and to the spaces' dense encoding.

:class:`MLPSurrogate` is a 4-layer MLP on the generator's output (node-type
probabilities and edge probabilities, flattened) with one output per target
(accuracy, and latency for hardware-aware search).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def dense_to_types(ops: torch.Tensor) -> torch.Tensor:
    """``(B, n, V)`` one-hot (zero rows = padding) → ``(B, n)`` indices, ``V`` for padding."""
    ops = torch.as_tensor(ops)
    types = ops.argmax(dim=-1)
    types[ops.sum(dim=-1) == 0] = ops.shape[-1]
    return types


def types_to_dense(types: torch.Tensor | np.ndarray, num_ops: int) -> np.ndarray:
    """Inverse of :func:`dense_to_types`: ``(B, n)`` indices → ``(B, n, V)`` one-hot float32, padding rows zero."""
    types = np.asarray(types)
    out = np.zeros((*types.shape, num_ops + 1), dtype=np.float32)
    np.put_along_axis(out, types[..., None], 1.0, axis=-1)
    return out[..., :num_ops]


class GraphGenerator(nn.Module):
    """Noise → cell, node by node, with GRU message passing over the partial graph.

    Args:
        num_ops: Size of the space's vocabulary (a padding type is added).
        max_nodes: Node slots of the space's dense encoding.
        latent_dim: Size of ``z`` (the authors' 32).
        hidden_dim: Node and graph state size (the authors' 32).
        num_layers: GRU message-passing layers (the authors' 2).
    """

    def __init__(self, num_ops: int, max_nodes: int, latent_dim: int = 32, hidden_dim: int = 32, num_layers: int = 2):
        super().__init__()
        self.num_ops, self.max_nodes, self.latent_dim = num_ops, max_nodes, latent_dim
        self.num_types = num_ops + 1
        self.embed = nn.Embedding(self.num_types, hidden_dim)
        self.position = nn.Embedding(max_nodes, hidden_dim)
        self.messages = nn.ModuleList(nn.Linear(hidden_dim, hidden_dim) for _ in range(num_layers))
        self.grus = nn.ModuleList(nn.GRUCell(hidden_dim, hidden_dim) for _ in range(num_layers))
        self.gate = nn.Linear(hidden_dim, 1)
        self.readout = nn.Linear(hidden_dim, hidden_dim)
        self.state = nn.Sequential(nn.Linear(latent_dim + hidden_dim + max_nodes, hidden_dim), nn.ReLU(),
                                   nn.Linear(hidden_dim, hidden_dim))  # fmt: skip
        self.type_head = nn.Sequential(nn.Linear(hidden_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, self.num_types))
        self.edge_head = nn.Sequential(nn.Linear(3 * hidden_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, 1))

    # ------------------------------------------------------------------ pieces

    def node_states(self, types: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        """``(B, n, H)`` states after the GRU message-passing layers (messages along ``adj[j, i]``: j → i)."""
        h = self.embed(types) + self.position.weight[: types.shape[1]]
        b, n, d = h.shape
        for message, gru in zip(self.messages, self.grus):
            m = torch.bmm(adj.transpose(1, 2), message(h))
            h = gru(m.reshape(b * n, d), h.reshape(b * n, d)).reshape(b, n, d)
        return h

    def step_states(self, z: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """``(B, n, H)`` graph states: row ``i`` from ``z``, the readout of nodes ``< i`` and the step's position."""
        b, n, _ = h.shape
        gated = torch.sigmoid(self.gate(h)) * self.readout(h)
        before = torch.cumsum(gated, dim=1) - gated  # sum over j < i
        position = torch.eye(n, device=h.device).expand(b, n, n)
        return self.state(torch.cat([z.unsqueeze(1).expand(b, n, z.shape[-1]), before, position], dim=-1))

    def edge_logits(self, h: torch.Tensor, s: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
        """``(B, n, n)`` logits of ``j → i`` from the state of ``j``, the step state of ``i`` and ``i``'s type."""
        b, n, d = h.shape
        target = torch.cat([s, self.embed(types)], dim=-1)  # (B, n, 2H) for node i
        pair = torch.cat([h.unsqueeze(2).expand(b, n, n, d), target.unsqueeze(1).expand(b, n, n, 2 * d)], dim=-1)
        return self.edge_head(pair).squeeze(-1)

    # ------------------------------------------------------------------ use

    def forward(self, z: torch.Tensor, types: torch.Tensor, adj: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher-forced scores of the cell ``(types, adj)`` given ``z``: ``(type logits (B, n, T), edge logits (B, n, n))``."""
        h = self.node_states(types, adj)
        s = self.step_states(z, h)
        return self.type_head(s), self.edge_logits(h, s, types)

    @torch.no_grad()
    def generate(self, z: torch.Tensor, *, sample: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Builds cells node by node from ``z`` ``(B, latent_dim)``: ``(types (B, n) long, adj (B, n, n) float)``.

        ``sample=True`` draws types from the categorical and edges from the
        Bernoulli distributions (torch's global stream); ``False`` takes the
        most likely type and edges with probability ≥ 0.5.
        """
        b, n = z.shape[0], self.max_nodes
        types = torch.full((b, n), self.num_ops, dtype=torch.long, device=z.device)
        adj = torch.zeros(b, n, n, device=z.device)
        upper = torch.ones(n, n, device=z.device).triu(1)
        for i in range(n):
            h = self.node_states(types, adj)  # nodes ≥ i have no incoming edges yet: earlier states are exact
            s = self.step_states(z, h)
            logits = self.type_head(s[:, i])
            t = torch.distributions.Categorical(logits=logits).sample() if sample else logits.argmax(-1)
            types[:, i] = t
            e = self.edge_logits(h, s, types)[:, :, i] * upper[:, i]
            p = torch.sigmoid(e) * upper[:, i]
            adj[:, :, i] = torch.bernoulli(p) if sample else (p >= 0.5).float()
        return types, adj

    def scores(self, type_logits: torch.Tensor, edge_logits: torch.Tensor) -> torch.Tensor:
        """``(B, n·T + n(n−1)/2)``: softmaxed node types and sigmoid upper-triangular edges, flattened."""
        n = self.max_nodes
        iu = torch.triu_indices(n, n, 1, device=edge_logits.device)
        return torch.cat([F.softmax(type_logits, -1).flatten(1), torch.sigmoid(edge_logits[:, iu[0], iu[1]])], dim=1)

    @property
    def score_dim(self) -> int:
        return self.max_nodes * self.num_types + self.max_nodes * (self.max_nodes - 1) // 2


def reconstruction_loss(type_logits: torch.Tensor, edge_logits: torch.Tensor, types: torch.Tensor,
                        adj: torch.Tensor) -> torch.Tensor:  # fmt: skip
    """Per-cell node cross-entropy + edge BCE over the upper triangle, each averaged: ``(B,)``."""
    n = types.shape[1]
    ce = F.cross_entropy(type_logits.transpose(1, 2), types, reduction="none").mean(1)
    iu = torch.triu_indices(n, n, 1, device=adj.device)
    bce = F.binary_cross_entropy_with_logits(edge_logits[:, iu[0], iu[1]], adj[:, iu[0], iu[1]],
                                             reduction="none").mean(1)  # fmt: skip
    return ce + bce


class MLPSurrogate(nn.Module):
    """A 4-layer MLP (ReLU) from the generator's scores to ``outputs`` targets."""

    def __init__(self, in_dim: int, hidden_dim: int = 128, outputs: int = 1):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, hidden_dim), nn.ReLU(),
                                 nn.Linear(hidden_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, outputs))  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class GeneratorWithSurrogate(nn.Module):
    """A :class:`GraphGenerator` and an :class:`MLPSurrogate` on its teacher-forced scores, trained together."""

    def __init__(self, generator: GraphGenerator, outputs: int = 1, hidden_dim: int = 128):
        super().__init__()
        self.generator = generator
        self.surrogate = MLPSurrogate(generator.score_dim, hidden_dim, outputs)

    def forward(self, z: torch.Tensor, types: torch.Tensor, adj: torch.Tensor):
        """``(type logits, edge logits, predictions (B, outputs))`` of the cells ``(types, adj)`` given ``z``."""
        t, e = self.generator(z, types, adj)
        return t, e, self.surrogate(self.generator.scores(t, e))
