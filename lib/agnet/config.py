"""Per-space settings of AG-Net, read from the authors' code (jovitalukasik/AG-Net).

:class:`AGNetConfig` is everything that determines the pretrained generator
of a space (its checkpoint name is :meth:`AGNetConfig.config_hash`);
:data:`PASSES` is the per-space number of retraining passes per round.

The authors pretrain on every cell of the space for many epochs; the default
``epochs`` here is the affordable schedule measured on 2 CPU cores
(``scripts/bench_agnet.py``), and ``FULL_EPOCHS`` is one parameter away
(``default_config(space, epochs=FULL_EPOCHS[space])``).
"""

from __future__ import annotations

from dataclasses import dataclass

from lib.latent.config import ModelConfig

PASSES = {"nb201": 30, "nb101": 15}
"""Retraining passes over the queried cells per round (the authors' NB201 30, NB101 15; 30 elsewhere)."""

FULL_EPOCHS = {"nb201": 100, "nb101": 100, "nbgraph": 100}
"""A long pretraining schedule (``epochs=FULL_EPOCHS[space], lr=1e-3``; not the default on 2 CPU cores)."""

DEFAULT_EPOCHS = {"nb201": 1, "nb101": 1, "nbgraph": 1}
"""The affordable default pretraining epochs per space (with ``lr=1e-2``: one pass over NB201's 15,625 cells
gives ≥ 99 % valid generated cells; measured on 2 CPU cores)."""

DEFAULT_CELLS = {"nb101": 50_000}
"""Cells of a space too large to pretrain on in full on 2 cores (NB101: the first 50k of its structures)."""


@dataclass(frozen=True)
class AGNetConfig(ModelConfig):
    """Everything that determines a pretrained AG-Net generator.

    Attributes:
        space: Search-space name.
        operations: NAS-Bench-Graph's operation set (empty: the space's default).
        latent_dim: Size of ``z`` (the authors' 32).
        hidden_dim: Node and graph state size (32).
        num_layers: GRU message-passing layers (2).
        epochs: Pretraining passes over the space's cells.
        batch_size: Cells per optimiser step.
        lr: Adam learning rate of pretraining: 1e-2 for the short default schedule (the authors' 1e-3
            needs far more steps than 2 CPU cores allow before the generator produces valid cells;
            retraining inside the search uses the authors' 1e-3).
        num_cells: Use the first ``num_cells`` pretraining cells (``None``: all).
        seed: Seed of initialisation, batching and noise.
    """

    space: str
    operations: tuple[str, ...] = ()
    latent_dim: int = 32
    hidden_dim: int = 32
    num_layers: int = 2
    epochs: int = 1
    batch_size: int = 32
    lr: float = 1e-2
    num_cells: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("latent_dim", "hidden_dim", "num_layers", "epochs", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"AGNetConfig.{name} must be a positive integer, got {getattr(self, name)!r}")
        if not self.lr > 0:
            raise ValueError(f"AGNetConfig.lr must be positive, got {self.lr!r}")
        if self.num_cells is not None and int(self.num_cells) < 2:
            raise ValueError(f"AGNetConfig.num_cells must be ≥ 2 or None, got {self.num_cells!r}")



def default_config(space: str, **overrides) -> AGNetConfig:
    """The space's default configuration with ``overrides`` (any field) applied."""
    base = {"epochs": DEFAULT_EPOCHS.get(space, 3), "num_cells": DEFAULT_CELLS.get(space)}
    return AGNetConfig(space=space, **{**base, **overrides})
