"""D-VAE-style DAG models over the dense ``(ops, adj)`` form: an asynchronous DAG-GRU encoder and a node-by-node decoder.

Zhang et al., "D-VAE: A Variational Autoencoder for Directed Acyclic Graphs"
(NeurIPS 2019), as used by Li et al., "Neural Architecture Optimization with
Graph VAE" (arXiv 2006.10310).

The dense form of :func:`lib.encoding.encode_dense` is upper-triangular, so
slot order is a topological order. :class:`DAGGRUEncoder` visits the slots in
that order: a node's state is ``GRU(x_v, Σ_u gate(h_u)·map(h_u))`` over its
predecessors ``u`` (D-VAE's gated sum, invariant to the order of the
predecessors), so any relabelling of the nodes that keeps the adjacency
upper-triangular gives the same states and the same graph encoding. The
backward pass does the same on the reversed graph; the graph's encoding is
``[h_output(forward), h_input(backward)]``. Padding slots (rows of zeros,
NB101 cells with fewer than seven nodes) have no edges, so they reach neither
the output's forward state nor the input's backward state.

:class:`SequentialDAGDecoder` generates slot by slot: the graph state (the last
generated node's hidden state, starting from ``tanh(W z)``) gives the node's
type (a softmax over the vocabulary plus a *padding* class), then each edge
from an earlier slot from a sigmoid over ``[h_u, s_v]``, then the node's own
state by the encoder's GRU update. Unlike D-VAE, the edges of one node are
decided together from the state before the node, not one after the other with a
state update after each edge (N instead of N² sequential steps); the types and
edges are still conditioned on everything generated before the node. A slot
without predecessors (padding) updates the graph state instead of starting from
nothing, so a run of padding slots still knows where it is. Training
uses teacher forcing (the true earlier nodes).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _propagate(gru: nn.GRUCell, gate: nn.Linear, mapper: nn.Linear, x: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
    """States ``(B, N, H)`` of every slot in index order; ``adj[b, u, v]`` is an edge ``u → v`` with ``u < v``."""
    b, n, _ = x.shape
    states: list[torch.Tensor] = []
    messages: list[torch.Tensor] = []  # gate(h_u)·map(h_u), computed once per node
    for v in range(n):
        if v == 0:
            incoming = x.new_zeros(b, gru.hidden_size)
        else:
            incoming = torch.einsum("bu,buh->bh", adj[:, :v, v], torch.stack(messages, dim=1))
        h = gru(x[:, v], incoming)
        states.append(h)
        messages.append(torch.sigmoid(gate(h)) * mapper(h))
    return torch.stack(states, dim=1)


class DAGGRUEncoder(nn.Module):
    """Bidirectional asynchronous DAG-GRU: ``(ops, adj) → (mu, log_sigma)`` of shape ``(B, latent_dim)``.

    Args:
        vocabulary_size: One-hot width of ``ops``.
        hidden_dim: GRU state size (the authors' 501).
        latent_dim: Size of the graph's latent vector (the authors' 56).
    """

    def __init__(self, vocabulary_size: int, hidden_dim: int, latent_dim: int):
        super().__init__()
        self.latent_dim, self.hidden_dim = latent_dim, hidden_dim
        self.gru_f = nn.GRUCell(vocabulary_size, hidden_dim)
        self.gru_b = nn.GRUCell(vocabulary_size, hidden_dim)
        self.gate_f, self.map_f = nn.Linear(hidden_dim, hidden_dim), nn.Linear(hidden_dim, hidden_dim, bias=False)
        self.gate_b, self.map_b = nn.Linear(hidden_dim, hidden_dim), nn.Linear(hidden_dim, hidden_dim, bias=False)
        self.fc_mu = nn.Linear(2 * hidden_dim, latent_dim)
        self.fc_log_sigma = nn.Linear(2 * hidden_dim, latent_dim)

    def forward(self, ops: torch.Tensor, adj: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        forward = _propagate(self.gru_f, self.gate_f, self.map_f, ops, adj)
        # the reversed graph: slot order flipped, edges transposed (still upper-triangular)
        backward = _propagate(self.gru_b, self.gate_b, self.map_b, ops.flip(1), adj.transpose(1, 2).flip(1, 2))
        h = torch.cat([forward[:, -1], backward[:, -1]], dim=-1)
        return self.fc_mu(h), self.fc_log_sigma(h)


class SequentialDAGDecoder(nn.Module):
    """Node-by-node DAG decoder (D-VAE style) over ``max_nodes`` slots; see the module docstring.

    The type classes are the vocabulary plus a last *padding* class (a row of zeros in ``ops``).

    Args:
        latent_dim: Size of ``z``.
        hidden_dim: GRU state size.
        vocabulary_size: Node labels of the space.
        max_nodes: Slots of the dense form.
        fixed_types: ``{slot: type}`` that :meth:`generate` imposes (negative slots count from the end), e.g. the
            input first and the output last, as the dense layout always has them (D-VAE fixes its start type too);
            those types are then never generated in any other slot.
    """

    def __init__(self, latent_dim: int, hidden_dim: int, vocabulary_size: int, max_nodes: int,
                 fixed_types: dict[int, int] | None = None):  # fmt: skip
        super().__init__()
        self.vocabulary_size, self.max_nodes, self.hidden_dim = vocabulary_size, max_nodes, hidden_dim
        self.fixed_types = {k % max_nodes: int(v) for k, v in (fixed_types or {}).items()}
        self.fc_h0 = nn.Linear(latent_dim, hidden_dim)
        self.gru = nn.GRUCell(vocabulary_size, hidden_dim)
        self.gate, self.mapper = nn.Linear(hidden_dim, hidden_dim), nn.Linear(hidden_dim, hidden_dim, bias=False)
        self.type_head = nn.Sequential(nn.Linear(hidden_dim, hidden_dim), nn.ReLU(),
                                       nn.Linear(hidden_dim, vocabulary_size + 1))  # fmt: skip
        self.node_in = nn.Linear(hidden_dim + vocabulary_size, hidden_dim)
        self.edge_head = nn.Sequential(nn.Linear(2 * hidden_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, 1))

    def _step(self, v: int, graph: torch.Tensor, cache: dict, x_v: torch.Tensor, h0: torch.Tensor,
              edges: torch.Tensor | None, allowed: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Edge logits into slot ``v`` ``(B, v)`` and the node's state, given its type ``x_v`` and (teacher) edges.

        ``cache`` holds, per earlier node, its edge-head projection and its message (computed once per node).
        """
        if v == 0:
            logits, h = x_v.new_zeros(len(x_v), 0), self.gru(x_v, h0)
        else:
            s_v = torch.tanh(self.node_in(torch.cat([graph, x_v], dim=-1)))
            first, second = self.edge_head[0].weight.split(self.hidden_dim, dim=1)
            hidden = torch.relu(torch.stack(cache["src"], dim=1) + (s_v @ second.T).unsqueeze(1))
            logits = self.edge_head[2](hidden).squeeze(-1)
            if edges is None:
                edges = logits > 0
                edges = (edges if allowed is None else edges & allowed).to(x_v.dtype)
            incoming = torch.einsum("bu,buh->bh", edges, torch.stack(cache["msg"], dim=1))
            incoming = incoming + graph * (edges.sum(1, keepdim=True) == 0)  # no predecessor (padding): carry the graph state
            h = self.gru(x_v, incoming)
        first = self.edge_head[0].weight[:, : self.hidden_dim]
        cache.setdefault("src", []).append(h @ first.T + self.edge_head[0].bias)
        cache.setdefault("msg", []).append(torch.sigmoid(self.gate(h)) * self.mapper(h))
        return logits, h

    def forward(self, z: torch.Tensor, ops: torch.Tensor, adj: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher-forced logits: types ``(B, N, V+1)`` and edges ``(B, N, N)`` (strict upper triangle used)."""
        b, n, v_size = ops.shape
        h0 = torch.tanh(self.fc_h0(z))
        graph, cache = h0, {}
        type_logits, columns = [], []
        for v in range(n):
            type_logits.append(self.type_head(graph))
            logits, graph = self._step(v, graph, cache, ops[:, v], h0, adj[:, :v, v])
            columns.append(F.pad(logits, (0, n - v)))
        return torch.stack(type_logits, dim=1), torch.stack(columns, dim=2)

    @torch.no_grad()
    def generate(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Greedy decoding: ``(labels (B, N) with -1 for padding, edges (B, N, N) int8)`` for :func:`lib.latent.decode.decode_cells`."""
        b, n, v_size = len(z), self.max_nodes, self.vocabulary_size
        h0 = torch.tanh(self.fc_h0(z))
        graph, cache = h0, {}
        labels = torch.full((b, n), -1, dtype=torch.long, device=z.device)
        edges = torch.zeros(b, n, n, dtype=torch.int8, device=z.device)
        for v in range(n):
            scores = self.type_head(graph)
            if v in self.fixed_types:
                cls = torch.full_like(scores[:, 0], self.fixed_types[v], dtype=torch.long)
            else:  # a type fixed to some slot appears nowhere else
                reserved = sorted(set(self.fixed_types.values()))
                cls = scores.index_fill(1, torch.as_tensor(reserved, dtype=torch.long), float("-inf")).argmax(-1) \
                    if reserved else scores.argmax(-1)  # fmt: skip
            pad = cls == v_size
            labels[:, v] = torch.where(pad, torch.full_like(cls, -1), cls)
            x_v = F.one_hot(cls.clamp(max=v_size - 1), v_size).to(z.dtype) * (~pad).unsqueeze(-1).to(z.dtype)
            allowed = (~pad).unsqueeze(-1) & (labels[:, :v] >= 0)
            logits, graph = self._step(v, graph, cache, x_v, h0, None, allowed)
            if v:
                edges[:, :v, v] = ((logits > 0) & allowed).to(torch.int8)
        return labels, edges


def type_targets(ops: torch.Tensor) -> torch.Tensor:
    """``(B, N, V)`` one-hot (rows of zeros = padding) → ``(B, N)`` class indices, padding = ``V``."""
    return torch.where(ops.sum(-1) > 0, ops.argmax(-1), torch.full(ops.shape[:2], ops.shape[-1], device=ops.device))


def dag_nll(type_logits: torch.Tensor, edge_logits: torch.Tensor, ops: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
    """Reconstruction NLL per cell, averaged over the batch: type cross-entropy summed over slots plus edge BCE
    summed over the strict upper triangle (D-VAE's per-graph sum)."""
    b, n, _ = ops.shape
    types = F.cross_entropy(type_logits.reshape(b * n, -1), type_targets(ops).reshape(-1), reduction="sum")
    rows, cols = torch.triu_indices(n, n, 1, device=ops.device)
    edges = F.binary_cross_entropy_with_logits(edge_logits[:, rows, cols], adj[:, rows, cols], reduction="sum")
    return (types + edges) / b


def gaussian_kl(mu: torch.Tensor, log_sigma: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, σ²) ‖ N(0, I)) summed over latent dimensions, averaged over the batch."""
    return -0.5 * (1 + 2 * log_sigma - mu.pow(2) - (2 * log_sigma).exp()).sum(-1).mean()


class JointDAGVAE(nn.Module):
    """The DAG-GRU VAE with ``heads`` predictors on ``mu``, each ``Linear(latent→hidden)–Tanh–Linear(hidden→1)–Sigmoid``.

    Args:
        vocabulary_size: Node labels of the space.
        max_nodes: Slots of the dense form.
        hidden_dim: GRU and head width (the authors' 501).
        latent_dim: Latent size (the authors' 56).
        heads: Number of predictor heads (performance, complexity: 2).
        fixed_types: Passed to :class:`SequentialDAGDecoder`.
    """

    def __init__(self, vocabulary_size: int, max_nodes: int, hidden_dim: int = 501, latent_dim: int = 56,
                 heads: int = 2, fixed_types: dict[int, int] | None = None):  # fmt: skip
        super().__init__()
        self.latent_dim = latent_dim
        self.encoder = DAGGRUEncoder(vocabulary_size, hidden_dim, latent_dim)
        self.decoder = SequentialDAGDecoder(latent_dim, hidden_dim, vocabulary_size, max_nodes, fixed_types)
        self.heads = nn.ModuleList(
            nn.Sequential(nn.Linear(latent_dim, hidden_dim), nn.Tanh(), nn.Linear(hidden_dim, 1), nn.Sigmoid())
            for _ in range(heads)
        )  # fmt: skip

    def predict(self, mu: torch.Tensor) -> torch.Tensor:
        """``(B, heads)`` head outputs in [0, 1] (differentiable in ``mu``)."""
        return torch.cat([head(mu) for head in self.heads], dim=-1)

    def forward(self, ops: torch.Tensor, adj: torch.Tensor):
        """``(type_logits, edge_logits, mu, log_sigma, predictions)``; ``z`` is sampled while training."""
        mu, log_sigma = self.encoder(ops, adj)
        z = mu + torch.randn_like(mu) * log_sigma.exp() if self.training else mu
        type_logits, edge_logits = self.decoder(z, ops, adj)
        return type_logits, edge_logits, mu, log_sigma, self.predict(mu)

    @torch.no_grad()
    def embed(self, ops: torch.Tensor, adj: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
        """Posterior means ``(B, latent_dim)`` in eval mode, in batches."""
        was = self.training
        self.eval()
        out = [self.encoder(ops[i : i + batch_size], adj[i : i + batch_size])[0] for i in range(0, len(ops), batch_size)]
        self.train(was)
        return torch.cat(out) if out else torch.zeros(0, self.latent_dim)

    @torch.no_grad()
    def reconstruct(self, ops: torch.Tensor, adj: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Greedy decoding of the posterior means: ``(labels, edges)``."""
        return self.decoder.generate(self.embed(ops, adj))


def joint_loss(model: JointDAGVAE, ops: torch.Tensor, adj: torch.Tensor, targets: torch.Tensor | None = None,
               mask: torch.Tensor | None = None, *, kl_weight: float = 0.005,
               head_weights: tuple[float, ...] = (1.0, 1.0)) -> tuple[torch.Tensor, dict[str, float]]:  # fmt: skip
    """``NLL + kl_weight·KL + Σ_k w_k·MSE_k`` per cell, averaged over the batch (a loss for :func:`lib.latent.train.fit`).

    Args:
        targets: ``(B, heads)`` head targets scaled to [0, 1]; ``None`` (unsupervised) leaves the MSE terms out.
        mask: ``(B,)`` 1 for labelled cells, 0 for unlabelled; the MSE is the mean over labelled cells (0 if none).
        kl_weight: The authors' 0.005.
        head_weights: Weight of each head's MSE (the authors' 1, 1; 0 drops a head).
    """
    type_logits, edge_logits, mu, log_sigma, pred = model(ops, adj)
    nll, kl = dag_nll(type_logits, edge_logits, ops, adj), gaussian_kl(mu, log_sigma)
    loss = nll + kl_weight * kl
    parts = {"nll": nll.item(), "kl": kl.item()}
    if targets is not None:
        mask = torch.ones(len(ops), device=ops.device) if mask is None else mask
        count = mask.sum().clamp(min=1.0)
        for k, w in enumerate(head_weights):
            mse = (mask * (pred[:, k] - targets[:, k]).pow(2)).sum() / count
            loss = loss + w * mse
            parts[f"mse{k}"] = mse.item()
    return loss, parts


def latent_ascent(model: JointDAGVAE, z: torch.Tensor, weights: tuple[float, ...], *, steps: int,
                  step_size: float) -> torch.Tensor:  # fmt: skip
    """Gradient ascent on ``Σ_k weights[k]·head_k(z)`` (NAO's ``f_perf − λ·f_cmplx`` is ``weights=(1, -λ)``).

    Each of ``steps`` steps is ``z ← z + step_size·∇_z``; the model's parameters are not touched.

    Returns:
        The moved points ``(B, latent_dim)`` (detached).
    """
    w = torch.as_tensor(weights, dtype=z.dtype, device=z.device)
    z = z.detach().clone().requires_grad_(True)
    for _ in range(int(steps)):
        objective = (model.predict(z) * w).sum()
        (grad,) = torch.autograd.grad(objective, z)
        z = (z + step_size * grad).detach().requires_grad_(True)
    return z.detach()
