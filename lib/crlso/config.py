"""Per-space settings of CR-LSO, read from the authors' code (Rao et al., arXiv 2211.05950).

:class:`CRLSOConfig` fixes the G-VAE (3 message-passing layers, sum pooling, MLP
decoder; hidden 256 / latent 16 on NB201, 512 / 64 on NB101), the ICNN head
(4 hidden layers of 128 / 256), the optimiser (Adam 1e-4, betas (0, 0.5),
cosine schedule, gradient clip 5) and β of the KL term (0.005 / 0.1).
NAS-Bench-Graph is not in the paper; it gets the NB201 settings.

The *schedule* is the study's, for a CPU: :attr:`CRLSOConfig.warm_epochs` of
unsupervised training (reconstruction + β·KL) once per space, cached, then
:attr:`CRLSOConfig.joint_epochs` of joint semi-supervised training per search
run. The authors' schedule — 200 joint epochs from scratch, no warm start — is
``schedule="full"`` (:func:`default_config`).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from lib.benchmark import load_space
from lib.latent.config import ModelConfig, text_hash

SCHEDULES = ("warm", "full")
"""``warm``: cached unsupervised warm start + short joint training per run; ``full``: the authors' 200 joint epochs."""

FULL_EPOCHS = 200
"""The authors' joint training epochs."""


@dataclass(frozen=True)
class CRLSOConfig(ModelConfig):
    """Everything that determines CR-LSO's models in one space.

    Attributes:
        space: Search-space name (``nb101``, ``nb201``, ``nbgraph``).
        operations: Interior operations of the space.
        num_layers: Message-passing layers of the G-VAE encoder.
        hidden_dim: Width of the encoder layers and of the MLP decoder.
        latent_dim: Size of the graph latent vector.
        beta: Weight of the KL term.
        head_hidden: Width of the ICNN's hidden layers.
        head_layers: Hidden layers of the ICNN.
        lr: Adam learning rate (cosine-annealed to 0 over each training run).
        adam_betas: Adam's ``(β1, β2)``.
        grad_clip: Gradient-norm clip.
        batch_size: Cells per optimiser step.
        warm_epochs: Unsupervised epochs of the cached warm start (0: none).
        joint_epochs: Joint semi-supervised epochs per search run.
        seed: Seed of the warm start's initialisation and batches.
        num_cells: Warm-start cells: the first ``num_cells`` of the space's pretraining cells
            (``None``: all; NB101 keeps 50,000 of its 423,624 structures, a CPU budget).
    """

    space: str
    operations: tuple[str, ...] = ()
    num_layers: int = 3
    hidden_dim: int = 256
    latent_dim: int = 16
    beta: float = 0.005
    head_hidden: int = 128
    head_layers: int = 4
    lr: float = 1e-4
    adam_betas: tuple[float, float] = (0.0, 0.5)
    grad_clip: float = 5.0
    batch_size: int = 32
    warm_epochs: int = 20
    joint_epochs: int = 3
    seed: int = 0
    num_cells: int | None = None

    def __post_init__(self) -> None:
        for name in ("num_layers", "hidden_dim", "latent_dim", "head_hidden", "head_layers", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"CR-LSO setting {name} must be at least 1, got {getattr(self, name)}")
        for name in ("warm_epochs", "joint_epochs"):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"CR-LSO setting {name} must be >= 0, got {getattr(self, name)}")
        if not self.lr > 0 or not self.beta >= 0 or not self.grad_clip > 0:
            raise ValueError(f"lr and grad_clip must be positive and beta non-negative, got lr={self.lr}, "
                             f"grad_clip={self.grad_clip}, beta={self.beta}")  # fmt: skip
        if len(self.adam_betas) != 2 or not all(0.0 <= b < 1.0 for b in self.adam_betas):
            raise ValueError(f"adam_betas must be two numbers in [0, 1), got {self.adam_betas}")

    def warm_identity(self) -> str:
        """Canonical JSON of the fields that define the cached warm start (not the joint schedule)."""
        values = dataclasses.asdict(self)
        for name in ("joint_epochs", "head_hidden", "head_layers"):
            del values[name]
        if values["num_cells"] is None:  # added later: configurations without it keep their cached warm start
            del values["num_cells"]
        return json.dumps(values, sort_keys=True, default=list)



@dataclass(frozen=True)
class WarmStart:
    """The warm start's view of a :class:`CRLSOConfig` (what :func:`lib.latent.train.train_cached` keys on)."""

    config: CRLSOConfig

    def identity(self) -> str:
        return self.config.warm_identity()

    def config_hash(self) -> str:
        return text_hash(self.identity())


_SPACE_DEFAULTS = {
    "nb201": {"hidden_dim": 256, "latent_dim": 16, "beta": 0.005, "head_hidden": 128},
    "nbgraph": {"hidden_dim": 256, "latent_dim": 16, "beta": 0.005, "head_hidden": 128},
    "nb101": {"hidden_dim": 512, "latent_dim": 64, "beta": 0.1, "head_hidden": 256, "num_cells": 50_000},
}


def default_config(space: str, schedule: str = "warm", **overrides) -> CRLSOConfig:
    """The authors' settings for a space, the study's or the authors' schedule, and field overrides.

    Args:
        space: ``nb101``, ``nb201`` or ``nbgraph``.
        schedule: ``"warm"`` (cached unsupervised warm start, short joint
            training per run) or ``"full"`` (no warm start, 200 joint epochs per run).
        **overrides: Any :class:`CRLSOConfig` field.

    Raises:
        ValueError: Unknown space, schedule or field.
    """
    space = space.lower()
    if space not in _SPACE_DEFAULTS:
        raise ValueError(f"no CR-LSO configuration for space {space!r}; choose one of {sorted(_SPACE_DEFAULTS)}")
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    fields = {f.name for f in dataclasses.fields(CRLSOConfig)}
    unknown = set(overrides) - fields
    if unknown:
        raise ValueError(f"unknown CR-LSO setting(s) {sorted(unknown)}; known: {sorted(fields)}")
    values = dict(_SPACE_DEFAULTS[space])
    if schedule == "full":
        values |= {"warm_epochs": 0, "joint_epochs": FULL_EPOCHS}
    values |= overrides
    if "operations" not in values:
        values["operations"] = load_space(space).operations
    values["operations"] = tuple(values["operations"])
    values["adam_betas"] = tuple(values.get("adam_betas", (0.0, 0.5)))
    return CRLSOConfig(space=space, **values)
