"""What every latent method's configuration shares: its space, its identity and the checkpoint name.

A method's configuration is a frozen dataclass (the paper's settings per space) that inherits
:class:`ModelConfig`; :func:`lib.latent.train.train_cached` keys its checkpoints on
:meth:`ModelConfig.identity` and names them by :meth:`ModelConfig.config_hash`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

from lib.benchmark import load_space
from lib.spaces import NBGraphSpace, SearchSpace
from lib.spaces.nbgraph import OPERATIONS as NBGRAPH_OPERATIONS


def text_hash(text: str) -> str:
    """12 hex digits of SHA-256 over ``text`` (a configuration's checkpoint name)."""
    return hashlib.sha256(text.encode()).hexdigest()[:12]


class ModelConfig:
    """Mixin of a frozen dataclass with the fields ``space`` and ``operations``.

    ``identity()`` is the canonical JSON of every field; a configuration that must keep older
    checkpoints' names when fields are added overrides it (as :class:`~lib.arch2vec.config.Arch2VecConfig` does).
    """

    def make_space(self) -> SearchSpace:
        """The search space the model encodes (NAS-Bench-Graph with the configuration's operation set)."""
        if self.space == "nbgraph":
            return NBGraphSpace(self.operations or NBGRAPH_OPERATIONS)
        return load_space(self.space)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def identity(self) -> str:
        """Canonical JSON of every field (the checkpoint's identity)."""
        return json.dumps(self.to_dict(), sort_keys=True, default=list)

    def config_hash(self) -> str:
        """12 hex digits naming the checkpoint of this configuration."""
        return text_hash(self.identity())
