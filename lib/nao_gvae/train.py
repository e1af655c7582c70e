"""The cached unsupervised warm start of the joint model and its semi-supervised fine-tuning (on :mod:`lib.latent.train`).

* :func:`warm_start` — the VAE terms (NLL + KL) on every pretraining cell of the
  space, no labels; cached once per configuration under ``cache_dir()/nao_gvae/``.
* :func:`fine_tune` — the full loss (NLL + KL + both MSE terms) on the
  labelled cells plus as many unlabelled cells of the space drawn at random,
  with the unlabelled cells masked out of the MSE terms; used inside a search
  after each round of queries;
* :func:`fine_tune_heads` — the heads alone on a frozen encoder's encodings, on the
  same batches (the "without joint training" ablation).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
import torch

from lib.latent.dag_gru import JointDAGVAE, joint_loss
from lib.latent.joint_heads import HeadsOnly, PooledJointVAE, heads_loss, pooled_joint_loss
from lib.latent.train import CheckpointCache, Trained, fit, model_identity, train_cached
from lib.nao_gvae.config import NaoGvaeConfig

__all__ = ["CACHE", "WarmStarted", "build_model", "fine_tune", "fine_tune_heads", "fine_tune_pooled", "finetune_rows", "head_weights",
           "model_identity", "space_tensors", "warm_start"]

CACHE = CheckpointCache("nao_gvae", version=1)
"""The warm-start checkpoints, ``cache_dir()/nao_gvae/``."""


@dataclass
class WarmStarted(Trained):
    """A warm-started joint model (see :class:`lib.latent.train.Trained`)."""

    model: JointDAGVAE
    config: NaoGvaeConfig
    kind: str = "nao_gvae"


def space_tensors(config: NaoGvaeConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """The space's pretraining cells as dense ``(ops, adj)``."""
    return config.make_space().pretraining_tensors(num_cells=config.num_cells, seed=config.seed)


def build_model(config: NaoGvaeConfig) -> JointDAGVAE:
    """An untrained joint model of the configuration (two heads: performance, complexity).

    Generation puts the input in the first slot and the output in the last, where the dense layout of
    :meth:`lib.spaces.SearchSpace.encode` always has them.
    """
    space = config.make_space()
    vocab = list(space.vocabulary)
    return JointDAGVAE(len(vocab), space.max_nodes, config.hidden_dim, config.latent_dim, heads=2,
                       fixed_types={0: vocab.index("input"), -1: vocab.index("output")})  # fmt: skip


def _plateau(config: NaoGvaeConfig) -> dict:
    return {"factor": config.plateau_factor, "patience": config.plateau_patience}


def warm_start(config: NaoGvaeConfig, *, data=None, device=None, use_cache: bool = True, progress: bool = False,
               threads: int = 2) -> WarmStarted:  # fmt: skip
    """Trains the VAE terms on the space's cells (no labels) or loads the cached checkpoint."""
    loss = partial(joint_loss, kl_weight=config.kl_weight)

    def train(ops, adj, device):
        return fit(lambda: build_model(config), (ops, adj), loss, epochs=config.epochs, batch_size=config.batch_size,
                   lr=config.lr, seed=config.seed, device=device, progress=progress, desc=f"nao_gvae {config.space}",
                   plateau=_plateau(config))  # fmt: skip

    return train_cached(CACHE, config, name=config.space, build=lambda: build_model(config), train=train,
                        load_data=lambda: space_tensors(config), data=data, device=device, use_cache=use_cache,
                        threads=threads, result=WarmStarted)  # fmt: skip


def fine_tune(model: JointDAGVAE, config: NaoGvaeConfig, ops: torch.Tensor, adj: torch.Tensor,
              labelled: np.ndarray, targets: np.ndarray, *, epochs: int, seed: int, unlabelled: int | None = None,
              lr: float | None = None) -> tuple[JointDAGVAE, list[dict]]:  # fmt: skip
    """Semi-supervised fine-tuning in place: labelled rows with their targets plus random unlabelled rows.

    Args:
        model: The joint model (trained further, returned in eval mode).
        config: Its configuration (loss weights, batch size, learning rate).
        ops, adj: Dense tensors of every cell the model may train on (the pool).
        labelled: Row indices of the labelled cells.
        targets: ``(len(labelled), 2)`` head targets in [0, 1].
        epochs: Passes over the fine-tuning set.
        seed: Seed of the unlabelled draw and of the batch order.
        unlabelled: Unlabelled rows to add (``None``: as many as labelled ones); they train the VAE terms only.
        lr: Learning rate (``None``: the configuration's).
    """
    rows, y, mask = finetune_rows(len(ops), labelled, targets, seed=seed, unlabelled=unlabelled)
    loss = partial(joint_loss, kl_weight=config.kl_weight, head_weights=head_weights(config))
    return fit(model, (ops[rows], adj[rows], y, mask), loss, epochs=epochs, batch_size=config.batch_size,
               lr=config.lr if lr is None else lr, seed=seed, device="cpu")  # fmt: skip


def head_weights(config: NaoGvaeConfig) -> tuple[float, float]:
    """The MSE weights of the performance and complexity heads."""
    return (config.perf_weight, config.cmplx_weight)


def finetune_rows(num_rows: int, labelled: np.ndarray, targets: np.ndarray, *, seed: int,
                  unlabelled: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
    """The fine-tuning set of :func:`fine_tune`: ``(rows, targets, mask)`` — the labelled rows first, then
    ``unlabelled`` (``None``: as many as labelled) other rows of ``range(num_rows)`` drawn with ``seed``, whose
    targets are 0 and mask 0 (they train the VAE terms only)."""
    labelled = np.asarray(labelled, dtype=np.int64)
    rest = np.setdiff1d(np.arange(num_rows), labelled)
    k = min(len(rest), len(labelled) if unlabelled is None else int(unlabelled))
    extra = np.random.default_rng(seed).choice(rest, size=k, replace=False) if k else np.zeros(0, np.int64)
    rows = torch.as_tensor(np.concatenate([labelled, extra]))
    y = torch.zeros(len(rows), 2)
    y[: len(labelled)] = torch.as_tensor(np.asarray(targets, dtype=np.float32))
    mask = torch.zeros(len(rows))
    mask[: len(labelled)] = 1.0
    return rows, y, mask


def fine_tune_heads(heads: torch.nn.ModuleList, encode, config: NaoGvaeConfig, num_rows: int,
                    labelled: np.ndarray, targets: np.ndarray, *, epochs: int, seed: int,
                    unlabelled: int | None = None, lr: float | None = None) -> list[dict]:  # fmt: skip
    """The "without joint training" counterpart of :func:`fine_tune`: only ``heads`` learn, on fixed encodings.

    The fine-tuning set, batch order, batch size, epochs and learning rate are those :func:`fine_tune` would
    use with the same arguments (the unlabelled rows stay in the batches, masked out of the MSE), so both take
    the same number of optimiser steps; only the VAE terms and the encoder's gradients are missing.

    Args:
        heads: The heads to train in place (e.g. ``model.heads``); nothing else is touched.
        encode: ``encode(rows) -> (len(rows), d)`` fixed graph encodings of pool rows (no gradient).
        config: Loss weights, batch size, learning rate.
        num_rows: Pool size (rows the unlabelled cells are drawn from).
        labelled, targets, epochs, seed, unlabelled, lr: As in :func:`fine_tune`.

    Returns:
        The training history.
    """
    rows, y, mask = finetune_rows(num_rows, labelled, targets, seed=seed, unlabelled=unlabelled)
    with torch.no_grad():
        mu = encode(rows).detach()
    loss = partial(heads_loss, head_weights=head_weights(config))
    _, history = fit(HeadsOnly(heads), (mu, y, mask), loss, epochs=epochs, batch_size=config.batch_size,
                     lr=config.lr if lr is None else lr, seed=seed, device="cpu")  # fmt: skip
    return history


def fine_tune_pooled(model: PooledJointVAE, config: NaoGvaeConfig, ops: torch.Tensor, adj: torch.Tensor,
                     labelled: np.ndarray, targets: np.ndarray, *, epochs: int, seed: int,
                     unlabelled: int | None = None, lr: float | None = None) -> tuple[PooledJointVAE, list[dict]]:  # fmt: skip
    """:func:`fine_tune` for the arch2vec backbone: the same fine-tuning set, batches, epochs and learning rate,
    with the per-node VAE's own loss (:func:`lib.latent.joint_heads.pooled_joint_loss`: operation and edge BCE +
    KL, arch2vec's normalisation) plus the heads' masked MSE on the node mean of ``mu``."""
    rows, y, mask = finetune_rows(len(ops), labelled, targets, seed=seed, unlabelled=unlabelled)
    loss = partial(pooled_joint_loss, head_weights=head_weights(config))
    return fit(model, (ops[rows], adj[rows], y, mask), loss, epochs=epochs, batch_size=config.batch_size,
               lr=config.lr if lr is None else lr, seed=seed, device="cpu")  # fmt: skip
