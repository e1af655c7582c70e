"""A variational graph autoencoder over dense cells and its training loss.

Loss: ``w_o·BCE(ops) + w_a·BCE(triu(adj, 1)) + KL``, the KL with arch2vec's
per-node normalisation :math:`-\\tfrac{1}{2BN}\\,\\mathrm{mean}_b \\sum_{n,d}(1 + 2\\log\\sigma - \\mu^2 - \\sigma^2)`.

Padding nodes (cells with fewer nodes than the space's ``max_nodes``) are rows
of zeros in ``ops`` and ``adj``; the decoder learns to predict them as zeros.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class GraphVAE(nn.Module):
    """An encoder giving per-node ``(mu, log_sigma)`` and a decoder of ``z``; a plain autoencoder when not variational.

    Args:
        encoder: ``(ops, adj) → (mu, log_sigma)``, e.g. :class:`~lib.latent.encoders.GraphEncoder`.
        decoder: ``z → (ops_prob, adj_prob)``, e.g. :class:`~lib.latent.decoders.GraphDecoder`.
        variational: Sample ``z`` while training and add the KL term (VGAE), or ``z = mu`` (GAE).
        ops_weight: Weight of the operation term of :func:`vae_loss`.
        adj_weight: Weight of the edge term.
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, *, variational: bool = True, ops_weight: float = 1.0,
                 adj_weight: float = 1.0):  # fmt: skip
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.variational, self.ops_weight, self.adj_weight = variational, ops_weight, adj_weight

    @property
    def latent_dim(self) -> int:
        return self.encoder.latent_dim

    def reparameterize(self, mu: torch.Tensor, log_sigma: torch.Tensor) -> torch.Tensor:
        """``mu + σ·ε`` while training a variational model, else ``mu``."""
        if self.training and self.variational:
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

    As in arch2vec's code both are means over every entry of the padded
    tensors; the adjacency terms below and on the diagonal are zeroed in
    prediction and target, so only the upper triangle drives the loss.

    Returns:
        ``(ops_loss, adj_loss)`` scalars.
    """
    ops_loss = F.binary_cross_entropy(ops_prob, ops)
    adj_loss = F.binary_cross_entropy(adj_prob.triu(1), adj.triu(1))
    return ops_loss, adj_loss


def kl_divergence(mu: torch.Tensor, log_sigma: torch.Tensor) -> torch.Tensor:
    """KL(q(z|G) ‖ N(0, I)) with arch2vec's normalisation: the per-node KL averaged over nodes, divided by batch × nodes."""
    b, n, _ = mu.shape
    terms = 1 + 2 * log_sigma - mu.pow(2) - (2 * log_sigma).exp()
    return -0.5 / (b * n) * terms.sum(dim=2).mean()


def vae_loss(model: GraphVAE, ops: torch.Tensor, adj: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
    """One forward pass and the training loss; returns ``(loss, parts)`` with the parts as floats."""
    ops_prob, adj_prob, mu, log_sigma = model(ops, adj)
    ops_loss, adj_loss = reconstruction_loss(ops_prob, adj_prob, ops, adj)
    loss = model.ops_weight * ops_loss + model.adj_weight * adj_loss
    kl = kl_divergence(mu, log_sigma) if model.variational else torch.zeros(())
    loss = loss + kl
    return loss, {"ops": ops_loss.item(), "adj": adj_loss.item(), "kl": kl.item()}


def dense_vae_tensors(ops: torch.Tensor, adj: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(ops, symmetrize(adj), triu(adj, 1))``: what :func:`vae_loss_dense` needs, computed once for a data set."""
    from lib.latent.encoders import symmetrize

    return ops, symmetrize(adj), adj.triu(1)


def vae_loss_dense(
    model: GraphVAE, ops: torch.Tensor, sym_adj: torch.Tensor, adj_target: torch.Tensor
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """:func:`vae_loss` on precomputed tensors (:func:`dense_vae_tensors`), parts as detached tensors (no host sync).

    The same operations in the same order as :func:`vae_loss` (the symmetrised
    adjacency and the target's ``triu(1)`` come precomputed, which gives the
    same values), so training with either gives the same model bit for bit;
    the model's encoder must have ``forward_symmetric``
    (:class:`~lib.latent.encoders.GraphEncoder`).
    """
    mu, log_sigma = model.encoder.forward_symmetric(ops, sym_adj)
    ops_prob, adj_prob = model.decoder(model.reparameterize(mu, log_sigma))
    ops_loss = F.binary_cross_entropy(ops_prob, ops)
    adj_loss = F.binary_cross_entropy(adj_prob.triu(1), adj_target)
    loss = model.ops_weight * ops_loss + model.adj_weight * adj_loss
    kl = kl_divergence(mu, log_sigma) if model.variational else torch.zeros(())
    loss = loss + kl
    return loss, {"ops": ops_loss.detach(), "adj": adj_loss.detach(), "kl": kl.detach()}
