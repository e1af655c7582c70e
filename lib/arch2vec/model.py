"""The arch2vec variational graph autoencoder (dense, batched).

Encoder (Xu et al.'s GIN, as in arch2vec): for ``l = 1..L``

.. math::
    H^{(l)} = \\mathrm{ReLU}\\big(\\mathrm{BN}(\\mathrm{MLP}^{(l)}((1+\\epsilon_l) H^{(l-1)} + \\tilde A H^{(l-1)}))\\big),
    \\quad \\mathrm{MLP} = \\mathrm{Linear}\\,\\mathrm{BN}\\,\\mathrm{ReLU}\\,\\mathrm{Linear},

with :math:`\\tilde A = A + \\mathrm{triu}(A, 1)^\\top` (the DAG made symmetric),
then per node :math:`\\mu = W_\\mu H^{(L)}` and :math:`\\log\\sigma = W_\\sigma H^{(L)}`.
The GCN variant (Kipf & Welling's (V)GAE) replaces each layer by
:math:`\\mathrm{ReLU}(D^{-1/2}(\\tilde A + I)D^{-1/2} H W)`.

Decoder: ``z`` (dropout 0.3) gives operation probabilities
:math:`\\sigma(W_o z)` and edge probabilities :math:`\\sigma(z z^\\top)`.

Loss: ``w_o·BCE(ops) + w_a·BCE(triu(adj, 1)) + KL`` (``ops_weight``, ``adj_weight``: 1 as the authors), the KL being the authors'
per-node normalisation :math:`-\\tfrac{1}{2BN}\\,\\mathrm{mean}_b \\sum_{n,d}(1 + 2\\log\\sigma - \\mu^2 - \\sigma^2)`.

Padding nodes (NB101 cells with fewer than 7 nodes) are rows of zeros in
``ops`` and ``adj``; the decoder learns to predict them as zeros, and
:func:`lib.arch2vec.metrics.decode_cells` reads a row whose operation
probabilities are all below 0.5 as padding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lib.arch2vec.config import Arch2VecConfig


def symmetrize(adj: torch.Tensor) -> torch.Tensor:
    """``A + triu(A, 1)ᵀ``: the encoder's view of a DAG's adjacency (authors' preprocessing)."""
    return adj + adj.triu(1).transpose(-1, -2)


class GINLayer(nn.Module):
    """One dense GIN layer: ``ReLU(BN(MLP((1+ε)x + Ãx)))``."""

    def __init__(self, in_dim: int, hidden_dim: int):
        super().__init__()
        self.eps = nn.Parameter(torch.zeros(1))
        self.mlp = nn.Sequential(
            nn.Linear(in_dim, hidden_dim), nn.BatchNorm1d(hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, hidden_dim)
        )
        self.norm = nn.BatchNorm1d(hidden_dim)

    def forward(self, x: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        h = (1 + self.eps) * x + adj @ x
        h = self.mlp(h.reshape(b * n, -1))
        return F.relu(self.norm(h)).reshape(b, n, -1)


class GCNLayer(nn.Module):
    """One dense GCN layer: ``ReLU(D^-1/2 (Ã + I) D^-1/2 x W)``."""

    def __init__(self, in_dim: int, hidden_dim: int):
        super().__init__()
        self.linear = nn.Linear(in_dim, hidden_dim)

    def forward(self, x: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        a = adj + torch.eye(adj.shape[-1], device=adj.device)
        d = a.sum(-1).clamp(min=1).rsqrt()
        a = d.unsqueeze(-1) * a * d.unsqueeze(-2)
        return F.relu(a @ self.linear(x))


class Encoder(nn.Module):
    """Graph encoder: ``(ops, adj)`` → per-node ``(mu, log_sigma)``, each ``(B, N, latent_dim)``."""

    def __init__(self, input_dim: int, config: Arch2VecConfig):
        super().__init__()
        layer = GINLayer if config.encoder == "gin" else GCNLayer
        dims = [input_dim] + [config.hidden_dim] * config.num_layers
        self.layers = nn.ModuleList(layer(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.fc_mu = nn.Linear(config.hidden_dim, config.latent_dim)
        self.fc_log_sigma = nn.Linear(config.hidden_dim, config.latent_dim)

    def forward(self, ops: torch.Tensor, adj: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, a = ops, symmetrize(adj)
        for layer in self.layers:
            x = layer(x, a)
        return self.fc_mu(x), self.fc_log_sigma(x)


class Decoder(nn.Module):
    """``z`` → ``(ops_prob (B, N, V), adj_prob (B, N, N))``: linear + sigmoid and inner product + sigmoid."""

    def __init__(self, latent_dim: int, output_dim: int, dropout: float):
        super().__init__()
        self.ops = nn.Linear(latent_dim, output_dim)
        self.dropout = dropout

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = F.dropout(z, p=self.dropout, training=self.training)
        return torch.sigmoid(self.ops(z)), torch.sigmoid(z @ z.transpose(-1, -2))


class Arch2Vec(nn.Module):
    """Variational graph autoencoder of arch2vec (or its GAE/GCN ablations, see :class:`Arch2VecConfig`).

    Args:
        vocabulary_size: Number of node labels (input, operations, output).
        config: Model and training settings.
    """

    def __init__(self, vocabulary_size: int, config: Arch2VecConfig):
        super().__init__()
        self.config = config
        self.encoder = Encoder(vocabulary_size, config)
        self.decoder = Decoder(config.latent_dim, vocabulary_size, config.dropout)

    def reparameterize(self, mu: torch.Tensor, log_sigma: torch.Tensor) -> torch.Tensor:
        """``mu + σ·ε`` while training a variational model, else ``mu``."""
        if self.training and self.config.variational:
            return mu + torch.randn_like(mu) * log_sigma.exp()
        return mu

    def forward(self, ops: torch.Tensor, adj: torch.Tensor):
        """Returns ``(ops_prob, adj_prob, mu, log_sigma)``."""
        mu, log_sigma = self.encoder(ops, adj)
        ops_prob, adj_prob = self.decoder(self.reparameterize(mu, log_sigma))
        return ops_prob, adj_prob, mu, log_sigma

    @torch.no_grad()
    def embed(self, ops: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        """Graph embeddings ``(B, latent_dim)``: the mean over nodes of the posterior means (eval mode)."""
        was_training = self.training
        self.eval()
        mu, _ = self.encoder(ops, adj)
        self.train(was_training)
        return mu.mean(dim=1)


def reconstruction_loss(
    ops_prob: torch.Tensor, adj_prob: torch.Tensor, ops: torch.Tensor, adj: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Binary cross-entropies of operations and of the strict upper triangle of the adjacency.

    As in the authors' code both are means over every entry of the padded
    tensors; the adjacency terms below and on the diagonal are zeroed in
    prediction and target, so only the upper triangle drives the loss.

    Returns:
        ``(ops_loss, adj_loss)`` scalars.
    """
    ops_loss = F.binary_cross_entropy(ops_prob, ops)
    adj_loss = F.binary_cross_entropy(adj_prob.triu(1), adj.triu(1))
    return ops_loss, adj_loss


def kl_divergence(mu: torch.Tensor, log_sigma: torch.Tensor) -> torch.Tensor:
    """KL(q(z|G) ‖ N(0, I)) with the authors' normalisation: the per-node KL averaged over nodes, divided by batch × nodes."""
    b, n, _ = mu.shape
    terms = 1 + 2 * log_sigma - mu.pow(2) - (2 * log_sigma).exp()
    return -0.5 / (b * n) * terms.sum(dim=2).mean()


def vae_loss(model: Arch2Vec, ops: torch.Tensor, adj: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
    """One forward pass and the training loss; returns ``(loss, parts)`` with the parts as floats."""
    ops_prob, adj_prob, mu, log_sigma = model(ops, adj)
    ops_loss, adj_loss = reconstruction_loss(ops_prob, adj_prob, ops, adj)
    loss = model.config.ops_weight * ops_loss + model.config.adj_weight * adj_loss
    kl = kl_divergence(mu, log_sigma) if model.config.variational else torch.zeros(())
    loss = loss + kl
    return loss, {"ops": ops_loss.item(), "adj": adj_loss.item(), "kl": kl.item()}
