"""The arch2vec variational graph autoencoder: the :mod:`lib.latent` layer with arch2vec's settings.

A 4-layer GIN encoder (:class:`~lib.latent.encoders.GraphEncoder`) over
``A + triu(A,1)ᵀ``, a linear + sigmoid operation read-out and an
inner-product edge decoder after dropout on ``z``
(:class:`~lib.latent.decoders.GraphDecoder`), trained with
:func:`~lib.latent.vae.vae_loss` (BCE of operations and edges plus the KL
term in the authors' normalisation). The GCN variant (Kipf & Welling's
(V)GAE) is the Table-1 ablation.

:func:`lib.arch2vec.metrics.decode_cells` reads a row whose operation
probabilities are all below 0.5 as padding.
"""

from __future__ import annotations

from lib.arch2vec.config import Arch2VecConfig
from lib.latent.decoders import GraphDecoder
from lib.latent.encoders import GCNLayer, GINLayer, GraphEncoder, symmetrize
from lib.latent.vae import GraphVAE, kl_divergence, reconstruction_loss, vae_loss

__all__ = ["Arch2Vec", "GCNLayer", "GINLayer", "encoder_of", "kl_divergence", "reconstruction_loss", "symmetrize",
           "vae_loss"]  # fmt: skip


def encoder_of(vocabulary_size: int, config: Arch2VecConfig) -> GraphEncoder:
    """The graph encoder a configuration describes."""
    return GraphEncoder(vocabulary_size, config.hidden_dim, config.latent_dim, config.num_layers, config.encoder)


class Arch2Vec(GraphVAE):
    """Variational graph autoencoder of arch2vec (or its GAE/GCN ablations, see :class:`Arch2VecConfig`).

    Args:
        vocabulary_size: Number of node labels (input, operations, output).
        config: Model and training settings.
    """

    def __init__(self, vocabulary_size: int, config: Arch2VecConfig):
        super().__init__(encoder_of(vocabulary_size, config),
                         GraphDecoder(config.latent_dim, vocabulary_size, config.dropout),
                         variational=config.variational, ops_weight=config.ops_weight,
                         adj_weight=config.adj_weight)  # fmt: skip
        self.config = config
