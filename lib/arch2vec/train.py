"""Pretraining of arch2vec, a checkpoint cache keyed by configuration, and embeddings.

``pretrain(default_config("nb201"))`` trains once and saves
``cache_dir()/arch2vec/<space>-<hash>.pt``; a second call with the same
configuration (and data) loads it. :func:`embed` turns cells into the
16-dimensional vectors that the searches of :mod:`lib.arch2vec.search` use.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from lib.arch2vec.config import Arch2VecConfig, default_config
from lib.arch2vec.model import Arch2Vec, vae_loss
from lib.cell import Cell
from lib.encoding import encode_dense, nb101_structure_tensors, one_hot_ops
from lib.paths import atomic_target, cache_dir
from lib.results import code_version
from lib.threads import torch_threads
from lib.spaces import SearchSpace

CHECKPOINT_VERSION = 1

PRETRAIN_THREADS = 2
"""Torch threads every pretraining uses, wherever it runs (CPU training is deterministic per thread count)."""


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` if given, else CUDA when available, else CPU."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def space_tensors(config: Arch2VecConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """The pretraining cells of a space as dense ``(ops, adj)`` float32 tensors.

    * ``nb101``: all 423,624 structures (:func:`lib.encoding.nb101_structure_tensors`);
    * ``nb201``: all 15,625 cells in NAS-Bench-201 index order;
    * ``nbgraph``: the benchmark's architectures (26,206; 2,021 with the
      ``proteins`` operation set), in table order;
    * ``darts``: ``config.num_cells`` cells sampled uniformly with ``config.seed``.
    """
    space = config.make_space()
    vocab = len(space.vocabulary)
    if config.space == "nb101":
        raw = nb101_structure_tensors()
        ops, adj = one_hot_ops(raw["ops"], vocab), torch.from_numpy(raw["adj"].astype(np.float32))
    elif config.space == "nb201":
        ops, adj = encode_dense(space, list(space.enumerate()))
    elif config.space == "nbgraph":
        from lib.benchmark import load_benchmark

        dataset = "cora" if len(space.operations) == 9 else "proteins"
        ops, adj = encode_dense(space, load_benchmark("nbgraph", dataset).cells())
    elif config.space == "darts":
        ops, adj = _darts_sample(space, config.num_cells or 600_000, config.seed)
    else:
        raise ValueError(f"no pretraining data for space {config.space!r}")
    if config.num_cells is not None and config.space != "darts":
        ops, adj = ops[: config.num_cells], adj[: config.num_cells]
    return ops, adj


def _darts_sample(space: SearchSpace, num_cells: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``num_cells`` DARTS cells drawn with ``seed``, encoded; cached as ``.npz`` (sampling 600k takes minutes)."""
    path = cache_dir() / f"darts_sample_{num_cells}_{seed}.npz"
    if path.exists():
        with np.load(path) as cached:
            index, adj = cached["ops"], cached["adj"]
    else:
        rng = np.random.default_rng(seed)
        ops, adj_t = encode_dense(space, [space.sample(rng) for _ in range(num_cells)])
        index = np.where(ops.sum(-1).numpy() > 0, ops.argmax(-1).numpy(), -1).astype(np.int8)
        adj = adj_t.numpy().astype(np.int8)
        with atomic_target(path, suffix=".npz") as tmp:
            np.savez(tmp, ops=index, adj=adj)
    return one_hot_ops(index, len(space.vocabulary)), torch.from_numpy(adj.astype(np.float32))


def split_indices(num_cells: int, config: Arch2VecConfig) -> tuple[np.ndarray, np.ndarray]:
    """``(train, held_out)`` row indices: the first ``train_fraction`` of the (optionally shuffled) cells."""
    order = np.arange(num_cells)
    if config.shuffle_split:
        order = np.random.default_rng(config.seed).permutation(num_cells)
    cut = int(round(num_cells * config.train_fraction))
    return order[:cut], order[cut:]


def _digest(*tensors: torch.Tensor) -> str:
    h = hashlib.sha256()
    for t in tensors:
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:12]


@dataclass
class Pretrained:
    """A trained model with its configuration, data split and training history.

    Attributes:
        model: The autoencoder, in eval mode.
        config: Its configuration.
        history: One dict per epoch: ``loss``, ``ops``, ``adj``, ``kl``, ``seconds``, ``cells_per_s``.
        path: Checkpoint file (``None`` when not cached).
        from_cache: Whether the model was loaded rather than trained.
        data_digest: Digest of the training tensors (``"space"`` for the space's own data).
        provenance: How it was trained: ``torch_threads``, ``device``, ``torch``
            version and ``code_version`` (empty for checkpoints saved before
            this was recorded). Training is deterministic on CPU for a given
            seed *and thread count*; another thread count gives a slightly
            different model.
    """

    model: Arch2Vec
    config: Arch2VecConfig
    history: list[dict] = field(default_factory=list)
    path: Path | None = None
    from_cache: bool = False
    data_digest: str = "space"
    provenance: dict = field(default_factory=dict)

    @property
    def space(self) -> SearchSpace:
        return self.config.make_space()

    def embed(self, cells: Sequence[Cell], *, batch_size: int = 4096) -> np.ndarray:
        """``(len(cells), latent_dim)`` float32 embeddings (mean over nodes of the posterior means)."""
        ops, adj = encode_dense(self.space, cells)
        return embed_tensors(self.model, ops, adj, batch_size=batch_size)


def embed_tensors(model: Arch2Vec, ops: torch.Tensor, adj: torch.Tensor, *, batch_size: int = 4096) -> np.ndarray:
    """Embeddings of dense tensors, in batches, on the model's device."""
    device = next(model.parameters()).device
    out = [model.embed(ops[i : i + batch_size].to(device), adj[i : i + batch_size].to(device)).cpu()
           for i in range(0, len(ops), batch_size)]  # fmt: skip
    return torch.cat(out).numpy() if out else np.zeros((0, model.config.latent_dim), np.float32)


def checkpoint_path(config: Arch2VecConfig, data_digest: str = "space") -> Path:
    """Where the checkpoint of ``config`` (trained on ``data_digest``) is cached."""
    suffix = "" if data_digest == "space" else f"-data{data_digest}"
    folder = cache_dir() / "arch2vec"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{config.space}-{config.config_hash()}{suffix}.pt"


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
        threads: Torch threads to train with (:data:`PRETRAIN_THREADS`), so
            that the same configuration gives the same model in a notebook, a
            sweep's parent process or a worker.

    Returns:
        The trained model (on ``device``, eval mode) and its history. The
        global torch random state is the same after the call as before, so a
        search that pretrains on first use stays reproducible by its seed.
    """
    device = pick_device(device)
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):  # loading or training leaves the caller's random stream alone
        with torch_threads(threads):
            return _pretrain(config, data, device, use_cache, progress)


def state_digest(model: torch.nn.Module) -> str:
    """16 hex digits of SHA-256 over the model's state dict (names, shapes and values, in order)."""
    h = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()[:16]


def model_identity(pre: Pretrained) -> dict:
    """What a search run records of the model it used: configuration, digest and provenance (JSON values)."""
    return {"kind": "arch2vec", "config_hash": pre.config.config_hash(), "digest": state_digest(pre.model),
            "data_digest": pre.data_digest, "provenance": dict(pre.provenance)}  # fmt: skip


def _pretrain(config, data, device, use_cache, progress) -> Pretrained:
    digest = "space" if data is None else _digest(*data)
    path = checkpoint_path(config, digest)
    vocab = len(config.make_space().vocabulary)
    if use_cache and path.exists():
        state = torch.load(path, map_location=device, weights_only=True)
        if state.get("version") == CHECKPOINT_VERSION and state.get("config") == config.identity():
            model = Arch2Vec(vocab, config).to(device)
            model.load_state_dict(state["state_dict"])
            model.eval()
            provenance = json.loads(state.get("provenance", "{}"))
            return Pretrained(model, config, json.loads(state["history"]), path, True, digest, provenance)
    ops, adj = data if data is not None else space_tensors(config)
    provenance = {"torch_threads": torch.get_num_threads(), "device": str(device), "torch": torch.__version__,
                  "code_version": code_version()}  # fmt: skip
    model, history = train_model(config, ops, adj, device=device, progress=progress)
    if use_cache:
        with atomic_target(path) as tmp:  # concurrent trainers never share a temporary file
            torch.save(
                {"version": CHECKPOINT_VERSION, "config": config.identity(), "history": json.dumps(history),
                 "provenance": json.dumps(provenance),
                 "state_dict": {k: v.cpu() for k, v in model.state_dict().items()}},
                tmp,
            )  # fmt: skip
    return Pretrained(model, config, history, path if use_cache else None, False, digest, provenance)


def train_model(
    config: Arch2VecConfig,
    ops: torch.Tensor,
    adj: torch.Tensor,
    *,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> tuple[Arch2Vec, list[dict]]:
    """The training loop (no caching): Adam, gradient clipping, shuffled mini-batches of the training split.

    Returns:
        ``(model in eval mode, history)``; see :class:`Pretrained` for the history fields.
    """
    device = pick_device(device)
    torch.manual_seed(config.seed)
    model = Arch2Vec(ops.shape[-1], config).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, betas=(0.9, 0.999), eps=1e-8)
    train_idx, _ = split_indices(len(ops), config)
    train_ops = ops[torch.as_tensor(train_idx)].to(device)
    train_adj = adj[torch.as_tensor(train_idx)].to(device)
    generator = torch.Generator().manual_seed(config.seed)
    history = []
    n = len(train_ops)
    for epoch in range(config.epochs):
        model.train()
        order = torch.randperm(n, generator=generator).to(device)
        totals = {"loss": 0.0, "ops": 0.0, "adj": 0.0, "kl": 0.0}
        steps = 0
        start = time.perf_counter()
        batches = range(0, n, config.batch_size)
        bar = tqdm(batches, desc=f"{config.space} epoch {epoch + 1}/{config.epochs}", disable=not progress,
                   leave=False, mininterval=1.0)  # fmt: skip
        for i in bar:
            idx = order[i : i + config.batch_size]
            if len(idx) < 2:  # BatchNorm needs two samples
                continue
            optimizer.zero_grad(set_to_none=True)
            loss, parts = vae_loss(model, train_ops[idx], train_adj[idx])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            totals["loss"] += loss.item()
            for k, v in parts.items():
                totals[k] += v
            steps += 1
            if progress and steps % 50 == 0:
                bar.set_postfix(loss=f"{totals['loss'] / steps:.4f}")
        seconds = time.perf_counter() - start
        record = {k: v / max(steps, 1) for k, v in totals.items()}
        record |= {"epoch": epoch + 1, "seconds": seconds, "cells_per_s": n / seconds if seconds > 0 else float("nan")}
        history.append(record)
        if progress:
            tqdm.write(f"{config.space} epoch {epoch + 1}: loss {record['loss']:.4f} "
                       f"({seconds:.1f} s, {record['cells_per_s']:.0f} cells/s)")  # fmt: skip
    model.eval()
    return model, history


def embed(space: SearchSpace, cells: Sequence[Cell], config: Arch2VecConfig | None = None, **kwargs) -> np.ndarray:
    """Embeddings of cells with the space's pretrained model (trained on first use, then cached).

    Args:
        space: The cells' space; picks the default configuration when ``config`` is ``None``.
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
