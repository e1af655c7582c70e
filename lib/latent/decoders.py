"""Graph decoders: per-node latent vectors ``z`` → operation and edge probabilities."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class GraphDecoder(nn.Module):
    """``z (B, N, d)`` → ``(ops_prob (B, N, V), adj_prob (B, N, N))``.

    Operations :math:`\\sigma(W_o z)` and edges by inner product
    :math:`\\sigma(z z^\\top)` (Kipf & Welling's ``InnerProductDecoder``), after
    dropout on ``z`` while training.

    Args:
        latent_dim: Size of the per-node latent vector.
        output_dim: Node-label vocabulary size.
        dropout: Dropout probability on ``z``.
    """

    def __init__(self, latent_dim: int, output_dim: int, dropout: float = 0.0):
        super().__init__()
        self.ops = nn.Linear(latent_dim, output_dim)
        self.dropout = dropout

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = F.dropout(z, p=self.dropout, training=self.training)
        return torch.sigmoid(self.ops(z)), torch.sigmoid(z @ z.transpose(-1, -2))
