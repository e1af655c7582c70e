"""AG-Net's glue: the cached pretrained generator, rank weights, rank-weighted retraining and candidate generation.

* :func:`pretrain` — the space's generator, trained once to map noise to valid
  cells (node cross-entropy + edge BCE against cells of the space drawn with
  fresh noise) and cached through :func:`lib.latent.train.train_cached`.
* :func:`rank_weights` — ``w = 1 / (0.01·N + rank)``, rank 0 the best.
* :func:`weighted_draw` — the rows a :class:`torch.utils.data.WeightedRandomSampler`
  draws for the given passes.
* :func:`retrain` — one round of retraining of generator + surrogate on the
  queried cells: ``(1 − α)·reconstruction + α·MSE``, rank weights in the
  sampler and on the per-sample loss, through :func:`lib.latent.train.fit`.
* :func:`generate_candidates` — decodes cells from ``z ~ U(−3, 3)``, validates
  them through the space and counts the invalid, repeated, already queried
  and (fair pool protocol) unmeasured ones.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.utils.data import WeightedRandomSampler

from lib.agnet.config import AGNetConfig
from lib.cell import Cell
from lib.errors import InvalidCellError
from lib.latent.generators import (GeneratorWithSurrogate, GraphGenerator, dense_to_types, reconstruction_loss,
                                   types_to_dense)  # fmt: skip
from lib.latent.train import CheckpointCache, Trained, fit, train_cached

CACHE = CheckpointCache("agnet_generator", version=1)


def build_generator(config: AGNetConfig) -> GraphGenerator:
    """An untrained generator for the configuration's space."""
    space = config.make_space()
    return GraphGenerator(len(space.vocabulary), space.max_nodes, config.latent_dim, config.hidden_dim,
                          config.num_layers)  # fmt: skip


def space_tensors(config: AGNetConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """``(types, adj)`` of the cells the space pretrains on (the first ``num_cells`` if set)."""
    ops, adj = config.make_space().pretraining_tensors(config.num_cells, seed=config.seed)
    return dense_to_types(torch.as_tensor(ops)), torch.as_tensor(adj, dtype=torch.float32)


def noise(n: int, dim: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``z ~ U(−3, 3)``, the authors' sampling distribution, ``(n, dim)``."""
    return torch.rand(n, dim, generator=generator) * 6.0 - 3.0


def pretrain(config: AGNetConfig, *, data=None, use_cache: bool = True, progress: bool = False,
             device: str | None = "cpu") -> Trained:  # fmt: skip
    """Loads or trains (and caches) the space's generator.

    Args:
        config: The generator's configuration.
        data: Optional ``(types, adj)`` to train on instead of the space's cells (tests).
        use_cache: Load / save the checkpoint.
        progress: Progress bar per epoch.
        device: Where to train (CPU by default: deterministic, and the model is small).
    """

    def loss(model, types, adj):
        z = noise(len(types), config.latent_dim)
        t, e = model(z, types, adj)
        value = reconstruction_loss(t, e, types, adj).mean()
        return value, {"recon": value.item()}

    def train(types, adj, device=None):
        return fit(lambda: build_generator(config), (types, adj), loss, epochs=config.epochs,
                   batch_size=config.batch_size, lr=config.lr, seed=config.seed, device=device,
                   progress=progress, desc=f"agnet {config.space}")  # fmt: skip

    return train_cached(CACHE, config, name=config.space, build=lambda: build_generator(config), train=train,
                        load_data=lambda: space_tensors(config), data=data, device=device, use_cache=use_cache,
                        result=Trained)  # fmt: skip


def rank_weights(ranks: np.ndarray) -> np.ndarray:
    """AG-Net's weights ``1 / (0.01·N + rank)`` for ranks ``0`` (best) … ``N − 1``."""
    ranks = np.asarray(ranks, dtype=float)
    return 1.0 / (0.01 * len(ranks) + ranks)


def ranks_of(scores: np.ndarray) -> np.ndarray:
    """Ranks ``0`` (highest score) … ``N − 1``, ties broken by position (stable)."""
    order = np.argsort(-np.asarray(scores, dtype=float), kind="stable")
    ranks = np.empty(len(order), dtype=float)
    ranks[order] = np.arange(len(order))
    return ranks


def weighted_draw(weights: np.ndarray, num_samples: int, seed: int) -> np.ndarray:
    """Row indices drawn with replacement in proportion to ``weights`` by a seeded ``WeightedRandomSampler``."""
    generator = torch.Generator().manual_seed(int(seed))
    sampler = WeightedRandomSampler(torch.as_tensor(weights, dtype=torch.double), int(num_samples),
                                    replacement=True, generator=generator)  # fmt: skip
    return np.fromiter(iter(sampler), dtype=np.int64, count=int(num_samples))


def cell_tensors(space, cells: Sequence[Cell]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(types, adj)`` of cells through the space's dense encoding."""
    encoded = [space.encode(c) for c in cells]
    ops = torch.as_tensor(np.stack([o for o, _ in encoded]))
    adj = torch.as_tensor(np.stack([a for _, a in encoded]))
    return dense_to_types(ops), adj


def retrain(model: GeneratorWithSurrogate, types: torch.Tensor, adj: torch.Tensor, targets: np.ndarray,
            weights: np.ndarray | None, *, passes: int, alpha: float, lr: float = 1e-3, batch_size: int = 32,
            seed: int = 0, train_generator: bool = True) -> tuple[GeneratorWithSurrogate, list[dict]]:  # fmt: skip
    """One round of AG-Net retraining on the queried cells.

    ``passes × N`` rows are drawn by a ``WeightedRandomSampler`` over
    ``weights`` (uniform when ``None``) and fitted once in shuffled batches;
    each row's loss ``(1 − α)·reconstruction + α·MSE`` is weighted by its
    weight (normalised to mean 1 over the queried cells).

    Args:
        targets: ``(N, outputs)`` standardised targets of the surrogate.
        train_generator: ``False`` freezes the generator (the no-retraining ablation): only the surrogate learns.
    """
    n = len(types)
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    w = w / w.mean()
    rows = weighted_draw(w, passes * n, seed)
    targets = torch.as_tensor(np.asarray(targets, dtype=np.float32).reshape(n, -1))
    data = (types[rows], adj[rows], targets[rows], torch.as_tensor(w[rows], dtype=torch.float32))
    for p in model.generator.parameters():
        p.requires_grad_(train_generator)
    latent = model.generator.latent_dim

    def loss(m, t_types, t_adj, y, wt):
        z = noise(len(t_types), latent)
        t, e, pred = m(z, t_types, t_adj)
        recon = reconstruction_loss(t, e, t_types, t_adj)
        mse = ((pred - y) ** 2).mean(1)
        per = (1 - alpha) * recon + alpha * mse if train_generator else mse
        value = (wt * per).mean()
        return value, {"recon": recon.mean().item(), "mse": mse.mean().item()}

    model, history = fit(model, data, loss, epochs=1, batch_size=batch_size, lr=lr, seed=seed, device="cpu")
    for p in model.generator.parameters():
        p.requires_grad_(True)
    return model, history


@dataclass
class Candidates:
    """Generated cells that may be queried, with the noise that made them and what was dropped."""

    cells: list[Cell] = field(default_factory=list)
    z: list[torch.Tensor] = field(default_factory=list)
    generated: int = 0
    invalid: int = 0
    repeated: int = 0
    seen: int = 0
    unmeasured: int = 0


def decode_cell(space, types: np.ndarray, adj: np.ndarray) -> Cell | None:
    """The cell of one generated ``(types, adj)`` through the space's decoding and validity rules, ``None`` if invalid."""
    ops = types_to_dense(types[None], len(space.vocabulary))[0]
    try:
        return space.decode(ops, adj)
    except InvalidCellError:
        return None


def generate_candidates(generator: GraphGenerator, space, *, wanted: int, seen: Callable[[Cell], bool],
                        measured: Callable[[Cell], bool], seed: int, batch: int = 256,
                        max_batches: int = 8) -> Candidates:  # fmt: skip
    """At least ``wanted`` valid, distinct, unseen, measured cells from ``z ~ U(−3, 3)`` (or all found in ``max_batches``).

    Args:
        seen: Whether a cell was already queried (it is then skipped).
        measured: Whether the benchmark measured the cell; an unmeasured one
            can never be queried under the fair protocol, so it is dropped and counted.
        seed: Seeds the noise (the Bernoulli/categorical draws use torch's global stream).
    """
    g = torch.Generator().manual_seed(int(seed))
    out, keys = Candidates(), set()
    for _ in range(max_batches):
        z = noise(batch, generator.latent_dim, g)
        types, adj = generator.generate(z)
        types, adj = types.numpy(), adj.numpy()
        for i in range(batch):
            out.generated += 1
            cell = decode_cell(space, types[i], adj[i])
            if cell is None:
                out.invalid += 1
                continue
            key = space.key(cell)
            if key in keys:
                out.repeated += 1
                continue
            keys.add(key)
            if seen(cell):
                out.seen += 1
                continue
            if not measured(cell):
                out.unmeasured += 1
                continue
            out.cells.append(cell)
            out.z.append(z[i])
        if len(out.cells) >= wanted:
            break
    return out
