"""arch2vec: unsupervised graph-VAE pretraining and search on its latent space.

Yan et al., "Does Unsupervised Architecture Representation Learning Help
Neural Architecture Search?", NeurIPS 2020.

A thin user of the latent-model layer :mod:`lib.latent` (encoders, decoders,
VAE loss, trainer and checkpoint cache, decoding, predictors, acquisition):

* :mod:`~lib.arch2vec.config` — per-space settings (the paper's by default);
* :mod:`~lib.arch2vec.model` — the layer's graph VAE built from a configuration;
* :mod:`~lib.arch2vec.train` — pretraining on the space's cells, its cache, embeddings;
* :mod:`~lib.arch2vec.metrics` — Table-1 metrics, smoothness, predictive power;
* :mod:`~lib.arch2vec.search` — DNGO-EI and REINFORCE on frozen embeddings,
  registered with :mod:`lib.search` as ``arch2vec_bo`` and ``arch2vec_rl``
  (imported on demand so this package works without the harness).
"""

from lib.arch2vec.config import PAPER_TABLE1, Arch2VecConfig, default_config
from lib.arch2vec.model import Arch2Vec, kl_divergence, reconstruction_loss, vae_loss
from lib.arch2vec.train import Pretrained, config_for_space, embed, pick_device, pretrain, space_tensors

__all__ = [
    "Arch2Vec",
    "Arch2VecConfig",
    "PAPER_TABLE1",
    "Pretrained",
    "config_for_space",
    "default_config",
    "embed",
    "kl_divergence",
    "pick_device",
    "pretrain",
    "reconstruction_loss",
    "space_tensors",
    "vae_loss",
]
