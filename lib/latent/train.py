"""Training graph models: a plain seeded :func:`fit`, and a checkpoint cache for pretrained models.

* :func:`fit` — Adam over shuffled mini-batches, optional gradient clipping,
  seeded, no files: what a method uses for models it retrains inside a search.
* :func:`train_cached` — trains once and caches the checkpoint under
  ``cache_dir()/<kind>/<name>-<config hash>[-data<digest>].pt``, keyed on the
  configuration, the training data's digest and :attr:`CheckpointCache.version`;
  the checkpoint records how it was trained (provenance). A model loaded or
  trained this way is a :class:`Trained`, and :func:`model_identity` is what a
  search run records of it.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from lib.paths import atomic_target, cache_dir, file_lock
from lib.results import code_version
from lib.threads import torch_threads

LossFn = Callable[..., tuple[torch.Tensor, dict[str, float]]]
"""``loss_fn(model, *batch) -> (loss, parts)``: the scalar to minimise and named floats to log."""


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` if given, else CUDA when available, else CPU."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def tensor_digest(*tensors: torch.Tensor) -> str:
    """12 hex digits of SHA-256 over the tensors' bytes (the cache key of training data)."""
    h = hashlib.sha256()
    for t in tensors:
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:12]


def state_digest(model: nn.Module) -> str:
    """16 hex digits of SHA-256 over the model's state dict (names, shapes and values, in order)."""
    h = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()[:16]


def adam(params, *, lr: float, fused: bool = False) -> torch.optim.Adam:
    """Adam with betas (0.9, 0.999), eps 1e-8, on the multi-tensor (``foreach``) path unless ``fused``.

    torch picks the per-parameter loop on CPU by default; the ``foreach``
    kernels do the same arithmetic in fewer calls and give the same weights bit
    for bit (tested), so every model trains faster and stays the model it was.
    ``fused=True`` is faster still but rounds differently: a different model.
    """
    return torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999), eps=1e-8, **({"fused": True} if fused else {"foreach": True}))


def fit(
    model: nn.Module | Callable[[], nn.Module],
    data: Sequence[torch.Tensor],
    loss_fn: LossFn,
    *,
    epochs: int,
    batch_size: int = 32,
    lr: float = 1e-3,
    grad_clip: float | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: bool = False,
    desc: str = "train",
    plateau: dict | None = None,
) -> tuple[nn.Module, list[dict]]:
    """Trains a model with Adam on shuffled mini-batches of ``data``.

    ``torch.manual_seed(seed)`` comes first, so passing a *factory* (a
    callable that builds the model) seeds the initialisation too; batches are
    drawn from a generator seeded with ``seed``, and dropout or sampling inside
    the model draws from torch's global stream. The same seed, data and thread
    count give the same model. Batches of one row are skipped (BatchNorm needs two).

    Args:
        model: A module, or a callable returning one (built after seeding).
        data: Tensors with the same first dimension; a batch is the same rows of each.
        loss_fn: ``loss_fn(model, *batch) -> (loss, parts)``; ``parts`` (floats) are averaged per epoch.
        epochs: Passes over the data.
        batch_size: Rows per optimiser step.
        lr: Adam learning rate (betas 0.9, 0.999).
        grad_clip: Gradient-norm clip; ``None`` for none.
        seed: Seed of torch and of the batch order.
        device: Where to train (picked by :func:`pick_device` when ``None``).
        progress: Show a progress bar per epoch and a line per epoch.
        desc: Label of the progress bar.
        plateau: Optional keyword arguments of ``torch.optim.lr_scheduler.ReduceLROnPlateau``
            (e.g. ``{"factor": 0.1, "patience": 10}``), stepped on each epoch's mean loss;
            ``None`` (the default) keeps the learning rate fixed.

    Returns:
        ``(model in eval mode, history)``: one dict per epoch with ``loss``,
        the parts, ``epoch``, ``seconds`` and ``cells_per_s``.
    """
    device = pick_device(device)
    torch.manual_seed(seed)
    if not isinstance(model, nn.Module):
        model = model()
    model = model.to(device)
    optimizer = adam(model.parameters(), lr=lr)
    scheduler = None if plateau is None else torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, **plateau)
    data = [t.to(device) for t in data]
    generator = torch.Generator().manual_seed(seed)
    history = []
    n = len(data[0])
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(n, generator=generator).to(device)
        totals: dict[str, float] = {"loss": 0.0}
        steps = 0
        start = time.perf_counter()
        bar = tqdm(range(0, n, batch_size), desc=f"{desc} epoch {epoch + 1}/{epochs}", disable=not progress,
                   leave=False, mininterval=1.0)  # fmt: skip
        for i in bar:
            idx = order[i : i + batch_size]
            if len(idx) < 2:
                continue
            optimizer.zero_grad(set_to_none=True)
            loss, parts = loss_fn(model, *(t[idx] for t in data))
            loss.backward()
            if grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip, foreach=True)
            optimizer.step()
            totals["loss"] += loss.item()
            for k, v in parts.items():
                totals[k] = totals.get(k, 0.0) + v
            steps += 1
            if progress and steps % 50 == 0:
                bar.set_postfix(loss=f"{totals['loss'] / steps:.4f}")
        seconds = time.perf_counter() - start
        record = {k: v / max(steps, 1) for k, v in totals.items()}
        record |= {"epoch": epoch + 1, "seconds": seconds, "cells_per_s": n / seconds if seconds > 0 else float("nan")}
        if scheduler is not None:
            scheduler.step(record["loss"])
            record["lr"] = optimizer.param_groups[0]["lr"]
        history.append(record)
        if progress:
            tqdm.write(f"{desc} epoch {epoch + 1}: loss {record['loss']:.4f} "
                       f"({seconds:.1f} s, {record['cells_per_s']:.0f} cells/s)")  # fmt: skip
    model.eval()
    return model, history


def fit_lean(
    model: nn.Module | Callable[[], nn.Module],
    data: Sequence[torch.Tensor],
    loss_fn: Callable[..., tuple[torch.Tensor, dict[str, torch.Tensor]]],
    *,
    epochs: int,
    batch_size: int = 32,
    lr: float = 1e-3,
    grad_clip: float | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: bool = False,
    desc: str = "train",
    fused_adam: bool = False,
) -> tuple[nn.Module, list[dict]]:
    """:func:`fit` with less work per step; the same model bit for bit when ``fused_adam`` is false.

    Same seeding, batch order, skipped one-row batches, optimiser and
    history as :func:`fit`, but: the data are permuted once per epoch and
    batches are contiguous slices (no per-step gather), ``loss_fn`` returns
    its parts as tensors that are summed on the device and read once per
    epoch (no per-step ``.item()`` host syncs), and the parameter list is
    built once. Pair it with precomputed inputs (e.g.
    :func:`lib.latent.vae.dense_vae_tensors` and
    :func:`lib.latent.vae.vae_loss_dense`). ``fused_adam=True`` uses torch's
    fused Adam kernel: faster, but a different rounding, so a different model.
    """
    device = pick_device(device)
    torch.manual_seed(seed)
    if not isinstance(model, nn.Module):
        model = model()
    model = model.to(device)
    params = [p for p in model.parameters()]
    optimizer = adam(params, lr=lr, fused=fused_adam)
    data = [t.to(device) for t in data]
    generator = torch.Generator().manual_seed(seed)
    history = []
    n = len(data[0])
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(n, generator=generator).to(device)
        shuffled = [t[order] for t in data]
        totals: dict[str, torch.Tensor] = {"loss": torch.zeros((), device=device)}
        steps = 0
        start = time.perf_counter()
        bar = tqdm(range(0, n, batch_size), desc=f"{desc} epoch {epoch + 1}/{epochs}", disable=not progress,
                   leave=False, mininterval=1.0)  # fmt: skip
        for i in bar:
            if min(n, i + batch_size) - i < 2:
                continue
            optimizer.zero_grad(set_to_none=True)
            loss, parts = loss_fn(model, *(t[i : i + batch_size] for t in shuffled))
            loss.backward()
            if grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(params, grad_clip, foreach=True)
            optimizer.step()
            totals["loss"] += loss.detach()
            for k, v in parts.items():
                totals[k] = totals[k] + v if k in totals else v.detach().clone()
            steps += 1
            if progress and steps % 50 == 0:
                bar.set_postfix(loss=f"{totals['loss'].item() / steps:.4f}")
        seconds = time.perf_counter() - start
        record = {k: float(v) / max(steps, 1) for k, v in totals.items()}
        record |= {"epoch": epoch + 1, "seconds": seconds, "cells_per_s": n / seconds if seconds > 0 else float("nan")}
        history.append(record)
        if progress:
            tqdm.write(f"{desc} epoch {epoch + 1}: loss {record['loss']:.4f} "
                       f"({seconds:.1f} s, {record['cells_per_s']:.0f} cells/s)")  # fmt: skip
    model.eval()
    return model, history


@dataclass
class Trained:
    """A trained model with its configuration, training history and provenance.

    Attributes:
        model: The model, in eval mode.
        config: Its configuration: an object with ``identity()`` (canonical
            JSON text) and ``config_hash()`` (the checkpoint's name).
        history: One dict per epoch (see :func:`fit`).
        path: Checkpoint file (``None`` when not cached).
        from_cache: Whether the model was loaded rather than trained.
        data_digest: Digest of the training tensors (``"space"`` for the space's own data).
        provenance: How it was trained: ``torch_threads``, ``device``, ``torch``
            version and ``code_version``. Training is deterministic on CPU for
            a given seed *and thread count*.
        kind: The model family, recorded in :func:`model_identity`.
    """

    model: nn.Module
    config: Any
    history: list[dict] = field(default_factory=list)
    path: Path | None = None
    from_cache: bool = False
    data_digest: str = "space"
    provenance: dict = field(default_factory=dict)
    kind: str = "model"


def model_identity(trained: Trained) -> dict:
    """What a search run records of the model it used: configuration, digest and provenance (JSON values)."""
    return {"kind": trained.kind, "config_hash": trained.config.config_hash(), "digest": state_digest(trained.model),
            "data_digest": trained.data_digest, "provenance": dict(trained.provenance)}  # fmt: skip


@dataclass(frozen=True)
class CheckpointCache:
    """The checkpoints of one model family under ``cache_dir()/<kind>/``.

    Attributes:
        kind: Folder name and the ``kind`` of :func:`model_identity`.
        version: Bumped when the checkpoint format or the model code changes
            what a configuration means; older checkpoints are then retrained.
    """

    kind: str
    version: int = 1

    def path(self, name: str, config_hash: str, data_digest: str = "space") -> Path:
        """``<kind>/<name>-<config_hash>[-data<digest>].pt`` (the folder is created)."""
        suffix = "" if data_digest == "space" else f"-data{data_digest}"
        folder = cache_dir() / self.kind
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{name}-{config_hash}{suffix}.pt"

    def load(self, path: Path, identity: str, build: Callable[[], nn.Module], device: torch.device):
        """``(model, history, provenance)`` from ``path`` if it holds this version and configuration, else ``None``."""
        if not path.exists():
            return None
        state = torch.load(path, map_location=device, weights_only=True)
        if state.get("version") != self.version or state.get("config") != identity:
            return None
        model = build().to(device)
        model.load_state_dict(state["state_dict"])
        model.eval()
        return model, json.loads(state["history"]), json.loads(state.get("provenance", "{}"))

    def lock(self, path: Path):
        """A context holding ``path``'s lock (:func:`lib.paths.file_lock`): one process at a time loads-or-trains it.

        :func:`train_cached` holds it from the cache look-up to the save, so
        two processes asking for the same missing checkpoint at once (test
        workers, a sweep beside a notebook) train it once: the second waits and
        then loads the first one's file.
        """
        return file_lock(path)

    def save(self, path: Path, identity: str, model: nn.Module, history: list[dict], provenance: dict) -> None:
        """Writes the checkpoint atomically (concurrent trainers never share a temporary file)."""
        with atomic_target(path) as tmp:
            torch.save(
                {"version": self.version, "config": identity, "history": json.dumps(history),
                 "provenance": json.dumps(provenance),
                 "state_dict": {k: v.cpu() for k, v in model.state_dict().items()}},
                tmp,
            )  # fmt: skip


def train_cached(
    cache: CheckpointCache,
    config: Any,
    *,
    name: str,
    build: Callable[[], nn.Module],
    train: Callable[..., tuple[nn.Module, list[dict]]],
    load_data: Callable[[], Sequence[torch.Tensor]],
    data: Sequence[torch.Tensor] | None = None,
    device: str | torch.device | None = None,
    use_cache: bool = True,
    threads: int = 2,
    result: type[Trained] = Trained,
    extra_provenance: dict | None = None,
) -> Trained:
    """Loads the cached model of ``config`` or trains it (and caches it).

    The global torch random state is the same after the call as before, so a
    search that pretrains on first use stays reproducible by its seed. With
    ``use_cache`` the look-up, training and save hold the checkpoint's lock
    (:meth:`CheckpointCache.lock`), so concurrent processes asking for the same
    missing model train it once.

    Args:
        cache: The model family's cache.
        config: The configuration (``identity()``, ``config_hash()``).
        name: First part of the file name (e.g. the space).
        build: Builds an untrained model to load a checkpoint into.
        train: ``train(*tensors, device=...) -> (model, history)``.
        load_data: The default training tensors (used when ``data`` is ``None``).
        data: Tensors to train on instead; their digest enters the cache key.
        device: ``"cpu"``, ``"cuda"``…; picked automatically when ``None``.
        use_cache: Load a cached checkpoint if present and save the trained one.
        threads: Torch threads to train with, so the same configuration gives
            the same model in a notebook, a sweep's parent process or a worker.
        result: The :class:`Trained` subclass to return.
        extra_provenance: JSON values added to the provenance of a model trained here (e.g. its trainer).
    """
    device = pick_device(device)
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), torch_threads(threads):
        digest = "space" if data is None else tensor_digest(*data)
        path = cache.path(name, config.config_hash(), digest)
        identity = config.identity()
        with cache.lock(path) if use_cache else nullcontext():
            loaded = cache.load(path, identity, build, device) if use_cache else None
            if loaded is not None:
                model, history, provenance = loaded
                return result(model, config, history, path, True, digest, provenance, cache.kind)
            tensors = data if data is not None else load_data()
            provenance = {"torch_threads": torch.get_num_threads(), "device": str(device), "torch": torch.__version__,
                          "code_version": code_version()} | dict(extra_provenance or {})  # fmt: skip
            model, history = train(*tensors, device=device)
            if use_cache:
                cache.save(path, identity, model, history, provenance)
        return result(model, config, history, path if use_cache else None, False, digest, provenance, cache.kind)
