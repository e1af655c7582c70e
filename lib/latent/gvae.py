"""A graph-level VAE: message passing, sum pooling to one latent vector per cell, an MLP decoder (CR-LSO's G-VAE).

The encoder reuses :class:`~lib.latent.encoders.GraphEncoder`'s GIN layers and
its two linear heads, applied to the *sum over real nodes* (padding rows of
``ops`` are all zero and are masked out) of the last layer's node features, divided by
the fixed ``max_nodes`` (a constant rescaling: still sum pooling, with a sane initial KL), so
``mu, log_sigma`` are ``(B, d)``. The decoder maps ``z`` through an MLP to
operation and upper-triangular edge probabilities of the padded cell, scored
with :func:`lib.latent.vae.reconstruction_loss`; decoding to cells goes through
:func:`lib.latent.decode.decode_cells`.

Differences from the authors' G-VAE: NB201's edge-aware message passing is not
reproduced (this study encodes NB201 cells as node-labelled DAGs, operations on
nodes, so plain GIN sees the same information).
"""

from __future__ import annotations

import torch
from torch import nn

from lib.latent.encoders import GraphEncoder
from lib.latent.vae import reconstruction_loss


class PooledGraphVAE(nn.Module):
    """``(ops, adj) → (ops_prob, adj_prob, mu, log_sigma)`` with graph-level ``mu, log_sigma (B, d)``.

    Args:
        input_dim: Node-label vocabulary size.
        max_nodes: Nodes of the padded encoding.
        hidden_dim: Width of the GIN layers and of the decoder MLP.
        latent_dim: Size of the graph latent vector.
        num_layers: Message-passing layers.
    """

    def __init__(self, input_dim: int, max_nodes: int, hidden_dim: int = 256, latent_dim: int = 16,
                 num_layers: int = 3):  # fmt: skip
        super().__init__()
        self.encoder = GraphEncoder(input_dim, hidden_dim, latent_dim, num_layers, "gin")
        self.max_nodes, self.vocab = max_nodes, input_dim
        self.decoder = nn.Sequential(nn.Linear(latent_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, hidden_dim),
                                     nn.ReLU(), nn.Linear(hidden_dim, max_nodes * (input_dim + max_nodes)))  # fmt: skip

    @property
    def latent_dim(self) -> int:
        return self.encoder.latent_dim

    def encode(self, ops: torch.Tensor, adj: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Graph-level ``(mu, log_sigma)``, each ``(B, latent_dim)``."""
        from lib.latent.encoders import symmetrize

        x, a = ops, symmetrize(adj)
        for layer in self.encoder.layers:
            x = layer(x, a)
        mask = (ops.sum(-1, keepdim=True) > 0).to(x.dtype)
        pooled = (x * mask).sum(1) / self.max_nodes  # sum pooling; the fixed 1/N only rescales the heads' init
        return self.encoder.fc_mu(pooled), self.encoder.fc_log_sigma(pooled)

    def decode(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``z (B, d)`` → ``(ops_prob (B, N, V), adj_prob (B, N, N))``, the edges zero outside the strict upper triangle."""
        n, v = self.max_nodes, self.vocab
        out = self.decoder(z)
        ops = torch.sigmoid(out[:, : n * v].reshape(-1, n, v))
        adj = torch.sigmoid(out[:, n * v :].reshape(-1, n, n)).triu(1)
        return ops, adj

    def forward(self, ops: torch.Tensor, adj: torch.Tensor):
        mu, log_sigma = self.encode(ops, adj)
        z = mu + torch.randn_like(mu) * log_sigma.exp() if self.training else mu
        ops_prob, adj_prob = self.decode(z)
        return ops_prob, adj_prob, mu, log_sigma

    @torch.no_grad()
    def embed(self, ops: torch.Tensor, adj: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
        """Posterior means ``(B, d)`` in eval mode, in batches."""
        was = self.training
        self.eval()
        out = torch.cat([self.encode(ops[i : i + batch_size], adj[i : i + batch_size])[0]
                         for i in range(0, len(ops), batch_size)])  # fmt: skip
        self.train(was)
        return out


def graph_kl(mu: torch.Tensor, log_sigma: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, σ²) ‖ N(0, I)) summed over dimensions, averaged over the batch."""
    return -0.5 * (1 + 2 * log_sigma - mu.pow(2) - (2 * log_sigma).exp()).sum(-1).mean()


def gvae_loss(model: PooledGraphVAE, ops: torch.Tensor, adj: torch.Tensor, beta: float = 0.005):
    """Reconstruction (operation + edge BCE) + ``beta``·KL; returns ``(loss, parts)``."""
    ops_prob, adj_prob, mu, log_sigma = model(ops, adj)
    ops_loss, adj_loss = reconstruction_loss(ops_prob, adj_prob, ops, adj)
    kl = graph_kl(mu, log_sigma)
    return ops_loss + adj_loss + beta * kl, {"ops": ops_loss.item(), "adj": adj_loss.item(), "kl": kl.item()}
