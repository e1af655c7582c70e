"""CR-LSO (Rao et al., arXiv 2211.05950): a graph VAE whose latent space an input convex neural network regularises.

* :mod:`~lib.crlso.config` — the authors' per-space settings (:class:`CRLSOConfig`);
* :mod:`~lib.crlso.model` — the joint model (G-VAE + ICNN head), its losses, the
  cached unsupervised warm start and the per-seed semi-supervised training;
* :mod:`~lib.crlso.search` — the search method registered as ``crlso``.
"""
