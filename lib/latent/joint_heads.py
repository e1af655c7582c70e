"""Predictor heads on a latent space: trained alone on a frozen encoder, or jointly with a per-node graph VAE.

NAO-style search (:mod:`lib.nao_gvae`) needs heads ``f_k(z) ∈ [0, 1]`` on a
graph-level latent vector and gradient steps on ``Σ_k w_k·f_k(z)``. This
module gives that to any encoder:

* :func:`prediction_heads` — the heads of :class:`lib.latent.dag_gru.JointDAGVAE`
  (``Linear(latent→hidden)–Tanh–Linear(hidden→1)–Sigmoid`` each);
* :class:`HeadsOnly` + :func:`heads_loss` — the heads trained with
  :func:`lib.latent.train.fit` on *fixed* encodings, so the encoder that made
  them is never touched (the "without joint training" ablation);
* :class:`PooledJointVAE` + :func:`pooled_joint_loss` — a
  :class:`lib.latent.vae.GraphVAE` with per-node latents (arch2vec's GIN VAE)
  and heads on the **mean over nodes** of the posterior means (the graph
  embedding arch2vec's searches use, :meth:`GraphVAE.embed`), trained on the
  VAE's own loss plus the heads' masked MSE;
* :func:`move_nodes` — a gradient step for per-node latents: the heads see only
  the node mean ``z̄``, so the ascent runs on ``z̄`` (exactly as on a graph
  latent) and every node is then shifted by the same ``z̄_T − z̄_0``, which keeps
  each node's offset from the mean and moves the mean exactly as the ascent did.
"""

from __future__ import annotations

import torch
from torch import nn

from lib.latent.dag_gru import latent_ascent
from lib.latent.vae import GraphVAE, kl_divergence, reconstruction_loss

__all__ = ["HeadsOnly", "PooledJointVAE", "heads_loss", "masked_mse", "move_nodes", "pooled_joint_loss",
           "prediction_heads"]  # fmt: skip


def prediction_heads(latent_dim: int, hidden_dim: int, heads: int = 2) -> nn.ModuleList:
    """``heads`` predictors ``Linear(latent→hidden)–Tanh–Linear(hidden→1)–Sigmoid`` (as :class:`JointDAGVAE`'s)."""
    return nn.ModuleList(
        nn.Sequential(nn.Linear(latent_dim, hidden_dim), nn.Tanh(), nn.Linear(hidden_dim, 1), nn.Sigmoid())
        for _ in range(heads)
    )  # fmt: skip


def masked_mse(pred: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor | None,
               head_weights: tuple[float, ...]) -> tuple[torch.Tensor, dict[str, float]]:  # fmt: skip
    """``Σ_k w_k·MSE_k`` over the rows with ``mask`` 1 (all rows when ``None``; 0 when no row is labelled).

    The same terms, in the same order, as the head part of :func:`lib.latent.dag_gru.joint_loss`.
    """
    mask = torch.ones(len(pred), device=pred.device) if mask is None else mask
    count = mask.sum().clamp(min=1.0)
    loss = pred.new_zeros(())
    parts = {}
    for k, w in enumerate(head_weights):
        mse = (mask * (pred[:, k] - targets[:, k]).pow(2)).sum() / count
        loss = loss + w * mse
        parts[f"mse{k}"] = mse.item()
    return loss, parts


class HeadsOnly(nn.Module):
    """The heads of a model as a module of their own, to train them on fixed encodings.

    ``HeadsOnly(model.heads)`` shares the parameters (training it trains the
    model's heads) and holds nothing else: :func:`lib.latent.train.fit` then
    optimises the heads only and never calls ``train()`` on the encoder, so its
    parameters and BatchNorm statistics stay exactly as they were.
    """

    def __init__(self, heads: nn.ModuleList):
        super().__init__()
        self.heads = heads

    def predict(self, mu: torch.Tensor) -> torch.Tensor:
        """``(B, heads)`` outputs in [0, 1]."""
        return torch.cat([head(mu) for head in self.heads], dim=-1)


def heads_loss(model: HeadsOnly, mu: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor | None = None, *,
               head_weights: tuple[float, ...] = (1.0, 1.0)) -> tuple[torch.Tensor, dict[str, float]]:  # fmt: skip
    """The heads' masked MSE on fixed encodings ``mu`` (a loss for :func:`lib.latent.train.fit`)."""
    return masked_mse(model.predict(mu), targets, mask, head_weights)


class PooledJointVAE(nn.Module):
    """A per-node :class:`GraphVAE` with prediction heads on the mean over nodes of ``mu``.

    Args:
        vae: The graph VAE (e.g. a pretrained :class:`lib.arch2vec.model.Arch2Vec`); trained further jointly.
        hidden_dim: Head width.
        heads: Number of heads (performance, complexity: 2).
    """

    def __init__(self, vae: GraphVAE, hidden_dim: int, heads: int = 2):
        super().__init__()
        self.vae = vae
        self.heads = prediction_heads(vae.latent_dim, hidden_dim, heads)

    @property
    def latent_dim(self) -> int:
        return self.vae.latent_dim

    def predict(self, z: torch.Tensor) -> torch.Tensor:
        """``(B, heads)`` outputs of graph latents ``(B, d)``, or of per-node latents ``(B, N, d)`` (mean-pooled)."""
        pooled = z.mean(dim=1) if z.dim() == 3 else z
        return torch.cat([head(pooled) for head in self.heads], dim=-1)

    @torch.no_grad()
    def embed_nodes(self, ops: torch.Tensor, adj: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
        """Per-node posterior means ``(B, N, d)`` in eval mode, in batches."""
        was = self.training
        self.eval()
        out = [self.vae.encoder(ops[i : i + batch_size], adj[i : i + batch_size])[0]
               for i in range(0, len(ops), batch_size)]  # fmt: skip
        self.train(was)
        return torch.cat(out) if out else torch.zeros(0, ops.shape[1], self.latent_dim)

    @torch.no_grad()
    def generate(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-node latents ``(B, N, d)`` → ``(labels, edges)`` for :func:`lib.latent.decode.decode_cells`:
        the decoder in eval mode (no dropout), argmax operation per node, edges where ``σ(z zᵀ) ≥ 0.5``."""
        from lib.latent.decode import edge_matrix, node_labels

        was = self.vae.decoder.training
        self.vae.decoder.eval()
        ops_prob, adj_prob = self.vae.decoder(z)
        self.vae.decoder.train(was)
        return node_labels(ops_prob), edge_matrix(adj_prob)


def pooled_joint_loss(model: PooledJointVAE, ops: torch.Tensor, adj: torch.Tensor, targets: torch.Tensor | None = None,
                      mask: torch.Tensor | None = None, *,
                      head_weights: tuple[float, ...] = (1.0, 1.0)) -> tuple[torch.Tensor, dict[str, float]]:  # fmt: skip
    """The VAE's own loss (:func:`lib.latent.vae.vae_loss`: weighted operation and edge BCE + KL) plus the heads'
    masked MSE on the node mean of ``mu`` (a loss for :func:`lib.latent.train.fit`)."""
    vae = model.vae
    ops_prob, adj_prob, mu, log_sigma = vae(ops, adj)
    ops_loss, adj_loss = reconstruction_loss(ops_prob, adj_prob, ops, adj)
    kl = kl_divergence(mu, log_sigma) if vae.variational else torch.zeros(())
    loss = vae.ops_weight * ops_loss + vae.adj_weight * adj_loss + kl
    parts = {"ops": ops_loss.item(), "adj": adj_loss.item(), "kl": kl.item()}
    if targets is not None:
        mse, mse_parts = masked_mse(model.predict(mu), targets, mask, head_weights)
        loss = loss + mse
        parts |= mse_parts
    return loss, parts


def move_nodes(model, z: torch.Tensor, weights: tuple[float, ...], *, steps: int, step_size: float) -> torch.Tensor:
    """Gradient ascent for per-node latents ``(B, N, d)`` whose heads read the node mean (see the module docstring).

    Returns ``z + (z̄_T − z̄_0)`` per node, where ``z̄_T`` is :func:`lib.latent.dag_gru.latent_ascent` from
    ``z̄_0 = z.mean(1)``; ``model`` needs ``predict`` on graph latents ``(B, d)``.
    """
    start = z.mean(dim=1)
    moved = latent_ascent(model, start, weights, steps=steps, step_size=step_size)
    return (z + (moved - start).unsqueeze(1)).detach()
