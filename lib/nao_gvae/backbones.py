"""The latent models ``nao_gvae`` can search in: what each one trains, encodes, moves and decodes.

Four variants, ``backbone`` × ``joint``:

* ``"dvae"``, joint (the default): the D-VAE-style :class:`~lib.latent.dag_gru.JointDAGVAE` from the
  cached warm start, fine-tuned on all four terms (:func:`lib.nao_gvae.train.fine_tune`); the heads read
  the graph latent ``μ``; moved points are decoded node by node.
* ``"dvae"``, frozen (``joint=False``): the same warm start, the encoder and decoder never trained; only
  the heads learn, on the frozen ``μ`` (:func:`lib.nao_gvae.train.fine_tune_heads`).
* ``"arch2vec"``, joint: arch2vec's cached pretrained GIN VAE (:func:`lib.arch2vec.train.pretrain`,
  per-node latents ``(N, 16)``) wrapped in :class:`~lib.latent.joint_heads.PooledJointVAE`: the same two
  heads read the mean over nodes of ``μ`` (arch2vec's graph embedding); fine-tuned on arch2vec's loss
  (operation and edge BCE + KL) plus the heads' MSE (:func:`lib.nao_gvae.train.fine_tune_pooled`).
* ``"arch2vec"``, frozen: arch2vec's encoder as pretrained, only the heads learn on its node-mean
  embeddings — the issue's "frozen arch2vec encoder with the same two heads and the same gradient steps".

For arch2vec a start is a cell's per-node posterior means; the gradient steps run on their node mean and
every node is shifted by the mean's displacement (:func:`lib.latent.joint_heads.move_nodes`); the moved
per-node latents go through arch2vec's decoder (argmax operation per node, edges where ``σ(z zᵀ) ≥ 0.5``)
and :func:`lib.latent.decode.decode_cells`. Random restarts draw every node's latent from ``N(0, I)``
(arch2vec's prior) instead of one graph latent.
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from lib.arch2vec.train import config_for_space as arch2vec_config
from lib.arch2vec.train import pretrain
from lib.latent.dag_gru import latent_ascent
from lib.latent.joint_heads import PooledJointVAE, move_nodes
from lib.nao_gvae.config import NaoGvaeConfig
from lib.nao_gvae.train import fine_tune, fine_tune_heads, fine_tune_pooled

BACKBONES = ("dvae", "arch2vec")

ABLATIONS = {"frozen": {"joint": False}, "arch2vec": {"backbone": "arch2vec"},
             "arch2vec_frozen": {"backbone": "arch2vec", "joint": False}}
"""The issue's ablations as ``nao_gvae`` hyper-parameters (the default is ``backbone="dvae", joint=True``)."""

__all__ = ["ABLATIONS", "BACKBONES", "Arch2VecBackbone", "DVAEBackbone", "load_arch2vec"]


def load_arch2vec(space, pretrain_epochs: int | None = None):
    """arch2vec's cached pretrained model of the space (its default configuration; ``pretrain_epochs`` overrides)."""
    overrides = {} if pretrain_epochs is None else {"epochs": int(pretrain_epochs)}
    return pretrain(arch2vec_config(space, **overrides), progress=False)


class DVAEBackbone:
    """The D-VAE joint model (a copy of the warm start :class:`~lib.nao_gvae.train.WarmStarted`), trained jointly
    or with a frozen encoder.

    Every backbone has ``tune`` (one round's training), ``starts`` (encodings of pool rows to ascend from),
    ``random_starts``, ``ascend`` (gradient steps on ``f_perf − λ·f_cmplx``) and ``generate`` (moved points →
    ``(labels, edges)`` for :func:`lib.latent.decode.decode_cells`).
    """

    def __init__(self, warm, config: NaoGvaeConfig, joint: bool):
        self.model, self.config, self.joint = copy.deepcopy(warm.model).cpu(), config, joint
        self.latent_dim = self.model.latent_dim

    def tune(self, ops, adj, labelled, targets, *, epochs: int, seed: int, lr: float | None) -> None:
        if self.joint:
            fine_tune(self.model, self.config, ops, adj, labelled, targets, epochs=epochs, seed=seed, lr=lr)
        else:
            fine_tune_heads(self.model.heads, lambda rows: self.model.embed(ops[rows], adj[rows]), self.config,
                            len(ops), labelled, targets, epochs=epochs, seed=seed, lr=lr)  # fmt: skip

    def starts(self, ops, adj) -> torch.Tensor:
        return self.model.embed(ops, adj)

    def random_starts(self, rng: np.random.Generator, k: int) -> torch.Tensor:
        return torch.as_tensor(rng.standard_normal((k, self.latent_dim)), dtype=torch.float32)

    def ascend(self, z: torch.Tensor, lam: float, steps: int, step_size: float) -> torch.Tensor:
        return latent_ascent(self.model, z, (1.0, -lam), steps=steps, step_size=step_size)

    def generate(self, z: torch.Tensor):
        return self.model.decoder.generate(z)


class Arch2VecBackbone:
    """arch2vec's GIN VAE (a copy of the cached pretrained model) with the two heads on its node-mean ``μ``.

    The heads (width ``config.hidden_dim``) are initialised with ``torch.manual_seed(config.seed)`` (the
    global stream is restored), as the D-VAE's are by its warm start.
    """

    def __init__(self, pretrained, config: NaoGvaeConfig, joint: bool, max_nodes: int):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            self.model = PooledJointVAE(copy.deepcopy(pretrained.model).cpu().eval(), config.hidden_dim)
        self.config, self.joint, self.max_nodes = config, joint, max_nodes
        self.latent_dim = self.model.latent_dim

    def tune(self, ops, adj, labelled, targets, *, epochs: int, seed: int, lr: float | None) -> None:
        if self.joint:
            fine_tune_pooled(self.model, self.config, ops, adj, labelled, targets, epochs=epochs, seed=seed, lr=lr)
        else:
            fine_tune_heads(self.model.heads, lambda rows: self.model.embed_nodes(ops[rows], adj[rows]).mean(1),
                            self.config, len(ops), labelled, targets, epochs=epochs, seed=seed, lr=lr)  # fmt: skip

    def starts(self, ops, adj) -> torch.Tensor:
        return self.model.embed_nodes(ops, adj)

    def random_starts(self, rng: np.random.Generator, k: int) -> torch.Tensor:
        return torch.as_tensor(rng.standard_normal((k, self.max_nodes, self.latent_dim)), dtype=torch.float32)

    def ascend(self, z: torch.Tensor, lam: float, steps: int, step_size: float) -> torch.Tensor:
        return move_nodes(self.model, z, (1.0, -lam), steps=steps, step_size=step_size)

    def generate(self, z: torch.Tensor):
        return self.model.generate(z)

