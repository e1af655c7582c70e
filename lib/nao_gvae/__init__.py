"""NAO with a graph VAE (Li, Liu, Liu, Wang, arXiv 2006.10310) on the shared latent layer: ``nao_gvae``.

The model is :class:`lib.latent.dag_gru.JointDAGVAE`; :mod:`lib.nao_gvae.config`
holds the per-space settings, :mod:`lib.nao_gvae.train` the cached unsupervised
warm start and the semi-supervised fine-tuning (jointly, heads only, or of
arch2vec's GIN VAE), :mod:`lib.nao_gvae.backbones` the latent models a search
can move in (the ablations ``joint=False`` and ``backbone="arch2vec"``),
:mod:`lib.nao_gvae.search` the registered search method.
"""
