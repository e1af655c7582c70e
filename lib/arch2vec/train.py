"""Pretraining of arch2vec, its checkpoint cache and embeddings (on :mod:`lib.latent.train`).

``pretrain(default_config("nb201"))`` trains once and saves
``cache_dir()/arch2vec/<space>-<hash>.pt``; a second call with the same
configuration (and data) loads it. :func:`embed` turns cells into the
16-dimensional vectors that the searches of :mod:`lib.arch2vec.search` use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from lib.arch2vec.config import Arch2VecConfig, default_config
from lib.arch2vec.model import Arch2Vec
from lib.cell import Cell
from lib.config import ParameterError
from lib.results import code_version
from lib.encoding import encode_dense
from lib.latent.train import CheckpointCache, Trained, fit_lean, model_identity, pick_device, state_digest, train_cached
from lib.latent.grouped import fit_grouped
from lib.latent.vae import dense_vae_tensors, vae_loss_dense
from lib.spaces import SearchSpace

__all__ = ["CACHE", "PRETRAIN_THREADS", "Pretrained", "checkpoint_path", "config_for_space", "embed",
           "embed_tensors", "GROUPED_CACHE", "model_identity", "pick_device", "pretrain", "pretrain_replicate",
           "pretrain_seeds", "REPLICATE_GROUP_SIZE", "replicate_group", "space_tensors", "split_indices",
           "state_digest", "train_model"]  # fmt: skip

CACHE = CheckpointCache("arch2vec", version=1)
"""arch2vec's checkpoints, ``cache_dir()/arch2vec/``."""

GROUPED_CACHE = CheckpointCache("arch2vec-grouped", version=1)
"""Checkpoints of :func:`pretrain_seeds` (``cache_dir()/arch2vec-grouped/``), apart from :data:`CACHE`'s:
:func:`~lib.latent.grouped.fit_grouped` trains other weights than :func:`pretrain` for the same configuration."""

PRETRAIN_THREADS = 2
"""Torch threads every pretraining uses, wherever it runs (CPU training is deterministic per thread count)."""


def space_tensors(config: Arch2VecConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """The space's pretraining cells (:meth:`SearchSpace.pretraining_tensors`) as dense float32 ``(ops, adj)``.

    ``config.num_cells`` keeps the first cells of an enumerated space, or
    sets how many cells a sampled one (DARTS) draws with ``config.seed``.
    """
    return config.make_space().pretraining_tensors(num_cells=config.num_cells, seed=config.seed)


def split_indices(num_cells: int, config: Arch2VecConfig) -> tuple[np.ndarray, np.ndarray]:
    """``(train, held_out)`` row indices: the first ``train_fraction`` of the (optionally shuffled) cells."""
    order = np.arange(num_cells)
    if config.shuffle_split:
        order = np.random.default_rng(config.seed).permutation(num_cells)
    cut = int(round(num_cells * config.train_fraction))
    return order[:cut], order[cut:]


@dataclass
class Pretrained(Trained):
    """A trained arch2vec model (see :class:`lib.latent.train.Trained` for the fields)."""

    model: Arch2Vec
    config: Arch2VecConfig
    kind: str = "arch2vec"

    @property
    def space(self) -> SearchSpace:
        return self.config.make_space()

    def embed(self, cells: Sequence[Cell], *, batch_size: int = 4096) -> np.ndarray:
        """``(len(cells), latent_dim)`` float32 embeddings (mean over nodes of the posterior means)."""
        ops, adj = encode_dense(self.space, cells)
        return embed_tensors(self.model, ops, adj, batch_size=batch_size)


def embed_tensors(model, ops: torch.Tensor, adj: torch.Tensor, *, batch_size: int = 4096) -> np.ndarray:
    """Embeddings of dense tensors by a :class:`~lib.latent.vae.GraphVAE`, in batches, on the model's device."""
    device = next(model.parameters()).device
    out = [model.embed(ops[i : i + batch_size].to(device), adj[i : i + batch_size].to(device)).cpu()
           for i in range(0, len(ops), batch_size)]  # fmt: skip
    return torch.cat(out).numpy() if out else np.zeros((0, model.latent_dim), np.float32)


def checkpoint_path(config: Arch2VecConfig, data_digest: str = "space") -> Path:
    """Where the checkpoint of ``config`` (trained on ``data_digest``) is cached."""
    return CACHE.path(config.space, config.config_hash(), data_digest)


def pretrain(
    config: Arch2VecConfig,
    *,
    data: tuple[torch.Tensor, torch.Tensor] | None = None,
    device: str | torch.device | None = None,
    use_cache: bool = True,
    progress: bool = True,
    threads: int = PRETRAIN_THREADS,
) -> Pretrained:
    """Trains arch2vec on a space (or on given tensors), or loads the cached checkpoint.

    Args:
        config: Model and training settings (:func:`default_config` gives the paper's).
        data: Optional ``(ops, adj)`` dense tensors to train on instead of the
            space's cells; they enter the cache key.
        device: ``"cpu"``, ``"cuda"``…; picked automatically when ``None``.
        use_cache: Load a cached checkpoint if present and save the trained one.
        progress: Show a progress bar per epoch with the running loss.
        threads: Torch threads to train with (:data:`PRETRAIN_THREADS`).

    Returns:
        The trained model (on ``device``, eval mode) and its history. The
        global torch random state is the same after the call as before.
    """
    vocab = len(config.make_space().vocabulary)
    return train_cached(
        CACHE, config, name=config.space, build=lambda: Arch2Vec(vocab, config),
        train=lambda ops, adj, device: train_model(config, ops, adj, device=device, progress=progress),
        load_data=lambda: space_tensors(config), data=data, device=device, use_cache=use_cache, threads=threads,
        result=Pretrained,
    )  # fmt: skip


def train_model(
    config: Arch2VecConfig,
    ops: torch.Tensor,
    adj: torch.Tensor,
    *,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> tuple[Arch2Vec, list[dict]]:
    """The training loop without caching, on the training split.

    :func:`lib.latent.train.fit_lean` on precomputed dense tensors
    (:func:`lib.latent.vae.dense_vae_tensors`, :func:`lib.latent.vae.vae_loss_dense`):
    the same model bit for bit as :func:`lib.latent.train.fit` with
    :func:`lib.latent.vae.vae_loss` (tested), with less work per step, so
    cached checkpoints stay valid (``CACHE.version`` unchanged).

    Returns:
        ``(model in eval mode, history)``; see :func:`lib.latent.train.fit` for the history fields.
    """
    train_idx, _ = split_indices(len(ops), config)
    index = torch.as_tensor(train_idx)
    return fit_lean(lambda: Arch2Vec(ops.shape[-1], config), dense_vae_tensors(ops[index], adj[index]),
               vae_loss_dense, epochs=config.epochs,
               batch_size=config.batch_size, lr=config.lr, grad_clip=config.grad_clip, seed=config.seed,
               device=device, progress=progress, desc=config.space)  # fmt: skip


def embed(space: SearchSpace, cells: Sequence[Cell], config: Arch2VecConfig | None = None, **kwargs) -> np.ndarray:
    """Embeddings of cells with the space's pretrained model (trained on first use, then cached).

    Args:
        space: The cells' space; picks the default configuration when ``None``.
        cells: Cells of ``space``.
        config: Optional configuration (e.g. fewer epochs).
        **kwargs: Passed to :func:`pretrain` (``device``, ``progress``).

    Returns:
        ``(len(cells), latent_dim)`` float32 array.
    """
    config = config or config_for_space(space)
    return pretrain(config, **kwargs).embed(cells)


def config_for_space(space: SearchSpace, **overrides) -> Arch2VecConfig:
    """The default configuration of a space object (its own operation set)."""
    return default_config(space.name, operations=tuple(space.operations), **overrides)


def pretrain_seeds(
    config: Arch2VecConfig,
    seeds: Sequence[int] = (0, 1, 2),
    *,
    device: str | torch.device | None = None,
    use_cache: bool = True,
    progress: bool = True,
    threads: int = PRETRAIN_THREADS,
) -> list[Pretrained]:
    """One pretrained model per seed (``config`` with that seed), the missing ones trained together.

    :func:`lib.latent.grouped.fit_grouped` trains all seeds of the group at
    once (much less than ``len(seeds)`` times the time of one). Each model is
    cached on its own, as ``cache_dir()/arch2vec-grouped/<space>-group<seeds>-<hash>.pt``
    (:data:`GROUPED_CACHE`; the group is in the name because batched float sums
    round a little differently with another group), and is a :class:`Pretrained`
    like :func:`pretrain`'s, with ``trainer`` and ``group`` in its provenance.
    These are not :func:`pretrain`'s models for the same configuration (other
    noise streams, fused Adam): a table built on them names their digests.

    Args:
        config: Settings of every model but the seed.
        seeds: Distinct seeds (≥ 1).
        device, use_cache, progress, threads: As in :func:`pretrain`.

    Raises:
        ValueError: No seeds, repeated seeds, a model ``fit_grouped`` cannot train (GCN encoder), or a
            space whose cells depend on the seed (DARTS samples them): use :func:`pretrain` per seed.
    """
    seeds = tuple(int(s) for s in seeds)
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"pretrain_seeds: give distinct seeds, got {seeds}")
    if config.num_cells is not None and config.make_space().name == "darts":
        raise ValueError("pretrain_seeds: DARTS samples its cells with the seed; call pretrain once per seed")
    if config.encoder != "gin":
        raise ValueError(f"pretrain_seeds: trains GIN encoders only, got encoder={config.encoder!r}; use pretrain")
    configs = [replace(config, seed=s) for s in seeds]
    vocab = len(config.make_space().vocabulary)
    name = f"{config.space}-group{'_'.join(map(str, seeds))}"
    group: dict[int, tuple] = {}

    def train_group(ops: torch.Tensor, adj: torch.Tensor, device) -> tuple[Arch2Vec, list[dict]]:
        if not group:
            rows = [torch.as_tensor(split_indices(len(ops), c)[0]) for c in configs]
            models, histories = fit_grouped(lambda: Arch2Vec(vocab, config), (ops, adj), seeds,
                                            epochs=config.epochs, batch_size=config.batch_size, lr=config.lr,
                                            grad_clip=config.grad_clip, device=device, progress=progress,
                                            desc=f"{config.space} seeds {seeds}", rows=rows)  # fmt: skip
            group.update({s: (m, h) for s, m, h in zip(seeds, models, histories)})
        return group[current[0]]

    current = [seeds[0]]
    tensors: list = []
    # one fit_grouped call trains the whole group: every model records the code version of that moment
    # (train_cached would read it again per seed, and the tree can change between the calls)
    trained_at = code_version()

    def load_data():
        if not tensors:
            tensors.extend(space_tensors(config))
        return tensors

    out = []
    for seed, cfg in zip(seeds, configs):
        current[0] = seed
        trained = train_cached(
            GROUPED_CACHE, cfg, name=name, build=lambda: Arch2Vec(vocab, cfg), train=train_group,
            load_data=load_data, device=device, use_cache=use_cache, threads=threads, result=Pretrained,
            extra_provenance={"trainer": "fit_grouped", "group": list(seeds), "code_version": trained_at},
        )  # fmt: skip
        out.append(trained)
    return out


REPLICATE_GROUP_SIZE = 2
"""Pretraining seeds ≥ 1 are trained in fixed blocks of this size: (1, 2), (3, 4), ... (see :func:`replicate_group`)."""


def replicate_group(pretrain_seed: int) -> tuple[int, ...] | None:
    """The seeds trained together with ``pretrain_seed`` by :func:`pretrain_replicate` (``None`` for seed 0).

    Seed 0 is :func:`pretrain`'s model (the one every default search loads).
    Seeds ≥ 1 are grouped in fixed blocks of :data:`REPLICATE_GROUP_SIZE`
    consecutive seeds, ``(1, 2)``, ``(3, 4)``, ..., so a seed always gets the
    same group, whichever other seeds a sweep asks for (grouped models round
    a little differently with another group, and the group is in their
    checkpoint name and provenance).

    Raises:
        ParameterError: ``pretrain_seed`` is not an integer ≥ 0 (a ``ValueError``).
    """
    if isinstance(pretrain_seed, (bool, np.bool_)) or not isinstance(pretrain_seed, (int, np.integer)) or pretrain_seed < 0:
        raise ParameterError(f"pretrain_seed must be an integer ≥ 0 (0: the default pretrained model; 1, 2, ...: "
                             f"models trained in groups by pretrain_seeds), got {pretrain_seed!r}")  # fmt: skip
    if pretrain_seed == 0:
        return None
    first = (int(pretrain_seed) - 1) // REPLICATE_GROUP_SIZE * REPLICATE_GROUP_SIZE + 1
    return tuple(range(first, first + REPLICATE_GROUP_SIZE))


def pretrain_replicate(config: Arch2VecConfig, pretrain_seed: int = 0, **kwargs) -> Pretrained:
    """The model of one pretraining seed: the replicate that ``pretrain_seed`` names (cached).

    ``pretrain_seed = 0`` is ``pretrain(config)``, today's model trained
    alone by :func:`~lib.latent.train.fit_lean` with ``config.seed`` (0 by default), so
    default searches keep their queries. ``pretrain_seed = s ≥ 1`` is the
    model of seed ``s`` (``config`` with ``seed = s``) from
    :func:`pretrain_seeds` over :func:`replicate_group`'s block, trained by
    :func:`~lib.latent.grouped.fit_grouped` (``trainer`` and ``group`` in its
    provenance). Both trainers train the same model on the same loss, with
    the same initialisation and batch order per seed; they differ in where the
    reparameterisation noise and dropout masks are drawn from and in float
    rounding, differences of the kind another seed makes, which is what the
    replicates measure.

    Args:
        config: The settings of every replicate but its seed.
        pretrain_seed: 0, or the seed ≥ 1 of a grouped replicate.
        **kwargs: ``device``, ``use_cache``, ``progress``, ``threads`` (as :func:`pretrain`).

    Raises:
        ValueError: A bad ``pretrain_seed`` (see :func:`replicate_group`), or a
            configuration :func:`pretrain_seeds` cannot group (GCN encoder, DARTS).
    """
    group = replicate_group(pretrain_seed)
    if group is None:
        return pretrain(config, **kwargs)
    models = pretrain_seeds(config, group, **kwargs)
    return models[group.index(int(pretrain_seed))]
